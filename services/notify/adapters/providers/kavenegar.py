"""The Kavenegar REST API: ``sms/send`` with a ``localid``, ``sms/status`` and ``sms/statuslocalmessageid``.

Requests are form-encoded POSTs to ``{base}/v1/{api_key}/sms/<method>.json``; answers are
``{"return": {"status": 200, "message": ...}, "entries": [...]}``, and an error answers with the
same shape and the error code both as HTTP status and as ``return.status``. The ``localid`` makes
the gateway refuse a second copy of the same message, and lets a lost outcome be looked up.

Message status codes: 1 queued, 2 scheduled, 4 and 5 handed to the operator, 6 failed, 10
delivered, 11 undelivered, 13 cancelled, 14 blocked by the recipient, 100 unknown id.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from services.notify.adapters.providers.base import (
    InboundHandler,
    Lookup,
    LookupOutcome,
    OutgoingSms,
    PartHandler,
    ReportHandler,
    ReportStatus,
    SendError,
    Submitted,
)
from services.notify.domain.policy import ErrorKind

log = logging.getLogger("samad.notify.kavenegar")

DELIVERED_CODES = frozenset({10})
FAILED_CODES = frozenset({6, 11, 13, 14})
UNKNOWN_ID = 100
# 409: the server cannot answer now; 418: not enough credit (an operator tops it up);
# 402: the operation failed on their side; 429/451: too many requests.
TRANSIENT_ERRORS = frozenset({402, 409, 418, 429, 451})


def local_phone(e164: str) -> str:
    """+989121234567 -> 09121234567, the form the gateway documents for receptors."""
    digits = e164.lstrip("+")
    return "0" + digits[2:] if digits.startswith("98") else digits


class KavenegarProvider:
    name = "kavenegar"
    status_lookup = True

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        sender: str = "",
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("SAMAD_SMS_KAVENEGAR_API_KEY is required for the kavenegar provider")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.sender = sender
        self.timeout = timeout
        self._client = client
        self._own_client = client is None

    async def start(self, on_report: ReportHandler, on_inbound: InboundHandler) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)

    async def stop(self) -> None:
        if self._client is not None and self._own_client:
            await self._client.aclose()

    async def ready(self) -> bool:
        return self._client is not None

    def _url(self, method: str) -> str:
        return f"{self.base_url}/v1/{self.api_key}/sms/{method}.json"

    async def _call(self, method: str, form: dict[str, str], *, sending: bool) -> list[dict[str, Any]]:
        assert self._client is not None, "start() first"
        try:
            response = await self._client.post(
                self._url(method), data=form, headers={"Accept": "application/json"}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never left: safe to try again.
            raise SendError(ErrorKind.transient, "connect", repr(exc)) from exc
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # The request may have reached the gateway.
            kind = ErrorKind.unknown if sending else ErrorKind.transient
            raise SendError(kind, "timeout", repr(exc)) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        ret = body.get("return") if isinstance(body, dict) else None
        code = int(ret.get("status", response.status_code)) if isinstance(ret, dict) else response.status_code
        message = str(ret.get("message", "")) if isinstance(ret, dict) else response.text[:200]
        if response.status_code >= 500 and ret is None:
            # A proxy or the gateway failed before answering in its own words.
            kind = ErrorKind.unknown if sending else ErrorKind.transient
            raise SendError(kind, str(response.status_code), message)
        if code != 200:
            kind = ErrorKind.transient if code in TRANSIENT_ERRORS or code >= 500 else ErrorKind.permanent
            raise SendError(kind, str(code), message)
        entries = body.get("entries") if isinstance(body, dict) else None
        return [e for e in entries or [] if isinstance(e, dict)]

    async def send(self, sms: OutgoingSms, on_part: PartHandler | None = None) -> Submitted:
        form = {
            "receptor": local_phone(sms.recipient),
            "message": sms.text,
            "localid": str(sms.local_id),
        }
        if self.sender:
            form["sender"] = self.sender
        entries = await self._call("send", form, sending=True)
        if not entries:
            raise SendError(ErrorKind.unknown, "no_entries", "the gateway accepted but returned no entry")
        entry = entries[0]
        status = int(entry.get("status", 0))
        if status in FAILED_CODES:
            raise SendError(ErrorKind.permanent, f"status_{status}", str(entry.get("statustext", "")))
        return Submitted((str(entry["messageid"]),), delivered=status in DELIVERED_CODES)

    async def lookup(self, sms: OutgoingSms, message_ids: tuple[str, ...]) -> Lookup:
        if message_ids:
            entries = await self._call("status", {"messageid": ",".join(message_ids)}, sending=False)
        else:
            entries = await self._call("statuslocalmessageid", {"localid": str(sms.local_id)}, sending=False)
        entry = entries[0] if entries else None
        if entry is None:
            return Lookup(LookupOutcome.absent)
        status = int(entry.get("status", UNKNOWN_ID))
        message_id = str(entry.get("messageid", "") or "")
        if status == UNKNOWN_ID or message_id in ("", "0"):
            return Lookup(LookupOutcome.absent)
        text = str(entry.get("statustext", ""))
        if status in DELIVERED_CODES:
            return Lookup(LookupOutcome.found, (message_id,), ReportStatus.delivered, text)
        if status in FAILED_CODES:
            return Lookup(LookupOutcome.found, (message_id,), ReportStatus.failed, f"{status}: {text}")
        return Lookup(LookupOutcome.found, (message_id,), None, text)
