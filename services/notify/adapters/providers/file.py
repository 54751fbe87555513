"""The local provider: SMS are lines in a JSON Lines file; inbound SMS are lines in another one.

The outbox is the "gateway" here: a status lookup reads it, so an SMS whose ledger update was lost
in a crash is found again instead of being written twice. Inbound lines (``{"from": "+98...",
"text": "لغو"}``) appended to the inbox file reach the service like SMS from a citizen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from services.notify.adapters.providers.base import (
    InboundHandler,
    InboundSms,
    Lookup,
    LookupOutcome,
    OutgoingSms,
    PartHandler,
    ReportHandler,
    ReportStatus,
    Submitted,
)

log = logging.getLogger("samad.notify.file")


class InboxCursor(Protocol):
    """Where the inbox was read up to, kept outside the process so a restart does not re-read it."""

    async def get(self) -> int: ...

    async def set(self, offset: int) -> None: ...


class FileProvider:
    name = "file"
    status_lookup = True

    def __init__(
        self,
        outbox: Path,
        inbox: Path | None = None,
        *,
        auto_deliver: bool = True,
        poll_seconds: float = 0.5,
        inbox_offset_store: InboxCursor | None = None,
    ) -> None:
        self.outbox = outbox
        self.inbox = inbox
        self.auto_deliver = auto_deliver
        self.poll_seconds = poll_seconds
        self.cursor = inbox_offset_store
        self._lock = asyncio.Lock()
        self._on_report: ReportHandler | None = None
        self._on_inbound: InboundHandler | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, on_report: ReportHandler, on_inbound: InboundHandler) -> None:
        self._on_report, self._on_inbound = on_report, on_inbound
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        if self.inbox is not None:
            self._task = asyncio.create_task(self._watch_inbox(), name="file-inbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def ready(self) -> bool:
        return True

    def _message_id(self, sms: OutgoingSms) -> str:
        return f"file-{sms.local_id}"

    async def send(self, sms: OutgoingSms, on_part: PartHandler | None = None) -> Submitted:
        line = {
            "sms_id": sms.sms_id,
            "message_id": self._message_id(sms),
            "to": sms.recipient,
            "text": sms.text,
            "parts": sms.parts,
            "at": datetime.now(UTC).isoformat(),
        }
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
        async with self._lock:
            await asyncio.to_thread(self._append, data)
        return Submitted((self._message_id(sms),), delivered=self.auto_deliver)

    def _append(self, data: bytes) -> None:
        # One write() of one line in append mode, then fsync: a reader never sees half a line and
        # the line survives a crash right after.
        fd = os.open(self.outbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _find(self, sms_id: str) -> dict[str, object] | None:
        try:
            with self.outbox.open(encoding="utf-8") as fh:
                for raw in fh:
                    try:
                        row = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(row, dict) and row.get("sms_id") == sms_id:
                        return row
        except FileNotFoundError:
            return None
        return None

    async def lookup(self, sms: OutgoingSms, message_ids: tuple[str, ...]) -> Lookup:
        row = await asyncio.to_thread(self._find, sms.sms_id)
        if row is None:
            return Lookup(LookupOutcome.absent)
        status = ReportStatus.delivered if self.auto_deliver else None
        return Lookup(LookupOutcome.found, (str(row["message_id"]),), status)

    async def _watch_inbox(self) -> None:
        assert self.inbox is not None
        while True:
            try:
                await self._read_inbox()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the SMS inbox failed")
            await asyncio.sleep(self.poll_seconds)

    async def _read_inbox(self) -> None:
        assert self.inbox is not None and self._on_inbound is not None
        if not self.inbox.exists():
            return
        offset = await self.cursor.get() if self.cursor else 0
        size = self.inbox.stat().st_size
        if size < offset:  # the file was replaced: start again
            offset = 0
        if size == offset:
            return
        with self.inbox.open("rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
        consumed = chunk.rfind(b"\n") + 1  # only whole lines
        for raw in chunk[:consumed].splitlines():
            try:
                row = json.loads(raw)
                sender, text = str(row["from"]), str(row["text"])
            except (ValueError, KeyError, TypeError):
                log.warning("skipping an unreadable inbox line")
                continue
            await self._on_inbound(InboundSms(self.name, sender, text, datetime.now(UTC)))
        if self.cursor:
            await self.cursor.set(offset + consumed)
