"""SMPP 3.4 through aiosmpplib: a transceiver bind, UCS-2 parts, delivery receipts, inbound SMS.

Each part of a long message is its own submit_sm carrying a concatenation UDH (IEI 0x00, the
reference derived from the SMS's local id, so every attempt uses the same one), so the SMSC's answer
to every part is known: each accepted part is handed to the service (``on_part``) and recorded on the
ledger before the next part goes out; a throttled part is retried alone; a part whose session was lost
before its submit_sm_resp came was not accepted and is sent again, with the same reference and part
number; a part the SMSC accepted (the ledger says so) is never submitted again. A timeout on a live
session leaves the outcome unknown (the SMSC may have it): not resent.

Receipts (deliver_sm with esm_class 0x04) are handed to the service before the deliver_sm_resp goes
back, so a receipt is acknowledged only after it is recorded; the SMSC repeats an unacknowledged one.
A deliver_sm aiosmpplib cannot parse (a TON or NPI outside the ranges it knows, say) is read here
field by field, logged with its bytes and answered with a deliver_sm_resp — ESME_ROK when the receipt
in it was recorded, an error status naming the field otherwise — instead of the library's generic_nack;
the session stays up and the receipts behind it are not lost. enquire_link keeps the link alive;
aiosmpplib reconnects with exponential back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiosmpplib import (
    ESME,
    NPI,
    TON,
    AbstractHook,
    BindTransceiver,
    DeliverSm,
    DeliverSmResp,
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
    PartHandler,
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
    session: int | None = None  # the session the submit_sm went out on (None: not written yet)


@dataclass(frozen=True)
class RawDeliverSm:
    """The fields of a deliver_sm read without aiosmpplib's checks."""

    source_ton: int
    source_npi: int
    source: str
    dest_ton: int
    dest_npi: int
    esm_class: int
    data_coding: int
    short_message: bytes
    receipted_message_id: str | None

    @property
    def text(self) -> str:
        if self.data_coding == 8:  # UCS-2 (an SMSC quoting Persian text in the receipt)
            return self.short_message.decode("utf-16-be", errors="replace")
        return self.short_message.decode("latin-1")


def read_deliver_sm(pdu: bytes) -> RawDeliverSm:
    """Read a deliver_sm's body field by field (SMPP 3.4 §4.6.1); ValueError when it is cut short."""
    pos = 16

    def cstring() -> str:
        nonlocal pos
        end = pdu.index(b"\x00", pos)
        value = pdu[pos:end].decode("latin-1")
        pos = end + 1
        return value

    def byte() -> int:
        nonlocal pos
        if pos >= len(pdu):
            raise ValueError("deliver_sm cut short")
        pos += 1
        return pdu[pos - 1]

    cstring()  # service_type
    source_ton, source_npi, source = byte(), byte(), cstring()
    dest_ton, dest_npi = byte(), byte()
    cstring()  # destination_addr
    esm_class = byte()
    byte(), byte()  # protocol_id, priority_flag
    cstring(), cstring()  # schedule_delivery_time, validity_period
    byte(), byte()  # registered_delivery, replace_if_present
    data_coding = byte()
    byte()  # sm_default_msg_id
    length = byte()
    short_message = pdu[pos : pos + length]
    pos += length
    receipted: str | None = None
    while pos + 4 <= len(pdu):
        tag, size = struct.unpack("!HH", pdu[pos : pos + 4])
        value = pdu[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if tag == 0x001E:
            receipted = value.rstrip(b"\x00").decode("latin-1")
    return RawDeliverSm(
        source_ton, source_npi, source, dest_ton, dest_npi, esm_class, data_coding, short_message, receipted
    )


RECEIPT_FIELD = re.compile(r"(?:^|\s)(id|stat|err):(\S*)", re.IGNORECASE)


def receipt_fields(text: str) -> dict[str, str]:
    """``id``, ``stat`` and ``err`` of a receipt's text (SMPP 3.4 Appendix B); the ``text:`` part, empty
    or not, is not read: nothing is matched by it."""
    head = re.split(r"\btext:", text, maxsplit=1, flags=re.IGNORECASE)[0]
    return {k.lower(): v for k, v in RECEIPT_FIELD.findall(head)}


def is_receipt(esm_class: int) -> bool:
    return esm_class & 0b00111100 == 0b00000100


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
        if isinstance(smpp_message, BindTransceiver):
            self.provider._session += 1  # a new connection: answers to the last one's requests never come
        elif isinstance(smpp_message, SubmitSm) and smpp_message.log_id:
            self.provider._by_sequence[smpp_message.sequence_num] = smpp_message.log_id
            pending = self.provider._pending.get(smpp_message.log_id)
            if pending is not None:
                pending.session = self.provider._session

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        try:
            await self.provider._on_pdu(smpp_message, pdu)
        except Exception:
            # Never let the receive loop die on one PDU: the session and the PDUs behind it stay.
            log.exception("smpp: handling a PDU failed: %s", pdu.hex())

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm) and smpp_message.log_id:
            self.provider._fail(smpp_message.log_id, error)


