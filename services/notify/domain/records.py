"""The SMS ledger record as the use cases see it, and every change a record may go through.

A record is one SMS (one per source event and recipient), written before the gateway is called and
moved on after. Each change below is a pure function: it returns the record after the change, or
None when the record's state does not allow it. The ledger applies a change as a compare-and-set on
the stored record, so the guard is always judged on what is stored, not on a copy.

The message is kept part by part (``SmsPart``) the way the SMPP gateway submits it (UCS-2 parts),
so what a gateway or a receipt says about one part has a place in the record: whether the gateway
accepted it, the id it gave, and the receipt that came for it. A receipt is applied by a change of
the record itself (``receipt``), so applying the same receipt twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.events import Envelope
from contracts.sealed import Sealed
from services.notify.domain.ledger import CLAIMABLE, FINAL, PartOutcome, SmsState, sms_id, sources_for
from services.notify.domain.messages import Intent
from services.notify.domain.policy import Decision
from services.notify.domain.rendering import RenderedSms
from services.notify.domain.segments import Encoding, split
from services.notify.domain.templates import Template

# How much of each part's text a record keeps, for people reading the ledger (never to match a receipt).
PART_PREFIX = 20


class Owed(StrEnum):
    """An ``sms.*`` event a record owes: written with the change that calls for it, struck off once
    published, so a crash in between leaves it for the reconciler."""

    sent = "sent"
    delivered = "delivered"
    failed = "failed"


# The order owed events are published in (one key: their order on the topic).
OWED_ORDER = (Owed.sent, Owed.delivered, Owed.failed)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    to: SmsState
    note: str


class PartState(StrEnum):
    """Where one part of a message stands, as the ledger listing shows it."""

    waiting = "waiting"  # not accepted by the gateway (not sent yet, or sent on a session that was lost)
    accepted = "accepted"  # the gateway accepted it and gave its id: waiting for its receipt
    accepted_no_id = "accepted_no_id"  # accepted without an id: no receipt can name it
    delivered = "delivered"
    failed = "failed"


@dataclass(frozen=True)
class SmsPart:
    """One part of the message as the gateway submits it."""

    number: int  # 1-based: the part's sequence number in the concatenation header
    prefix: str  # its first characters, for people reading the ledger
    message_id: str | None = None  # the gateway's id for this part, when it answers part by part
    accepted: bool = False  # the gateway acknowledged this part (SMPP: submit_sm_resp ESME_ROK)


@dataclass(frozen=True)
class KeptReceipt:
    """A receipt whose message id no record knows yet (it overtook the gateway's answer to the part,
    or that answer is still being written): kept until the id is recorded, then applied."""

    provider: str
    message_id: str
    outcome: PartOutcome
    error: str
    received_at: datetime
    reported_at: datetime | None = None  # when it was reported as unmatched after the wait

    @property
    def key(self) -> str:
        return receipt_key(self.provider, self.message_id, self.outcome)


def receipt_key(provider: str, message_id: str, outcome: PartOutcome) -> str:
    return f"{provider}:{message_id}:{outcome.value}"


def kept_receipt_keys(provider: str, message_ids: Sequence[str]) -> list[str]:
    """The keys a receipt kept for any of these message ids would have, id by id."""
    return [receipt_key(provider, m, o) for m in message_ids for o in PartOutcome]


@dataclass(frozen=True)
class SmsRecord:
    sms_id: str
    case_id: str
    source_event_id: str
    source_event_type: str
    source_event_time: datetime
    correlationid: str | None
    template: str
    recipient: str  # E.164
    text: str
    segments: int  # parts as a handset counts them (the encoding the text needs): what is billed
    encoding: str
    parts: tuple[SmsPart, ...]  # parts as the gateway submits them (always UCS-2)
    urgent: bool
    local_id: int  # numeric id derived from sms_id: the gateway-side deduplication key
    state: SmsState
    provider: str
    created_at: datetime
    updated_at: datetime
    not_before: datetime | None = None
    reason: str = ""
    claims: int = 0
    # Every id the gateway gave, in its order: one per part (SMPP) or one for the message.
    message_ids: tuple[str, ...] = ()
    # The receipts applied, by message id: each applied once (a failure of a part is final).
    receipts: tuple[tuple[str, PartOutcome], ...] = ()
    owed: tuple[Owed, ...] = ()
    replay_run: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    version: int = 0  # the ledger's compare-and-set counter
    lease_until: datetime | None = None  # while sending: when another replica may call it unknown
    claimed_by: str | None = None
    submitted_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    polled_at: datetime | None = None
    error: str | None = None
    permanent: bool | None = None
    # A citizen's SMS with sealing on (docs/privacy.md): ``recipient`` and ``text`` are empty in the
    # ledger and these hold them sealed under the citizen's key; the sender opens them to send.
    recipient_sealed: Sealed | None = None
    text_sealed: Sealed | None = None

    def receipt_of(self, message_id: str | None) -> PartOutcome | None:
        if message_id is None:
            return None
        return dict(self.receipts).get(message_id)

    def part_state(self, part: SmsPart) -> PartState:
        if self.state is SmsState.delivered:  # every part is, whoever said so (a receipt, the gateway)
            return PartState.delivered
        outcome = self.receipt_of(part.message_id)
        if outcome is not None:
            return PartState.delivered if outcome is PartOutcome.delivered else PartState.failed
        if not part.accepted:
            return PartState.waiting
        named = part.message_id or (not self.per_part and self.message_ids)  # or the whole message's id
        return PartState.accepted if named else PartState.accepted_no_id

    @property
    def accepted_parts(self) -> dict[int, str]:
        """The parts the gateway accepted (number -> id, "" when it gave none): never sent again."""
        return {p.number: p.message_id or "" for p in self.parts if p.accepted}

    @property
    def per_part(self) -> bool:
        """Whether the gateway's ids name the parts (SMPP) rather than the whole message."""
        return any(p.message_id for p in self.parts)

    def lease_expired(self, now: datetime) -> bool:
        return self.state is SmsState.sending and self.lease_until is not None and self.lease_until < now


