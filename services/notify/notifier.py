"""Notify's use cases: take case events, keep the ledger, send, reconcile, record receipts and opt-outs.

The consumer only writes ledger records (``pending``, ``deferred`` or ``skipped_*``) and commits;
sender workers claim due records atomically and call the provider: records this replica has just
written are handed to them directly, and a scanner looks for the others (deferred, retried, written
by another replica) when the workers are idle; the reconciler turns expired
leases into ``unknown``, resolves unknown outcomes through the provider's status lookup, polls
providers that do not push receipts, and re-publishes events whose publication a crash interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge

from contracts.events import (
    CaseRegistered,
    Envelope,
    EventData,
    SmsDelivered,
    SmsFailed,
    SmsSent,
    deterministic_id,
)
from services.common.kafka import Incoming
from services.common.logs import mask_phone
from services.common.recent import Recent
from services.notify.adapters.providers.base import (
    DeliveryReport,
    InboundSms,
    LookupOutcome,
    OutgoingSms,
    ReportStatus,
    SendError,
    SmsProvider,
    Submitted,
    local_id_of,
)
from services.notify.adapters.rate_limit import TokenBucket
from services.notify.adapters.store import Contacts, Doc, Ledger, OptOuts
from services.notify.domain.ledger import PartOutcome, SmsState, overall_outcome, sms_id, sources_for
from services.notify.domain.messages import CITIZEN_FACING_TYPES, CaseContact, Intent, apply, intent_for
from services.notify.domain.policy import Decision, ErrorKind, QuietHours, RetryPolicy, decide, is_opt_out
from services.notify.domain.rendering import render
from services.notify.domain.segments import Encoding, split
from services.notify.domain.templates import Template, TemplateKey
from services.notify.retrying import send_with_retry

log = logging.getLogger("samad.notify")

SOURCE = "/samad/notify"
# How long a sender waits for Kafka to take an SMS's events before recording the SMS with the events
# owed instead (Kafka restarting, say): the ledger is not held back longer than this.
PUBLISH_FIRST_SECONDS = 2.0
HANDED_MAX = 10_000

SMS_RECORDED = Counter("samad_notify_sms_recorded_total", "Ledger records created", ["template", "state"])
SMS_DUPLICATES = Counter("samad_notify_duplicate_events_total", "Events whose SMS was already in the ledger")
SMS_OUTCOMES = Counter("samad_notify_sms_transitions_total", "Ledger transitions", ["provider", "state"])
SMS_SEND_ERRORS = Counter("samad_notify_send_errors_total", "Provider errors", ["provider", "kind"])
RECEIPTS = Counter("samad_notify_receipts_total", "Delivery receipts", ["provider", "result"])
REPLAYED = Counter("samad_notify_replayed_events_total", "Replayed events seen", ["outcome"])
OPT_OUTS = Counter("samad_notify_opt_outs_total", "Opt-outs and opt-ins", ["source", "action"])
UNKNOWN_OUTCOMES = Gauge("samad_notify_unknown_outcomes", "Ledger records whose outcome is unknown")

Publish = Callable[[list[Envelope]], Awaitable[None]]
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NotifyConfig:
    stale_after: timedelta
    quiet: QuietHours
    retry: RetryPolicy
    lease: timedelta = timedelta(seconds=120)
    poll_seconds: float = 15.0
    reconcile_seconds: float = 15.0
    status_poll: timedelta = timedelta(seconds=60)
    # Events still owed this long after their record changed are published by the reconciler (the
    # writer died or stalled before publishing). A second publication carries the same event id.
    outbox_grace: timedelta = timedelta(seconds=30)
    concurrency: int = 4
    crash_after_submit: bool = False


def outgoing(doc: Doc) -> OutgoingSms:
    return OutgoingSms(
        sms_id=doc["_id"],
        recipient=doc["recipient"],
        text=doc["text"],
        parts=int(doc["parts"]),
        local_id=int(doc["local_id"]),
    )


class Notifier:
    def __init__(
        self,
        *,
        ledger: Ledger,
        contacts: Contacts,
        optouts: OptOuts,
        provider: SmsProvider,
        templates: dict[TemplateKey, Template],
        publish: Publish,
        config: NotifyConfig,
        limiter: TokenBucket | None = None,
        clock: Clock = utcnow,
        replica: str | None = None,
    ) -> None:
        self.ledger, self.contacts, self.optouts = ledger, contacts, optouts
        self.provider = provider
        self.templates = templates
        self.publish = publish
        self.config = config
        self.limiter = limiter
        self.now = clock
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        # Ids for the sender workers; ``_queued`` holds those waiting or being sent (never twice at once).
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        # Records this consumer has just written and handed to the senders: the sender claims from
        # this copy (no read). A copy left behind (the scanner's sender had the record first) is only
        # stale; the oldest go.
        self._handed: Recent[str, Doc] = Recent(HANDED_MAX)
        # Records of an insert that failed (the database went away mid-command): some may be in the
        # ledger. When their events come again (the consumer retries the batch) they are found there,
        # and are handed to the senders then rather than left for the scanner's next round.
        self._unsure: Recent[str, bool] = Recent(HANDED_MAX)
        # The earliest time a record this replica deferred or requeued becomes due: the scanner wakes
        # then instead of reading the whole ledger every few seconds.
        self._next_due: datetime | None = None
        self._scan_asked = True  # at start: records written before it
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, *, workers: bool = True) -> None:
        await self.provider.start(self.on_report, self.on_inbound)
        if workers:
            for n in range(max(self.config.concurrency, 1)):
                self._tasks.append(asyncio.create_task(self._sender(), name=f"sms-sender-{n}"))
            self._tasks.append(asyncio.create_task(self._scanner(), name="sms-scanner"))
            self._tasks.append(asyncio.create_task(self._reconciler(), name="sms-reconciler"))

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.provider.stop()

    # --- consuming case events -------------------------------------------------------------------

    async def handle(self, batch: Sequence[Incoming]) -> None:
        """Project the batch's events onto the case contacts and write the ledger records their SMS
        need; sending happens elsewhere. A few commands serve the whole batch (the contacts read and
        written by ``_id``, one insert of every new record), not a few per event: the consumer's
        round trips to the database no longer add up event after event."""
        items = [item for item in batch if item.event.type in CITIZEN_FACING_TYPES]
        if not items:
            return
        now = self.now()
        afters = await self._contacts_after([item.event.data for item in items], now)
        wanted: list[tuple[Incoming, Intent]] = []
        for item, after in zip(items, afters, strict=True):
            intent = intent_for(item.event.data, after, item.event.time)
            if intent is not None:
                wanted.append((item, intent))
            elif after is None:
                log.warning(
                    "no citizen contact for case %s: %s not sent", item.event.subject, item.event.type
                )
        if not wanted:
            return
        # Whether the citizen opted out is asked once, by the sender, right before sending: the
        # latest answer, one read per SMS (an opted-out citizen's record goes pending, then skipped).
        records = [self._record(item.event, intent, now, item.replay_run) for item, intent in wanted]
        try:
            existing = await self.ledger.insert_many([record for record, _ in records])
        except BaseException:
            for record, _ in records:
                self._unsure.put(record["_id"], True)
            raise
        for n, ((item, _), (record, decision)) in enumerate(zip(wanted, records, strict=True)):
            unsure = self._unsure.pop(record["_id"], False)
            state = None
            if n not in existing:
                state = self._recorded(record, decision)
            elif unsure:
                # The insert that failed may have written it: the senders see it now rather than at
                # the scanner's next round (reading it first, as the copy here may not be the one stored).
                log.info("sms %s may have been written by an insert that failed: handed on", record["_id"])
                self._hand(record["_id"], decision, None)
            else:
                SMS_DUPLICATES.inc()
                log.debug("sms %s for event %s is already in the ledger", record["_id"], item.event.id)
            if item.replay_run:
                REPLAYED.labels(state or "duplicate").inc()
                log.info(
                    "replayed event %s (%s) from replay run %s: %s",
                    item.event.id,
                    item.event.type,
                    item.replay_run,
                    f"recorded as {state}" if state else "already in the ledger, nothing sent",
                )

    async def _contacts_after(self, data: Sequence[EventData], now: datetime) -> list[CaseContact | None]:
        """Each event's case contact once it is applied: a case's events in the batch are folded, in
        their order, onto its stored contact, and each contact that changed is written once.

        A case whose first event here is its registration is nearly always new: its contact is
        inserted without looking for one. Only a case that has one already (a redelivery, or a replay
        in another order) is read, and its events are folded again onto what is stored."""
        positions: dict[str, list[int]] = {}
        for n, d in enumerate(data):
            positions.setdefault(d.case_id, []).append(n)  # type: ignore[attr-defined]
        afters: list[CaseContact | None] = [None] * len(data)

        def fold(case_id: str, contact: CaseContact | None) -> CaseContact | None:
            for n in positions[case_id]:
                contact = apply(contact, data[n])
                afters[n] = contact
            return contact

        presumed_new = {cid for cid, ps in positions.items() if isinstance(data[ps[0]], CaseRegistered)}
        stored = await self.contacts.load(cid for cid in positions if cid not in presumed_new)
        inserts = [c for cid in presumed_new if (c := fold(cid, None)) is not None]
        had_one = await self.contacts.add_many(inserts, now)
        stored.update(await self.contacts.load(had_one))
        changed: list[CaseContact] = []
        for cid in [*(c for c in positions if c not in presumed_new), *had_one]:
            before = stored.get(cid)
            after = fold(cid, before)
            if after is not None and after != before:
                changed.append(after)
        await self.contacts.put_many(changed, now)
        return afters

    def _record(
        self, event: Envelope, intent: Intent, now: datetime, replay_run: str | None
    ) -> tuple[Doc, Decision]:
        """The ledger record of an event's SMS, and the decision it carries (send, defer or skip)."""
        template = self.templates[intent.template]
        rendered = render(template, intent.values)
        sid = sms_id(event.id, intent.recipient)
        decision = decide(
            now=now,
            event_time=event.time,
            stale_after=self.config.stale_after,
            urgent=template.urgent,
            quiet=self.config.quiet,
        )
        record: Doc = {
            "_id": sid,
            "case_id": event.subject,
            "source_event_id": event.id,
            "source_event_type": event.type,
            "source_event_time": event.time,
            "correlationid": event.correlationid,
            "template": intent.template.value,
            "recipient": intent.recipient,
            "text": rendered.text,
            "parts": rendered.parts,
            "encoding": rendered.segmentation.encoding.value,
            "part_prefixes": [p[:20] for p in split(rendered.text, Encoding.ucs2)],
            "urgent": template.urgent,
            "local_id": local_id_of(sid),
            "state": decision.state.value,
            "not_before": decision.not_before,
            "reason": decision.reason,
            "claims": 0,
            "provider": self.provider.name,
            "provider_message_ids": [],
            "outbox": [],
            "replay_run": replay_run,
            "created_at": now,
            "updated_at": now,
            "history": [{"at": now, "to": decision.state.value, "note": decision.reason or "recorded"}],
        }
        return record, decision

    def _recorded(self, record: Doc, decision: Decision) -> str:
        """A new record is in the ledger: hand it to the senders, or note when it falls due."""
        sid = record["_id"]
        SMS_RECORDED.labels(record["template"], decision.state.value).inc()
        log.info(
            "sms %s (%s) to %s: %s%s",
            sid,
            record["template"],
            mask_phone(record["recipient"]),
            decision.state.value,
            f" ({decision.reason})" if decision.reason else "",
        )
        self._hand(sid, decision, {**record, "version": 0})
        return str(decision.state.value)

    def _hand(self, sid: str, decision: Decision, copy: Doc | None) -> None:
        """Give a record to this replica's senders if it is due now, or wake the scanner when it
        falls due. ``copy``: the record as stored, which the sender claims from without reading it;
        None when this copy may not be the stored one (the sender reads it first)."""
        if decision.state is SmsState.pending:
            if copy is not None:
                self._handed.put(sid, copy)
            self._enqueue(sid)
        elif decision.not_before is not None:
            self._due_at(decision.not_before)

    # --- sending ---------------------------------------------------------------------------------

    def _enqueue(self, sid: str) -> None:
        if sid not in self._queued:
            self._queued.add(sid)
            self._ready.put_nowait(sid)

    async def _sender(self) -> None:
        while not self._stopping:
            sid = await self._ready.get()
            try:
                await self.send_if_due(sid)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The record stays as it was (pending: the scanner finds it again; sending: its lease
                # expires and the reconciler resolves it).
                log.exception("sending sms %s failed; the scanner or the reconciler will retry", sid)
            finally:
                self._queued.discard(sid)

    def _due_at(self, when: datetime) -> None:
        if self._next_due is None or when < self._next_due:
            self._next_due = when
            self._wake.set()  # the scanner recomputes how long to sleep (it does not scan for this)

    def _ask_scan(self) -> None:
        self._scan_asked = True
        self._wake.set()

    async def _scanner(self) -> None:
        """Feed the workers with due records they were not handed: quiet-hours deferrals and transient
        retries (at the time they fall due), records written before a restart (at start), records of
        a replica that stopped (every ``poll_seconds``). Finding them reads the whole ledger on
        FerretDB, so it happens only then, and not while the workers have a queue."""
        last_scan: float | None = None
        while not self._stopping:
            self._wake.clear()
            now = self.now()
            due_now = self._next_due is not None and self._next_due <= now
            periodic = last_scan is None or time.monotonic() - last_scan >= self.config.poll_seconds
            if (due_now or periodic or self._scan_asked) and self._ready.qsize() < max(
                self.config.concurrency, 1
            ):
                if due_now:
                    self._next_due = None
                self._scan_asked = False
                last_scan = time.monotonic()
                try:
                    found = await self.ledger.due(now, limit=100)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("looking for due sms failed; retrying")
                    found = []
                for sid in found:
                    self._enqueue(sid)
                if len(found) >= 100:
                    self._ask_scan()  # more are due: look again once these are taken
            timeout = self.config.poll_seconds
            if self._scan_asked:  # asked while the senders had a queue: look again soon
                timeout = min(timeout, 0.1)
            if self._next_due is not None:
                timeout = min(timeout, max((self._next_due - self.now()).total_seconds(), 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def send_if_due(self, sms_id: str) -> bool:
        """Claim the record and send it; False when it is not due or another sender has it."""
        now = self.now()
        known = self._handed.pop(sms_id, None)
        doc = await self.ledger.claim(
            sms_id,
            now=now,
            lease_until=now + self.config.lease,
            replica=self.replica,
            provider=self.provider.name,
            known=known,
        )
        if doc is None:
            return False
        await self._send(doc)
        return True

    async def _send(self, doc: Doc) -> None:
        sid = doc["_id"]
        if await self.optouts.is_opted_out(doc["recipient"]):
            await self._move(doc, SmsState.skipped_opted_out, "citizen opted out before sending")
            return
        sms = outgoing(doc)
        attempts = 0

        async def before_attempt() -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the claim has just set the lease for the first attempt
                now = self.now()
                await self.ledger.extend_lease(sid, self.replica, now + self.config.lease, now)
            if self.limiter is not None:
                await self.limiter.acquire()

        try:
            result = await send_with_retry(
                self.provider, sms, self.config.retry, before_attempt=before_attempt
            )
        except SendError as exc:
            SMS_SEND_ERRORS.labels(self.provider.name, exc.kind.value).inc()
            await self._after_error(doc, exc)
            return
        if self.config.crash_after_submit:
            log.critical("test setting: exiting after submit, before the ledger update of %s", sid)
            os._exit(137)
        await self._submitted(doc, result, "provider accepted")

    async def _after_error(self, doc: Doc, exc: SendError) -> None:
        note = f"{exc.kind.value} {exc.code}: {exc.message}"
        if exc.kind is ErrorKind.unknown:
            log.warning("sms %s: outcome unknown (%s); reconciling, not resending", doc["_id"], note)
            await self._move(doc, SmsState.unknown, note, fields={"error": note})
            return
        if exc.kind is ErrorKind.transient:
            delay = self.config.retry.requeue_delay(int(doc.get("claims", 1)))
            if delay is not None:
                not_before = self.now() + timedelta(seconds=delay)
                await self._move(
                    doc,
                    SmsState.pending,
                    f"{note}; retry in {delay:.0f}s",
                    fields={"not_before": not_before, "error": note},
                )
                self._due_at(not_before)
                return
        await self._fail(doc, note, permanent=exc.kind is ErrorKind.permanent, only_from=(SmsState.sending,))

    async def _submitted(self, doc: Doc, result: Submitted, note: str) -> None:
        now = self.now()
        fields: dict[str, Any] = {"submitted_at": now, "lease_until": None, "error": None}
        target, passed, outbox = SmsState.submitted, [], ["sent"]
        if result.delivered:  # one write for both steps, and both events owed
            fields["delivered_at"] = now
            target, passed, outbox = SmsState.delivered, [(SmsState.submitted, note)], ["sent", "delivered"]

        def message_ids(d: Doc) -> dict[str, Any]:
            ids = dict.fromkeys([*result.message_ids, *(d.get("provider_message_ids") or [])])
            return {"provider_message_ids": list(ids)}

        # The provider's answer is a fact whatever the ledger says next, so its events go out first;
        # only when that fails does the write list them as owed (one compare-and-set less per SMS).
        after = {**doc, **fields, "state": target.value, **message_ids(doc)}
        published = await self._publish_first(after, outbox)
        moved = await self.ledger.move(
            doc["_id"],
            target,
            now=now,
            note="provider reports it delivered" if result.delivered else note,
            passed=passed,
            derive=message_ids,
            fields=fields,
            outbox=() if published else outbox,
            only_from=sources_for(SmsState.submitted),
            known=doc,
        )
        if moved is None:
            log.warning("sms %s was no longer in a state to become submitted", doc["_id"])
            return
        SMS_OUTCOMES.labels(self.provider.name, SmsState.submitted.value).inc()
        if result.delivered:
            SMS_OUTCOMES.labels(self.provider.name, SmsState.delivered.value).inc()
        await self._flush(moved)
        if not result.delivered:
            await self._settle(moved)  # receipts that arrived while the record was still sending

    async def _complete(self, doc: Doc, status: ReportStatus, note: str) -> None:
        if status is ReportStatus.delivered:
            moved = await self.ledger.move(
                doc["_id"],
                SmsState.delivered,
                now=self.now(),
                note=note,
                fields={"delivered_at": self.now()},
                outbox=["delivered"],
            )
            if moved is not None:
                SMS_OUTCOMES.labels(self.provider.name, SmsState.delivered.value).inc()
                await self._flush(moved)
        else:
            await self._fail(doc, note, permanent=True, only_from=(SmsState.submitted,))

    async def _fail(self, doc: Doc, note: str, *, permanent: bool, only_from: Sequence[SmsState]) -> None:
        moved = await self.ledger.move(
            doc["_id"],
            SmsState.failed,
            now=self.now(),
            note=note,
            fields={"error": note, "permanent": permanent, "failed_at": self.now(), "lease_until": None},
            outbox=["failed"],
            only_from=only_from,
        )
        if moved is not None:
            SMS_OUTCOMES.labels(self.provider.name, SmsState.failed.value).inc()
            log.warning("sms %s failed (%s): %s", doc["_id"], "permanent" if permanent else "gave up", note)
            await self._flush(moved)

    async def _move(
        self, doc: Doc, target: SmsState, note: str, fields: dict[str, Any] | None = None
    ) -> Doc | None:
        moved = await self.ledger.move(doc["_id"], target, now=self.now(), note=note, fields=fields)
        if moved is not None:
            SMS_OUTCOMES.labels(self.provider.name, target.value).inc()
        return moved

    # --- events to samad.notifications.v1 ---------------------------------------------------------

    def _event(self, doc: Doc, kind: str) -> Envelope:
        ids = doc.get("provider_message_ids") or []
        provider = doc.get("provider") or self.provider.name
        data: EventData
        if kind == "sent":
            data = SmsSent(
                sms_id=doc["_id"],
                case_id=doc["case_id"],
                source_event_id=doc["source_event_id"],
                template=doc["template"],
                recipient=doc["recipient"],
                text=doc["text"],
                parts=int(doc["parts"]),
                provider=provider,
                provider_message_id=ids[0] if ids else None,
            )
            at = doc.get("submitted_at")
        elif kind == "delivered":
            at = doc.get("delivered_at") or self.now()
            data = SmsDelivered(
                sms_id=doc["_id"],
                case_id=doc["case_id"],
                provider=provider,
                provider_message_id=ids[0] if ids else None,
                delivered_at=at,
            )
        else:
            data = SmsFailed(
                sms_id=doc["_id"],
                case_id=doc["case_id"],
                source_event_id=doc["source_event_id"],
                template=doc["template"],
                provider=provider,
                error=str(doc.get("error") or "failed"),
                permanent=bool(doc.get("permanent", True)),
            )
            at = doc.get("failed_at")
        return Envelope(
            id=deterministic_id(f"sms.{kind}", doc["_id"]),
            source=SOURCE,
            type=data.event_type,
            subject=doc["case_id"],
            time=at or self.now(),
            correlationid=doc.get("correlationid") or doc["source_event_id"],
            causationid=doc["source_event_id"],
            data=data,
        )

    async def _publish_first(self, doc: Doc, kinds: Sequence[str]) -> bool:
        """Publish the events of a state change before writing it, so the write need not list them in
        its outbox and strike them off after. False when Kafka did not take them within
        ``PUBLISH_FIRST_SECONDS``: the write then lists them as owed, for ``_flush`` or the reconciler.
        A crash between the publication and the write leaves the record ``sending``; the reconciler
        finds it through the provider and publishes again, with the same (deterministic) event ids,
        as it does for a publication that completes after its timeout."""
        try:
            await asyncio.wait_for(self.publish([self._event(doc, k) for k in kinds]), PUBLISH_FIRST_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Kafka or the timeout: the outbox takes over
            log.warning(
                "sms %s: events not published before the ledger write (%r); owed instead", doc["_id"], exc
            )
            return False
        return True

    async def _flush(self, doc: Doc) -> None:
        """Publish the events the record owes (its outbox), then strike them off.

        The outbox entry is written in the same update as the state change, so a crash between the
        two leaves it for the reconciler; the event ids are deterministic, so a second publication
        is recognised downstream as the same event.
        """
        order = ["sent", "delivered", "failed"]
        kinds = [k for k in order if k in (doc.get("outbox") or [])]
        if kinds:
            await self.publish([self._event(doc, kind) for kind in kinds])  # in this order (one key)
            await self.ledger.pull_outbox(doc["_id"], kinds, self.now(), known=doc)

    # --- receipts, lookups and the reconciler ---------------------------------------------------

    async def on_report(self, report: DeliveryReport) -> None:
        doc = await self.ledger.by_message_id(report.provider, report.message_id)
        if doc is None and report.recipient:
            doc = await self.ledger.unknown_matching(report.provider, report.recipient, report.text_prefix)
            if doc is not None:
                log.info(
                    "receipt %s matched unknown sms %s by recipient and text", report.message_id, doc["_id"]
                )
                doc = await self.ledger.add_message_ids(doc["_id"], [report.message_id], self.now()) or doc
        if doc is None:
            RECEIPTS.labels(report.provider, "unmatched").inc()
            log.warning("receipt for unknown message %s from %s", report.message_id, report.provider)
            return
        outcome = PartOutcome.delivered if report.status is ReportStatus.delivered else PartOutcome.failed
        if not await self.ledger.record_receipt(
            doc["_id"], report.provider, report.message_id, outcome, self.now()
        ):
            RECEIPTS.labels(report.provider, "duplicate").inc()
            log.info("duplicate receipt %s for sms %s ignored", report.message_id, doc["_id"])
            return
        RECEIPTS.labels(report.provider, outcome.value).inc()
        await self._settle(doc, report.error)

    async def _settle(self, doc: Doc, error: str = "") -> None:
        """Move a submitted or unknown record on once its part receipts say how it ended."""
        fresh = await self.ledger.get(doc["_id"])
        if fresh is None:
            return
        state = SmsState(fresh["state"])
        ids = fresh.get("provider_message_ids") or []
        expected = len(ids) if state is SmsState.submitted and ids else int(fresh["parts"])
        outcomes = await self.ledger.part_outcomes(fresh["_id"])
        overall = overall_outcome(expected, outcomes)
        if state is SmsState.sending:
            return  # the sender records the submission, then settles with the receipts kept meanwhile
        if state is SmsState.unknown:
            if outcomes:
                # A receipt proves the provider had it: it was submitted (and _submitted settles it).
                await self._submitted(
                    fresh, Submitted(tuple(ids)), "a delivery receipt proves it was submitted"
                )
            return
        if overall is PartOutcome.delivered:
            await self._complete(fresh, ReportStatus.delivered, "delivery receipt")
        elif overall is PartOutcome.failed:
            await self._complete(fresh, ReportStatus.failed, f"delivery receipt: {error or 'not delivered'}")

    async def reconcile_once(self) -> None:
        """One pass over the records that are not settled (one ledger query: on FerretDB each query
        reads the whole ledger)."""
        now = self.now()
        active = await self.ledger.unsettled()
        expired = [
            d
            for d in active
            if d["state"] == SmsState.sending.value
            and d.get("lease_until") is not None
            and d["lease_until"] < now
        ]
        for doc in expired:
            await self._move(
                doc,
                SmsState.unknown,
                "lease expired: the sender stopped between claim and ledger update",
                fields={"lease_until": None},
            )
        unknown = [
            d
            for d in active
            if d["state"] == SmsState.unknown.value and d.get("provider") == self.provider.name
        ]
        unknown += [d for d in expired if d.get("provider") == self.provider.name]
        was_sending = {d["_id"] for d in expired}
        UNKNOWN_OUTCOMES.set(len(unknown))
        for doc in unknown:
            fresh = await self.ledger.get(doc["_id"]) if doc["_id"] in was_sending else doc
            if fresh is not None and fresh["state"] == SmsState.unknown.value:
                await self._resolve_unknown(fresh)
        if self.provider.status_lookup:
            submitted = [
                d
                for d in active
                if d["state"] == SmsState.submitted.value and d.get("provider") == self.provider.name
            ]
            await self._poll_submitted(now, submitted)
        grace = now - self.config.outbox_grace
        for doc in active:
            if doc.get("outbox") and doc.get("updated_at") is not None and doc["updated_at"] < grace:
                fresh = await self.ledger.get(doc["_id"])
                if fresh is not None and fresh.get("outbox"):
                    await self._flush(fresh)

    async def _resolve_unknown(self, doc: Doc) -> None:
        try:
            found = await self.provider.lookup(outgoing(doc), tuple(doc.get("provider_message_ids") or ()))
        except SendError as exc:
            log.warning("status lookup for sms %s failed: %s", doc["_id"], exc)
            return
        if found.outcome is LookupOutcome.found:
            await self._submitted(doc, Submitted(found.message_ids), "the provider's status lookup found it")
            if found.status is not None:
                fresh = await self.ledger.get(doc["_id"])
                if fresh is not None:
                    await self._complete(
                        fresh, found.status, f"status lookup: {found.error or found.status.value}"
                    )
        elif found.outcome is LookupOutcome.absent:
            await self._move(
                doc,
                SmsState.pending,
                "the provider confirms it never received it: safe to send",
                fields={"not_before": self.now()},
            )
            self._ask_scan()

    async def _poll_submitted(self, now: datetime, submitted: Sequence[Doc]) -> None:
        """Ask the provider about records submitted long ago and still without an outcome: a provider
        that pushes no receipts (kavenegar) is polled this way, and so is every record whose receipt
        or immediate outcome could not be written (the database was down when it came)."""
        cutoff = now - self.config.status_poll
        for doc in submitted:
            last = doc.get("polled_at") or doc.get("submitted_at")
            if last is not None and last > cutoff:
                continue
            await self.ledger.touch(doc["_id"], "polled_at", now)
            try:
                found = await self.provider.lookup(
                    outgoing(doc), tuple(doc.get("provider_message_ids") or ())
                )
            except SendError as exc:
                log.warning("status poll for sms %s failed: %s", doc["_id"], exc)
                continue
            if found.status is not None:
                await self._complete(doc, found.status, f"status poll: {found.error or found.status.value}")

    async def _reconciler(self) -> None:
        while not self._stopping:
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciliation failed; next round")
            await asyncio.sleep(self.config.reconcile_seconds)

    # --- inbound SMS and opt-out ------------------------------------------------------------------

    async def on_inbound(self, message: InboundSms) -> None:
        if not is_opt_out(message.text):
            log.info("inbound sms from %s is not an opt-out; ignored", mask_phone(message.sender))
            return
        await self.optouts.set(
            message.sender, True, source="sms", by=message.sender, reason=message.text, now=self.now()
        )
        OPT_OUTS.labels("sms", "opt_out").inc()
        log.info("%s opted out by SMS", mask_phone(message.sender))

    async def set_opt_out(self, phone: str, opted_out: bool, *, by: str, reason: str) -> Doc:
        doc = await self.optouts.set(phone, opted_out, source="staff", by=by, reason=reason, now=self.now())
        OPT_OUTS.labels("staff", "opt_out" if opted_out else "opt_in").inc()
        return doc
