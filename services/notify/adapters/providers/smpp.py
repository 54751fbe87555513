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
the session stays up and the receipts behind it are not lost.

The provider keeps the session itself instead of aiosmpplib's ``ESME.start()``: each session is a
fresh ESME (its own queue, sequence numbers and correlations), bound, served until its connection
ends, and replaced after a back-off, whatever ended it. aiosmpplib's loop treats only some exception
types as a lost connection; on uvloop (what uvicorn runs the services on) a write to a connection
that is gone raises ``RuntimeError``, which escaped that loop and ended it for good: two sessions
lost in quick succession left notify unbound until it restarted. Here a write to a closed connection
is a lost connection, and nothing a session raises ends the loop. When a session ends, the PDUs the
SMSC sent before its connection closed are still read: an answer among them settles its part, and
only a part whose session is over without an answer is sent again. enquire_link keeps an idle link
alive; no traffic at all within the response timeout after one ends the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
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
    EnquireLink,
    PhoneNumber,
    SmppCommand,
    SmppCommandStatus,
    SmppError,
    SmppMessage,
    SmppSessionState,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from aiosmpplib.correlator import SimpleCorrelator
from aiosmpplib.protocol import MESSAGE_TYPE_MAP
from aiosmpplib.state import COMMAND_RESPONSE_MAP

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
# Between sessions: the first attempt after a session that lasted comes at once (well, after
# RECONNECT_MIN_SECONDS), each failed or short-lived one doubles the wait up to RECONNECT_MAX_SECONDS.
RECONNECT_MIN_SECONDS = 0.25
RECONNECT_MAX_SECONDS = 8.0
STABLE_SESSION_SECONDS = 1.0
READ_LIMIT = 2**16 + 1024  # a message_payload holds up to 64 KiB (aiosmpplib's buffer limit)


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


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A client context that verifies the SMSC's certificate and name, TLS 1.2 at least."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass
class _Pending:
    future: asyncio.Future[tuple[SmppCommandStatus, str]]
    session: _Session  # the session whose queue the submit_sm went into


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


class _Reader(asyncio.StreamReader):
    """A StreamReader that keeps what it received when its connection fails. asyncio's raises the
    error at the next read and drops the bytes still buffered: a deliver_sm_resp written to an SMSC
    that has just closed the connection (a broken pipe) would lose the submit_sm_resp behind the
    receipt, and the part it accepted would be sent again. Here the bytes are read, then the end."""

    lost_with: BaseException | None = None

    def set_exception(self, exc: BaseException) -> None:
        self.lost_with = exc
        self.feed_eof()


class _Hook(AbstractHook):  # type: ignore[misc]
    def __init__(self, provider: SmppProvider, session: _Session) -> None:
        self.provider = provider
        self.session = session

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm) and smpp_message.log_id:
            self.session.by_sequence[smpp_message.sequence_num] = smpp_message.log_id

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        try:
            await self.provider._on_pdu(self.session, smpp_message, pdu)
        except Exception:
            # Never let the receive loop die on one PDU: the session and the PDUs behind it stay.
            log.exception("smpp: handling a PDU failed: %s", pdu.hex())

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        # Only a PDU that could not be built (ValueError) is known not to have gone out. A failed write
        # or drain may come after the bytes left (the connection dropped meanwhile), and the SMSC's
        # answer may be among what is still to be read: the end of the session decides. A TimeoutError
        # is aiosmpplib's correlator giving up on an answer; the provider's own timeout decides that.
        if isinstance(smpp_message, SubmitSm) and smpp_message.log_id and isinstance(error, ValueError):
            self.provider._fail(smpp_message.log_id, error)


