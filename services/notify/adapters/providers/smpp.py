"""SMPP 3.4 through aiosmpplib: a transceiver bind, UCS-2 parts, delivery receipts, inbound SMS.

Each part of a long message is its own submit_sm carrying a concatenation UDH (IEI 0x00), so the
SMSC's answer to every part is known: a throttled part is retried alone and a part the SMSC
already accepted is never submitted again. Receipts (deliver_sm with esm_class 0x04) are handed to
the service before the deliver_sm_resp goes back, so a receipt is acknowledged only after it is
recorded; the SMSC repeats an unacknowledged one. enquire_link keeps the link alive; aiosmpplib
reconnects with exponential back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiosmpplib import (
    ESME,
    NPI,
    TON,
    AbstractHook,
    DeliverSm,
    PhoneNumber,
    SmppCommand,
    SmppCommandStatus,
    SmppMessage,
    SmppSessionState,
    SubmitSm,
    SubmitSmResp,
)
from aiosmpplib.retrytimer import SimpleExponentialBackoff

from services.notify.adapters.providers.base import (
    DeliveryReport,
    InboundHandler,
    InboundSms,
    Lookup,
    LookupOutcome,
    OutgoingSms,
    ReportHandler,
    ReportStatus,
    SendError,
    Submitted,
)
from services.notify.domain.policy import ErrorKind
from services.notify.domain.segments import Encoding, split

log = logging.getLogger("samad.notify.smpp")

TRANSIENT_STATUSES = frozenset(
    {
        SmppCommandStatus.ESME_RTHROTTLED,
        SmppCommandStatus.ESME_RMSGQFUL,
        SmppCommandStatus.ESME_RSYSERR,
        SmppCommandStatus.ESME_RX_T_APPN,
    }
)
DELIVERED = {"DELIVRD"}
FAILED = {"UNDELIV", "REJECTD", "EXPIRED", "DELETED", "UNKNOWN"}


@dataclass
class PartSubmitSm(SubmitSm):  # type: ignore[misc]
    """One part of a concatenated UCS-2 message, with its UDH already in front of the text."""

    udh: bytes = b""

    def pdu(self) -> bytes:
        self.encoding = "ucs2"
        if self.udh:
            self.esm_class |= 0b01000000  # UDHI
        self.set_encoded_message(self.udh + self.short_message.encode("utf-16-be"))
        encoded: bytes = super().pdu()
        return encoded


@dataclass
class _Pending:
    future: asyncio.Future[tuple[SmppCommandStatus, str]]
    log_id: str


@dataclass
class _Accepted:
    ids: dict[int, str] = field(default_factory=dict)


def e164_to_smpp(phone: str) -> PhoneNumber:
    return PhoneNumber(phone.lstrip("+"), TON.INTERNATIONAL, NPI.ISDN)


def smpp_to_e164(number: str) -> str:
    digits = number.lstrip("+")
    if digits.startswith("0") and len(digits) == 11:
        digits = "98" + digits[1:]
    return "+" + digits


class _Hook(AbstractHook):  # type: ignore[misc]
    def __init__(self, provider: SmppProvider) -> None:
        self.provider = provider

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm) and smpp_message.log_id:
            self.provider._by_sequence[smpp_message.sequence_num] = smpp_message.log_id

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        await self.provider._on_pdu(pdu)

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm) and smpp_message.log_id:
            self.provider._fail(smpp_message.log_id, error)


class SmppProvider:
    name = "smpp"
    # lookup() cannot answer (see there): the reconciler does not poll submitted records; the SMSC
    # repeats a receipt until its deliver_sm_resp, which goes back only once the receipt is recorded.
    status_lookup = False

    def __init__(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str,
        *,
        source: str = "111",
        system_type: str = "",
        enquire_link_interval: float = 30.0,
        response_timeout: float = 10.0,
        bind_timeout: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.source = PhoneNumber(source, TON.UNKNOWN, NPI.UNKNOWN)
        self.enquire_link_interval = enquire_link_interval
        self.response_timeout = response_timeout
        self.bind_timeout = bind_timeout
        self._esme: ESME | None = None
        self._task: asyncio.Task[None] | None = None
        self._on_report: ReportHandler | None = None
        self._on_inbound: InboundHandler | None = None
        self._by_sequence: dict[int, str] = {}
        self._pending: dict[str, _Pending] = {}
        self._accepted: dict[str, _Accepted] = {}
        self._ref = 0

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, on_report: ReportHandler, on_inbound: InboundHandler) -> None:
        self._on_report, self._on_inbound = on_report, on_inbound
        self._esme = ESME(
            smsc_host=self.host,
            smsc_port=self.port,
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            enquire_link_interval=float(self.enquire_link_interval),
            socket_timeout=float(self.response_timeout),
            hook=_Hook(self),
            retry_timer=SimpleExponentialBackoff(min_delay=250, max_increases=5),
            log_level="WARNING",
        )
        self._task = asyncio.create_task(self._esme.start(), name="smpp-esme")

    async def stop(self) -> None:
        if self._esme is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._esme.stop(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(ConnectionError("provider stopped"))

    async def ready(self) -> bool:
        return self._esme is not None and self._esme.session_state == SmppSessionState.BOUND_TRX

    async def _wait_bound(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.bind_timeout
        while not await self.ready():
            if loop.time() > deadline:
                raise SendError(ErrorKind.transient, "not_bound", "no bound SMPP session to the SMSC")
            await asyncio.sleep(0.05)

    # --- sending --------------------------------------------------------------------------------

    async def send(self, sms: OutgoingSms) -> Submitted:
        assert self._esme is not None, "start() first"
        parts = split(sms.text, Encoding.ucs2)
        accepted = self._accepted.setdefault(sms.sms_id, _Accepted())
        self._ref = (self._ref + 1) % 256
        ref = sms.local_id % 256
        for index, text in enumerate(parts, start=1):
            if index in accepted.ids:
                continue  # the SMSC has this part already: never submit it twice
            await self._wait_bound()
            udh = bytes([0x05, 0x00, 0x03, ref, len(parts), index]) if len(parts) > 1 else b""
            log_id = f"{sms.sms_id}:{index}"
            message = PartSubmitSm(
                short_message=text,
                source=self.source,
                destination=e164_to_smpp(sms.recipient),
                registered_delivery=0b00000001,
                log_id=log_id,
                udh=udh,
            )
            future: asyncio.Future[tuple[SmppCommandStatus, str]] = asyncio.get_running_loop().create_future()
            self._pending[log_id] = _Pending(future, log_id)
            try:
                await self._esme.broker.enqueue(message)
                try:
                    status, message_id = await asyncio.wait_for(future, self.response_timeout)
                except TimeoutError as exc:
                    raise SendError(
                        ErrorKind.unknown, "timeout", f"no submit_sm_resp for part {index} in time"
                    ) from exc
                except (ConnectionError, OSError) as exc:
                    raise SendError(ErrorKind.unknown, "connection_lost", str(exc)) from exc
            finally:
                self._pending.pop(log_id, None)
            if status == SmppCommandStatus.ESME_ROK:
                accepted.ids[index] = message_id
                continue
            kind = ErrorKind.transient if status in TRANSIENT_STATUSES else ErrorKind.permanent
            raise SendError(kind, status.name, f"SMSC answered {status.name} for part {index}/{len(parts)}")
        ids = tuple(accepted.ids[i] for i in sorted(accepted.ids))
        self._accepted.pop(sms.sms_id, None)
        return Submitted(ids)

    def _fail(self, log_id: str, error: Exception) -> None:
        pending = self._pending.get(log_id)
        if pending and not pending.future.done():
            pending.future.set_exception(
                ConnectionError(str(error)) if not isinstance(error, TimeoutError) else error
            )

    async def lookup(self, sms: OutgoingSms, message_ids: tuple[str, ...]) -> Lookup:
        # SMPP has query_sm, but SMSCs rarely answer it for concatenated messages and aiosmpplib does
        # not send it: the delivery receipt is the source of truth.
        return Lookup(LookupOutcome.unknowable)

    # --- receiving ------------------------------------------------------------------------------

    async def _on_pdu(self, pdu: bytes) -> None:
        header = SmppMessage.parse_header(pdu)
        if header.smpp_command in (SmppCommand.SUBMIT_SM_RESP, SmppCommand.GENERIC_NACK):
            log_id = self._by_sequence.pop(header.sequence_num, None)
            pending = self._pending.get(log_id) if log_id else None
            if pending is None or pending.future.done():
                return
            message_id = ""
            if header.smpp_command == SmppCommand.SUBMIT_SM_RESP and header.pdu_length > 16:
                resp = SubmitSmResp.from_pdu(pdu, header)
                assert isinstance(resp, SubmitSmResp)
                message_id = resp.message_id
            status = header.command_status
            if header.smpp_command == SmppCommand.GENERIC_NACK and status == SmppCommandStatus.ESME_ROK:
                status = SmppCommandStatus.ESME_RSYSERR
            pending.future.set_result((status, message_id))
        elif header.smpp_command == SmppCommand.DELIVER_SM:
            message = DeliverSm.from_pdu(pdu, header, "gsm0338")
            assert isinstance(message, DeliverSm)
            await self._on_deliver(message)

    async def _on_deliver(self, message: DeliverSm) -> None:
        now = datetime.now(UTC)
        if message.is_receipt():
            receipt = message.parse_receipt()
            message_id = str(receipt.get("id") or "")
            stat = str(receipt.get("stat") or "").upper()
            if not message_id or (stat not in DELIVERED and stat not in FAILED):
                return  # an intermediate state (ENROUTE, ACCEPTD): wait for the final receipt
            status = ReportStatus.delivered if stat in DELIVERED else ReportStatus.failed
            report = DeliveryReport(
                provider=self.name,
                message_id=message_id,
                status=status,
                error="" if status is ReportStatus.delivered else f"{stat} err:{receipt.get('err', '')}",
                at=now,
                recipient=smpp_to_e164(message.source.number),
                text_prefix=str(receipt.get("text") or "") or None,
            )
            if self._on_report is not None:
                await self._on_report(report)
            return
        text = message.short_message or message.message_payload
        if self._on_inbound is not None:
            await self._on_inbound(InboundSms(self.name, smpp_to_e164(message.source.number), text, now))