class _Esme(ESME):  # type: ignore[misc]
    """aiosmpplib's ESME, with delivery receipts answered here: a deliver_sm_resp only once the receipt
    is recorded, and an answer the protocol allows for a deliver_sm the library cannot parse."""

    def __init__(self, provider: SmppProvider, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._provider = provider

    async def _handle_request(self, pdu: bytes, header: Any) -> SmppMessage | None:
        if header.smpp_command == SmppCommand.DELIVER_SM:
            try:
                message = DeliverSm.from_pdu(pdu, header, self.default_encoding, self.custom_codecs)
            except ValueError as exc:
                status = await self._provider._on_malformed(pdu, exc)
                await self._send_data(DeliverSmResp(header.sequence_num, command_status=status))
                return None
            if message.is_receipt():
                status = await self._provider._on_receipt_pdu(pdu)
                await self._send_data(DeliverSmResp(header.sequence_num, command_status=status))
                return None
        result: SmppMessage | None = await super()._handle_request(pdu, header)
        return result


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
        self._session = 0  # counts the binds: which connection a submit_sm went out on
        self.malformed = 0  # deliver_sm PDUs the library could not parse

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, on_report: ReportHandler, on_inbound: InboundHandler) -> None:
        self._on_report, self._on_inbound = on_report, on_inbound
        self._esme = _Esme(
            self,
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

    async def send(self, sms: OutgoingSms, on_part: PartHandler | None = None) -> Submitted:
        assert self._esme is not None, "start() first"
        parts = split(sms.text, Encoding.ucs2)
        ref = sms.local_id % 256  # the same for every attempt: the handset joins the parts by it
        accepted = dict(sms.accepted)
        for index, text in enumerate(parts, start=1):
            if index in accepted:
                continue  # the SMSC has this part already: never submit it twice
            await self._wait_bound()
            udh = bytes([0x05, 0x00, 0x03, ref, len(parts), index]) if len(parts) > 1 else b""
            status, message_id = await self._submit_part(sms, index, len(parts), text, udh)
            if status == SmppCommandStatus.ESME_ROK:
                accepted[index] = message_id
                if not message_id:
                    log.warning("sms %s: the SMSC accepted part %d without a message id", sms.sms_id, index)
                if on_part is not None:
                    await on_part(index, message_id)
                continue
            kind = ErrorKind.transient if status in TRANSIENT_STATUSES else ErrorKind.permanent
            raise SendError(kind, status.name, f"SMSC answered {status.name} for part {index}/{len(parts)}")
        ordered = tuple((i, accepted[i]) for i in sorted(accepted))
        return Submitted(tuple(i for _, i in ordered if i), parts=ordered)

    async def _submit_part(
        self, sms: OutgoingSms, index: int, total: int, text: str, udh: bytes
    ) -> tuple[SmppCommandStatus, str]:
        assert self._esme is not None
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
        pending = _Pending(future, log_id)
        self._pending[log_id] = pending
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.response_timeout
        try:
            await self._esme.broker.enqueue(message)
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(future), 0.05)
                except TimeoutError:
                    pass
                except (ConnectionError, OSError) as exc:
                    # The write failed: the part never reached the SMSC whole.
                    raise SendError(
                        ErrorKind.transient, "connection_lost", f"part {index}/{total} not sent: {exc}"
                    ) from exc
                if pending.session is not None and (
                    pending.session != self._session or not await self.ready()
                ):
                    # Written on a session that is gone: its answer can never come, so the SMSC did
                    # not accept it. Sent again with the same reference and part number.
                    raise SendError(
                        ErrorKind.transient,
                        "connection_lost",
                        f"session lost before the answer to part {index}/{total}: not accepted, sending it again",
                    )
                if loop.time() > deadline:
                    raise SendError(
                        ErrorKind.unknown, "timeout", f"no submit_sm_resp for part {index} in time"
                    )
        finally:
            self._pending.pop(log_id, None)
            if not future.done():
                future.cancel()

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

    async def _on_pdu(self, smpp_message: SmppMessage | None, pdu: bytes) -> None:
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
        elif isinstance(smpp_message, DeliverSm) and not smpp_message.is_receipt():
            await self._on_inbound_sm(smpp_message)
        # Receipts and deliver_sm the library could not parse were answered by _Esme already.

    async def _on_receipt_pdu(self, pdu: bytes) -> SmppCommandStatus:
        """A receipt: recorded before its deliver_sm_resp goes back (ESME_ROK), else the SMSC is told
        to try again later (ESME_RX_T_APPN) and repeats it."""
        raw = read_deliver_sm(pdu)
        try:
            await self._report(raw)
        except Exception:
            log.exception("smpp: recording receipt failed; the SMSC will repeat it: %s", pdu.hex())
            return SmppCommandStatus.ESME_RX_T_APPN
        return SmppCommandStatus.ESME_ROK

    async def _on_malformed(self, pdu: bytes, error: Exception) -> SmppCommandStatus:
        """A deliver_sm aiosmpplib refuses (a TON outside 0-6, say). Its receipt, when it carries one,
        is read and recorded here (the message id and status are all that matter); it is answered
        with a deliver_sm_resp, ESME_ROK once its receipt is recorded, otherwise an error status
        naming the field, so the session stays up."""
        self.malformed += 1
        log.warning("smpp: deliver_sm the library cannot parse (%s): %s", error, pdu.hex())
        try:
            raw = read_deliver_sm(pdu)
        except ValueError:
            return SmppCommandStatus.ESME_RINVCMDLEN
        if is_receipt(raw.esm_class):
            try:
                if await self._report(raw):
                    return SmppCommandStatus.ESME_ROK
            except Exception:
                log.exception("smpp: recording receipt failed; the SMSC will repeat it")
                return SmppCommandStatus.ESME_RX_T_APPN
        if raw.source_ton > 6:
            return SmppCommandStatus.ESME_RINVSRCTON
        if raw.dest_ton > 6:
            return SmppCommandStatus.ESME_RINVDSTTON
        return SmppCommandStatus.ESME_RX_R_APPN

    async def _report(self, raw: RawDeliverSm) -> bool:
        """Hand a receipt to the service; False when it is not a final one (nothing to record)."""
        fields = receipt_fields(raw.text)
        message_id = fields.get("id") or raw.receipted_message_id or ""
        stat = fields.get("stat", "").upper()
        if not message_id or (stat not in DELIVERED and stat not in FAILED):
            return stat in ("ENROUTE", "ACCEPTD")  # an intermediate state: wait for the final one
        status = ReportStatus.delivered if stat in DELIVERED else ReportStatus.failed
        report = DeliveryReport(
            provider=self.name,
            message_id=message_id,
            status=status,
            error="" if status is ReportStatus.delivered else f"{stat} err:{fields.get('err', '')}",
            at=datetime.now(UTC),
            recipient=smpp_to_e164(raw.source) if raw.source else None,
        )
        if self._on_report is not None:
            await self._on_report(report)
        return True

    async def _on_inbound_sm(self, message: DeliverSm) -> None:
        now = datetime.now(UTC)
        text = message.short_message or message.message_payload
        if self._on_inbound is not None:
            await self._on_inbound(InboundSms(self.name, smpp_to_e164(message.source.number), text, now))