class _Session(ESME):  # type: ignore[misc]
    """One SMPP session: aiosmpplib's ESME, bound once and served until its connection ends (``serve``).
    Delivery receipts are answered here: a deliver_sm_resp only once the receipt is recorded, and an
    answer the protocol allows for a deliver_sm the library cannot parse."""

    def __init__(self, provider: SmppProvider, *, drain_seconds: float, **kwargs: Any) -> None:
        super().__init__(
            hook=_Hook(provider, self),
            # Receipts are matched by the service, not by aiosmpplib: it need not keep every part it
            # sent for three days (its default) to correlate them.
            correlator=SimpleCorrelator(kwargs["system_id"], max_ttl_delivery=1.0),
            **kwargs,
        )
        self._provider = provider
        self.drain_seconds = drain_seconds
        self.by_sequence: dict[int, str] = {}  # submit_sm sequence number -> the part's log id
        self.bound_at: float | None = None
        self._awaiting_pdu = False  # the receiver waits for bytes (has handled all it received)
        self.ended = asyncio.Event()  # set once nothing more can come from this session

    @property
    def bound(self) -> bool:
        return self._session_state == SmppSessionState.BOUND_TRX and not self.ended.is_set()

    async def serve(self) -> str:
        """Connect, bind and serve until the connection ends; why it ended. A failed connect or bind
        raises. Leaves no connection open and no task running."""
        tasks: set[asyncio.Task[Any]] = set()
        try:
            await self.connect()
            self.bound_at = asyncio.get_running_loop().time()
            self._bound.set()  # aiosmpplib's writers wait for it
            receiver = asyncio.create_task(self._receive_until_closed(), name="smpp-receiver")
            tasks = {
                receiver,
                asyncio.create_task(self._dequeue_messages(), name="smpp-sender"),
                asyncio.create_task(self._keep_alive(), name="smpp-keep-alive"),
            }
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            why = "; ".join(sorted(_ending(t) for t in done))
            if isinstance(self._reader, _Reader) and self._reader.lost_with is not None:
                why += f"; the connection failed: {self._reader.lost_with!r}"
            # Nothing new goes out on this session. What the SMSC sent before the connection closed
            # is still read: an answer in it settles its part, which then is not sent again.
            self._session_state = SmppSessionState.CLOSED
            await self._drain(receiver)
            return why
        finally:
            self._session_state = SmppSessionState.CLOSED
            if self._writer is not None:
                self._writer.transport.abort()
            for task in tasks:
                # First: a cancelled serve() (the provider stopping) leaves at the wait below, and a
                # task that ended with an error must not then be reported as never retrieved.
                task.add_done_callback(_retrieve)
                task.cancel()
            try:
                if tasks:
                    await asyncio.wait(tasks, timeout=5)
            finally:
                self.ended.set()

    async def connect(self) -> None:
        """Open the connection and bind as a transceiver: aiosmpplib's ``connect``, reading through a
        ``_Reader``."""
        loop = asyncio.get_running_loop()
        reader = _Reader(limit=READ_LIMIT)
        protocol = asyncio.StreamReaderProtocol(reader)
        tls = self._provider.tls
        transport, _ = await asyncio.wait_for(
            loop.create_connection(
                lambda: protocol,
                self.smsc_host,
                self.smsc_port,
                ssl=tls,
                server_hostname=(self._provider.tls_server_name or self.smsc_host) if tls else None,
            ),
            self.socket_timeout,
        )
        self._reader, self._writer = reader, asyncio.StreamWriter(transport, protocol, reader, loop)
        self._session_state = SmppSessionState.OPEN
        bind = BindTransceiver(
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            interface_version=self.interface_version,
            addr_ton=self.addr_ton,
            addr_npi=self.addr_npi,
            address_range=self.address_range,
        )
        await self._socket_operation(self._send_data(bind))
        _, header = await self._socket_operation(self._get_pdu())
        if header.smpp_command != SmppCommand.BIND_TRANSCEIVER_RESP or header.command_status not in (
            SmppCommandStatus.ESME_ROK,
            SmppCommandStatus.ESME_RALYBND,
        ):
            raise SmppError(header.smpp_command, header.command_status)
        self._session_state = SmppSessionState.BOUND_TRX

    async def _drain(self, receiver: asyncio.Task[None]) -> None:
        """Wait for the receiver to read and handle what is left: it ends at the end of the stream,
        which a lost connection has marked already. Only a receiver kept waiting for bytes that do not
        come (the link died without closing) is given up on, after ``drain_seconds``."""
        loop = asyncio.get_running_loop()
        idle_since: float | None = None
        while not receiver.done():
            await asyncio.wait({receiver}, timeout=0.1)
            if not self._awaiting_pdu:
                idle_since = None
            elif idle_since is None:
                idle_since = loop.time()
            elif loop.time() - idle_since > self.drain_seconds:
                return

    async def unbind(self) -> None:
        """Unbind and wait (a moment) for the SMSC to close the session."""
        with contextlib.suppress(ConnectionError, OSError):
            await self._send_data(Unbind())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ended.wait(), 2)

    async def _send_data(self, smpp_message: SmppMessage) -> None:
        try:
            await super()._send_data(smpp_message)
        except RuntimeError as exc:
            # uvloop refuses a write to a transport that is closed with RuntimeError ("the handler is
            # closed"); asyncio's loop ignores it. Either way the connection is gone.
            if self._writer is not None and self._writer.transport.is_closing():
                raise ConnectionResetError(f"connection closed: {exc}") from exc
            raise

    async def _respond(self, response: SmppMessage) -> None:
        """Answer a request of the SMSC; when the connection is going, the SMSC repeats what it was
        not answered, on the next session."""
        try:
            await self._send_data(response)
        except (ConnectionError, OSError) as exc:
            log.info("smpp: %s not sent, the connection is going: %s", response.smpp_command.name, exc)

    async def _receive_until_closed(self) -> None:
        """Read and handle every PDU until the connection ends (aiosmpplib's receive loop stops at
        the first sign of a lost session and leaves the answers already received unread)."""
        while True:
            self._awaiting_pdu = True
            try:
                pdu, header = await self._get_pdu()
            finally:
                self._awaiting_pdu = False
            self._data_received.set()
            is_request = header.smpp_command in COMMAND_RESPONSE_MAP
            handler = self._handle_request if is_request else self._handle_response
            message = await handler(pdu, header)
            await self.hook.received(message, pdu, self.client_id)
            if is_request and message is not None:
                await self._respond(
                    MESSAGE_TYPE_MAP[COMMAND_RESPONSE_MAP[header.smpp_command]](header.sequence_num)
                )
            if header.smpp_command == SmppCommand.UNBIND:
                return

    async def _keep_alive(self) -> None:
        """An enquire_link when the link has been quiet for ``enquire_link_interval``; no traffic at
        all within ``socket_timeout`` after it ends the session."""
        while True:
            self._data_received.clear()
            try:
                await asyncio.wait_for(self._data_received.wait(), self.enquire_link_interval)
                continue
            except TimeoutError:
                pass
            await self._send_data(EnquireLink())
            try:
                await asyncio.wait_for(self._data_received.wait(), self.socket_timeout)
            except TimeoutError:
                raise TimeoutError(f"no answer to enquire_link within {self.socket_timeout:g}s") from None

    async def _handle_request(self, pdu: bytes, header: Any) -> SmppMessage | None:
        if header.smpp_command == SmppCommand.DELIVER_SM:
            try:
                message = DeliverSm.from_pdu(pdu, header, self.default_encoding, self.custom_codecs)
            except ValueError as exc:
                status = await self._provider._on_malformed(pdu, exc)
                await self._respond(DeliverSmResp(header.sequence_num, command_status=status))
                return None
            if message.is_receipt():
                status = await self._provider._on_receipt_pdu(pdu)
                await self._respond(DeliverSmResp(header.sequence_num, command_status=status))
                return None
        result: SmppMessage | None = await super()._handle_request(pdu, header)
        return result