def local_id_of(sms_id: str) -> int:
    """A 15-digit number from the SMS id (gateways take numeric local ids)."""
    return int(sms_id.replace("-", "")[:15], 16) % 10**15


def parts_of(text: str, message_ids: Sequence[str] = ()) -> tuple[SmsPart, ...]:
    """The parts the gateway submits for ``text``; a gateway's ids go to them when there is one per part."""
    prefixes = [p[:PART_PREFIX] for p in split(text, Encoding.ucs2)]
    return with_part_ids(tuple(SmsPart(n, p) for n, p in enumerate(prefixes, start=1)), message_ids)


def with_part_ids(parts: tuple[SmsPart, ...], message_ids: Sequence[str]) -> tuple[SmsPart, ...]:
    """Each part with its gateway id: a gateway that answers part by part gives one id per part, in
    order; any other count of ids is about the whole message and names no part. Ids a part already
    has (recorded as each part was accepted) stay."""
    if any(p.message_id for p in parts):
        return parts
    if len(message_ids) != len(parts):
        return parts
    return tuple(replace(p, message_id=i, accepted=True) for p, i in zip(parts, message_ids, strict=True))


def new_record(
    *,
    event: Envelope,
    intent: Intent,
    template: Template,
    rendered: RenderedSms,
    decision: Decision,
    provider: str,
    now: datetime,
    replay_run: str | None,
) -> SmsRecord:
    """The ledger record of an event's SMS, carrying its decision (send now, defer or skip)."""
    sid = sms_id(event.id, intent.recipient)
    return SmsRecord(
        sms_id=sid,
        case_id=event.subject,
        source_event_id=event.id,
        source_event_type=event.type,
        source_event_time=event.time,
        correlationid=event.correlationid,
        template=intent.template.value,
        recipient=intent.recipient,
        text=rendered.text,
        segments=rendered.parts,
        encoding=rendered.segmentation.encoding.value,
        parts=parts_of(rendered.text),
        urgent=template.urgent,
        local_id=local_id_of(sid),
        state=decision.state,
        not_before=decision.not_before,
        reason=decision.reason,
        provider=provider,
        replay_run=replay_run,
        created_at=now,
        updated_at=now,
        history=(HistoryEntry(now, decision.state, decision.reason or "recorded"),),
    )


# --- changes ------------------------------------------------------------------------------------


def _moved(
    r: SmsRecord,
    target: SmsState,
    now: datetime,
    note: str,
    *,
    passed: Sequence[tuple[SmsState, str]] = (),
    owe: Iterable[Owed] = (),
) -> SmsRecord:
    entries = (*(HistoryEntry(now, s, n) for s, n in passed), HistoryEntry(now, target, note))
    return replace(r, state=target, history=(*r.history, *entries), owed=_owing(r.owed, owe))


def _owing(owed: tuple[Owed, ...], add: Iterable[Owed]) -> tuple[Owed, ...]:
    result = list(owed)
    result += [k for k in add if k not in result]
    return tuple(result)


def _merged_ids(r: SmsRecord, ids: Iterable[str]) -> SmsRecord:
    # Ids of parts first, in part order, then the others (the gateway's answer, then any known before).
    part_ids = [p.message_id for p in r.parts if p.message_id]
    merged = tuple(dict.fromkeys([*part_ids, *ids, *r.message_ids]))
    parts = with_part_ids(r.parts, merged)
    return replace(
        r,
        message_ids=tuple(dict.fromkeys([*(p.message_id for p in parts if p.message_id), *merged])),
        parts=parts,
    )


