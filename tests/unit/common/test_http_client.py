"""The services' HTTP client (httpx) does not search the import path on every request."""

from __future__ import annotations

import asyncio
import importlib.machinery
from typing import Any

import httpx
import pytest


async def test_requests_do_not_look_for_a_module_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore asks for sniffio at each request to learn which event loop runs; when it is not
    installed, the failed import is not remembered and the import path is searched again every time
    (measured: a tenth of the console's CPU under load)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    searched: list[str] = []
    find_spec = importlib.machinery.PathFinder.find_spec

    def spy(fullname: str, path: Any = None, target: Any = None) -> Any:
        searched.append(fullname)
        return find_spec(fullname, path, target)

    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 200  # first use: imports may happen once
            monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", spy)
            for _ in range(5):
                assert (await client.get(url)).status_code == 200
    finally:
        server.close()
        await server.wait_closed()
    assert searched == [], f"modules searched for on every request: {sorted(set(searched))}"