def _ending(task: asyncio.Task[Any]) -> str:
    name = task.get_name().removeprefix("smpp-")
    if task.cancelled():
        return f"{name}: cancelled"
    exc = task.exception()
    if exc is None:
        return f"{name}: ended"
    if isinstance(exc, asyncio.IncompleteReadError):
        return f"{name}: connection closed by the SMSC"
    return f"{name}: {exc!r}"


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a finished session task's outcome as seen (its session already said why it ended)."""
    if not task.cancelled():
        task.exception()


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
        tls: bool = False,
        tls_ca_file: str | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        # SMPP over TLS where the gateway offers it: the standard library's client context (certificate
        # and host name verified), trusting ``tls_ca_file`` (else the system's CAs). A missing or
        # unreadable CA file raises here, at start, not at the first SMS.
        self.tls = tls_context(tls_ca_file) if tls else None
        self.tls_server_name = tls_server_name
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.source = PhoneNumber(source, TON.UNKNOWN, NPI.UNKNOWN)
        self.enquire_link_interval = enquire_link_interval
        self.response_timeout = response_timeout
        self.bind_timeout = bind_timeout
        self._session: _Session | None = None  # the current session (bound or not yet)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._on_report: ReportHandler | None = None
        self._on_inbound: InboundHandler | None = None
        self._pending: dict[str, _Pending] = {}
        self._attempts = 0  # numbers each submit_sm: a log id is never reused
        self.malformed = 0  # deliver_sm PDUs the library could not parse

    # --- lifecycle ------------------------------------------------------------------------------

    def _new_session(self) -> _Session:
        return _Session(
            self,
            drain_seconds=min(self.response_timeout, 5.0),
            smsc_host=self.host,
            smsc_port=self.port,
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            enquire_link_interval=float(self.enquire_link_interval),
            socket_timeout=float(self.response_timeout),
            # Its logger cannot print most of its messages (bytes are not JSON) and would put a
            # traceback in the log for every write a lost connection refused. How each session ended,
            # a deliver_sm it cannot parse and an answer notify cannot read are logged here.
            log_level="CRITICAL",
        )

    async def start(self, on_report: ReportHandler, on_inbound: InboundHandler) -> None:
        self._on_report, self._on_inbound = on_report, on_inbound
        self._stopping = False
        first = self._new_session()  # bad settings (a system_id over 15 characters, say) raise here
        self._task = asyncio.create_task(self._keep_session(first), name="smpp-sessions")
        self._task.add_done_callback(self._loop_ended)

    async def _keep_session(self, session: _Session) -> None:
        """Bind a session and serve it; when it ends, however it ends, bind a new one after a back-off."""
        loop = asyncio.get_running_loop()
        delay = RECONNECT_MIN_SECONDS
        while not self._stopping:
            self._session = session
            try:
                why = await session.serve()
                if not self._stopping:
                    log.warning("smpp: session with %s:%s ended (%s)", self.host, self.port, why)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._stopping:
                    log.warning("smpp: no session with %s:%s: %r", self.host, self.port, exc)
            if self._stopping:
                return
            if session.bound_at is not None and loop.time() - session.bound_at >= STABLE_SESSION_SECONDS:
                delay = RECONNECT_MIN_SECONDS
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            session = self._new_session()

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._stopping:
            log.error(
                "smpp: the session loop ended: %r; no SMS goes out until notify restarts", task.exception()
            )

    async def stop(self) -> None:
        self._stopping = True
        session = self._session
        if session is not None and session.bound:
            with contextlib.suppress(Exception):
                await session.unbind()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(ConnectionError("provider stopped"))

    async def ready(self) -> bool:
        return self._session is not None and self._session.bound

    async def _wait_bound(self) -> _Session:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.bind_timeout
        while True:
            session = self._session
            if session is not None and session.bound:
                return session
            if loop.time() > deadline:
                raise SendError(ErrorKind.transient, "not_bound", "no bound SMPP session to the SMSC")
            await asyncio.sleep(0.05)

    # --- sending --------------------------------------------------------------------------------

    async def send(self, sms: OutgoingSms, on_part: PartHandler | None = None) -> Submitted:
        assert self._task is not None, "start() first"
        parts = split(sms.text, Encoding.ucs2)
        ref = sms.local_id % 256  # the same for every attempt: the handset joins the parts by it
        accepted = dict(sms.accepted)
        for index, text in enumerate(parts, start=1):
            if index in accepted:
                continue  # the SMSC has this part already: never submit it twice
            session = await self._wait_bound()
            udh = bytes([0x05, 0x00, 0x03, ref, len(parts), index]) if len(parts) > 1 else b""
            status, message_id = await self._submit_part(session, sms, index, len(parts), text, udh)
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
        self, session: _Session, sms: OutgoingSms, index: int, total: int, text: str, udh: bytes
    ) -> tuple[SmppCommandStatus, str]:
        self._attempts += 1
        log_id = f"{sms.sms_id}:{index}:{self._attempts}"
        message = PartSubmitSm(
            short_message=text,
            source=self.source,
            destination=e164_to_smpp(sms.recipient),
            registered_delivery=0b00000001,
            log_id=log_id,
            udh=udh,
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[SmppCommandStatus, str]] = loop.create_future()
        self._pending[log_id] = _Pending(future, session)
        deadline = loop.time() + self.response_timeout
        try:
            await session.broker.enqueue(message)
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(future), 0.05)
                except TimeoutError:
                    pass
                except ValueError as exc:
                    raise SendError(
                        ErrorKind.permanent, "invalid_pdu", f"part {index}/{total} cannot be sent: {exc}"
                    ) from exc
                except (ConnectionError, OSError) as exc:  # the provider stopped
                    raise SendError(
                        ErrorKind.transient, "connection_lost", f"part {index}/{total} not sent: {exc}"
                    ) from exc
                if session.ended.is_set():
                    # Its session is over and everything the SMSC sent on it was read: no answer came,
                    # so the SMSC did not accept it (SMPP answers on the session of the request).
                    # Sent again with the same reference and part number.
                    raise SendError(
                        ErrorKind.transient,
                        "connection_lost",
                        f"session lost before the answer to part {index}/{total}: not accepted, sending it again",
                    )
                if session.bound and loop.time() > deadline:
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
            pending.future.set_exception(error)

    async def lookup(self, sms: OutgoingSms, message_ids: tuple[str, ...]) -> Lookup:
        # SMPP has query_sm, but SMSCs rarely answer it for concatenated messages and aiosmpplib does
        # not send it: the delivery receipt is the source of truth.
        return Lookup(LookupOutcome.unknowable)

    # --- receiving ------------------------------------------------------------------------------

    async def _on_pdu(self, session: _Session, smpp_message: SmppMessage | None, pdu: bytes) -> None:
        header = SmppMessage.parse_header(pdu)
        if header.smpp_command in (SmppCommand.SUBMIT_SM_RESP, SmppCommand.GENERIC_NACK):
            log_id = session.by_sequence.pop(header.sequence_num, None)
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
        # Receipts and deliver_sm the library could not parse were answered by _Session already.

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