def claim(
    r: SmsRecord, *, now: datetime, lease_until: datetime, replica: str, provider: str
) -> SmsRecord | None:
    """Take a due record for sending: no other sender, here or in another replica, can take it."""
    if r.state not in CLAIMABLE or (r.not_before is not None and r.not_before > now):
        return None
    moved = _moved(r, SmsState.sending, now, f"claimed by {replica}")
    return replace(moved, lease_until=lease_until, claimed_by=replica, provider=provider, claims=r.claims + 1)


def extend_lease(r: SmsRecord, *, replica: str, until: datetime) -> SmsRecord | None:
    if r.state is not SmsState.sending or r.claimed_by != replica:
        return None
    return replace(r, lease_until=until)


def sealed(r: SmsRecord, recipient: Sealed, text: Sealed) -> SmsRecord:
    """The record as the ledger keeps it: recipient and text only sealed, no text in the parts."""
    parts = tuple(replace(p, prefix="") for p in r.parts)
    return replace(r, recipient="", text="", parts=parts, recipient_sealed=recipient, text_sealed=text)


def skip_erased(r: SmsRecord, *, now: datetime) -> SmsRecord | None:
    if r.state not in sources_for(SmsState.skipped_erased):
        return None
    return _moved(r, SmsState.skipped_erased, now, "the citizen's personal data was erased")


def skip_opted_out(r: SmsRecord, *, now: datetime) -> SmsRecord | None:
    if r.state not in sources_for(SmsState.skipped_opted_out):
        return None
    return _moved(r, SmsState.skipped_opted_out, now, "citizen opted out before sending")


def outcome_unknown(r: SmsRecord, *, now: datetime, error: str) -> SmsRecord | None:
    """The request may have reached the gateway: never resend blindly, reconcile instead."""
    if r.state not in sources_for(SmsState.unknown):
        return None
    return replace(_moved(r, SmsState.unknown, now, error), error=error)


def lease_lapsed(r: SmsRecord, *, now: datetime) -> SmsRecord | None:
    """A sender stopped between its claim and its ledger update: what happened is unknown."""
    if r.state not in sources_for(SmsState.unknown):
        return None
    moved = _moved(
        r, SmsState.unknown, now, "lease expired: the sender stopped between claim and ledger update"
    )
    return replace(moved, lease_until=None)


def requeue(r: SmsRecord, *, now: datetime, error: str, delay: float) -> SmsRecord | None:
    """A transient error used up this claim's attempts: back to pending for a later claim."""
    if r.state not in sources_for(SmsState.pending):
        return None
    moved = _moved(r, SmsState.pending, now, f"{error}; retry in {delay:.0f}s")
    return replace(moved, not_before=now + timedelta(seconds=delay), error=error)


def resend_absent(r: SmsRecord, *, now: datetime) -> SmsRecord | None:
    """The gateway states it never received the message: safe to send."""
    if r.state not in sources_for(SmsState.pending):
        return None
    moved = _moved(r, SmsState.pending, now, "the provider confirms it never received it: safe to send")
    return replace(moved, not_before=now)


def part_accepted(r: SmsRecord, *, number: int, message_id: str | None) -> SmsRecord | None:
    """The gateway accepted one part (its submit_sm_resp came): recorded at once, before the next part
    is submitted, so a receipt for it finds the record and the part is never submitted again. None
    when the record already says so (or is settled, or has no such part)."""
    if r.state in FINAL or not any(p.number == number for p in r.parts):
        return None
    part = next(p for p in r.parts if p.number == number)
    if part.accepted and part.message_id == (message_id or None):
        return None
    parts = tuple(
        replace(p, accepted=True, message_id=message_id or None) if p.number == number else p for p in r.parts
    )
    ids = [p.message_id for p in parts if p.message_id]
    others = [i for i in r.message_ids if i not in ids]
    return replace(r, parts=parts, message_ids=tuple(dict.fromkeys([*ids, *others])))


