"""SMPP over TLS: notify binds to an SMSC that speaks TLS when its certificate is trusted, and refuses
one whose certificate it cannot verify (a plain-text bind never reaches it either)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.notify.adapters.providers.smpp import SmppProvider

BIND_TRANSCEIVER, UNBIND, ENQUIRE_LINK = 0x00000009, 0x00000006, 0x00000015
RESPONSE = 0x80000000


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def certificates(where: Path, label: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for localhost: (ca.crt, server.crt, server.key)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} CA"))
        .issuer_name(_name(f"{label} CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = where / f"{label}-ca.crt", where / f"{label}-server.crt", where / f"{label}-server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class TlsSmsc:
    """An SMSC that speaks SMPP only over TLS: it answers binds, enquire_link and unbind."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.binds: list[str] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> TlsSmsc:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            while True:
                length, command, _, sequence = struct.unpack(">IIII", await reader.readexactly(16))
                body = await reader.readexactly(length - 16)
                if command == BIND_TRANSCEIVER:
                    self.binds.append(body.split(b"\0", 1)[0].decode())
                    answer = b"smsc\0"
                elif command in (ENQUIRE_LINK, UNBIND):
                    answer = b""
                else:
                    continue
                writer.write(struct.pack(">IIII", 16 + len(answer), command | RESPONSE, 0, sequence) + answer)
                await writer.drain()
                if command == UNBIND:
                    break
        writer.close()


async def _nothing(*_: Any) -> None:
    return None


@pytest.fixture
async def smsc(tmp_path: Path) -> AsyncIterator[tuple[TlsSmsc, Path, Path]]:
    ca, cert, key = certificates(tmp_path, "gateway")
    other_ca, _, _ = certificates(tmp_path, "stranger")
    async with TlsSmsc(cert, key) as server:
        yield server, ca, other_ca


async def bound_within(provider: SmppProvider, seconds: float) -> bool:
    await provider.start(_nothing, _nothing)
    try:
        for _ in range(int(seconds / 0.05)):
            if await provider.ready():
                return True
            await asyncio.sleep(0.05)
        return False
    finally:
        await provider.stop()


async def test_notify_binds_over_tls_to_a_gateway_whose_certificate_it_trusts(
    smsc: tuple[TlsSmsc, Path, Path],
) -> None:
    server, ca, _ = smsc
    provider = SmppProvider("localhost", server.port, "samad", "pw", tls=True, tls_ca_file=str(ca))
    assert await bound_within(provider, 5.0)
    assert server.binds == ["samad"]


async def test_a_gateway_certificate_from_another_ca_or_a_plain_bind_never_binds(
    smsc: tuple[TlsSmsc, Path, Path],
) -> None:
    server, _, other_ca = smsc
    stranger = SmppProvider(
        "localhost", server.port, "samad", "pw", tls=True, tls_ca_file=str(other_ca), response_timeout=1.0
    )
    assert not await bound_within(stranger, 1.0)
    plain = SmppProvider("localhost", server.port, "samad", "pw", response_timeout=1.0)
    assert not await bound_within(plain, 1.0)
    assert server.binds == []


def test_a_missing_ca_file_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SmppProvider("localhost", 2775, "samad", "pw", tls=True, tls_ca_file=str(tmp_path / "none.crt"))