def submitted(
    r: SmsRecord,
    *,
    now: datetime,
    message_ids: Sequence[str],
    delivered: bool,
    note: str,
    published: Iterable[Owed] = (),
    parts: Sequence[tuple[int, str]] = (),
) -> SmsRecord | None:
    """The gateway has the message. When its answer already says delivered, both steps are one
    change; receipts applied while it was being sent settle it in the same change. ``published``:
    events that went out before the write (not listed as owed)."""
    if r.state not in sources_for(SmsState.submitted):
        return None
    done = set(published)
    for number, message_id in parts:  # each part as the gateway accepted it (mostly recorded already)
        r = part_accepted(r, number=number, message_id=message_id) or r
    base = replace(_merged_ids(r, message_ids), submitted_at=now, lease_until=None, error=None)
    if not base.per_part:  # a gateway that answers for the whole message: every part is accepted
        base = replace(base, parts=tuple(replace(p, accepted=True) for p in base.parts))
    silent = [p.number for p in base.parts if p.accepted and not p.message_id]
    if silent and (base.per_part or not base.message_ids):
        numbers = ", ".join(map(str, silent))
        note = f"{note}; the gateway gave no message id for part(s) {numbers}: no receipt can name them"
    if delivered:
        moved = _moved(
            base,
            SmsState.delivered,
            now,
            "provider reports it delivered",
            passed=[(SmsState.submitted, note)],
            owe=[k for k in submission_events(True) if k not in done],
        )
        return replace(moved, delivered_at=now)
    moved = _moved(base, SmsState.submitted, now, note, owe=[k for k in (Owed.sent,) if k not in done])
    return _settled(moved, now=now, error="")


def submission_events(delivered: bool) -> tuple[Owed, ...]:
    return (Owed.sent, Owed.delivered) if delivered else (Owed.sent,)


def delivered(r: SmsRecord, *, now: datetime, note: str) -> SmsRecord | None:
    if r.state not in sources_for(SmsState.delivered):
        return None
    return replace(_moved(r, SmsState.delivered, now, note, owe=[Owed.delivered]), delivered_at=now)


def failed(
    r: SmsRecord, *, now: datetime, note: str, permanent: bool, only_from: Iterable[SmsState]
) -> SmsRecord | None:
    if r.state not in set(only_from):
        return None
    moved = _moved(r, SmsState.failed, now, note, owe=[Owed.failed])
    return replace(moved, error=note, permanent=permanent, failed_at=now, lease_until=None)


def published(r: SmsRecord, kinds: Iterable[Owed]) -> SmsRecord | None:
    """Strike published events off; None when none of them is owed any more."""
    done = set(kinds)
    if not done & set(r.owed):
        return None
    return replace(r, owed=tuple(k for k in r.owed if k not in done))


def polled(r: SmsRecord, *, now: datetime) -> SmsRecord | None:
    return replace(r, polled_at=now)


def overall(r: SmsRecord) -> PartOutcome | None:
    """How the message ended by its receipts: failed as soon as one part failed; delivered when every
    part is (every id, for a gateway that answers for the whole message); None while one is missing.
    A part accepted without an id never gets a receipt: such a message stays submitted."""
    outcomes = dict(r.receipts)
    if any(o is PartOutcome.failed for o in outcomes.values()):
        return PartOutcome.failed
    wanted = [p.message_id for p in r.parts] if r.per_part else list(r.message_ids)
    if wanted and all(i is not None and outcomes.get(i) is PartOutcome.delivered for i in wanted):
        return PartOutcome.delivered
    return None


def receipt(
    r: SmsRecord, *, message_id: str, outcome: PartOutcome, now: datetime, error: str = ""
) -> SmsRecord | None:
    """Apply a part's receipt: once (None when it was applied before, or a failure of that part was),
    to the record whose id it names. A receipt for a record still being sent is kept on it (the
    sender's write settles it); for an unknown one it proves the gateway had it; a submitted one is
    settled once its parts say how it ended."""
    if message_id not in r.message_ids:
        return None
    before = r.receipt_of(message_id)
    if before is outcome or before is PartOutcome.failed:
        return None
    receipts = tuple((i, o) for i, o in r.receipts if i != message_id) + ((message_id, outcome),)
    applied = replace(r, receipts=receipts)
    if applied.state is SmsState.unknown:
        applied = replace(
            _moved(
                applied,
                SmsState.submitted,
                now,
                "a delivery receipt proves it was submitted",
                owe=[Owed.sent],
            ),
            submitted_at=now,
            error=None,
        )
    return _settled(applied, now=now, error=error)


def _settled(r: SmsRecord, *, now: datetime, error: str) -> SmsRecord:
    if r.state is not SmsState.submitted:
        return r
    ended = overall(r)
    if ended is PartOutcome.delivered:
        return replace(
            _moved(r, SmsState.delivered, now, "delivery receipt", owe=[Owed.delivered]), delivered_at=now
        )
    if ended is PartOutcome.failed:
        note = f"delivery receipt: {error or 'not delivered'}"
        moved = _moved(r, SmsState.failed, now, note, owe=[Owed.failed])
        return replace(moved, error=note, permanent=True, failed_at=now, lease_until=None)
    return r
