"""The SMS ledger record as the use cases see it, and every change a record may go through.

A record is one SMS (one per source event and recipient), written before the gateway is called and
moved on after. Each change below is a pure function: it returns the record after the change, or
None when the record's state does not allow it. The ledger applies a change as a compare-and-set on
the stored record, so the guard is always judged on what is stored, not on a copy.

The message is kept part by part (``SmsPart``) the way the SMPP gateway submits it (UCS-2 parts),
so what a gateway or a receipt says about one part has a place in the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.events import Envelope
from services.notify.domain.ledger import CLAIMABLE, SmsState, sms_id, sources_for
from services.notify.domain.messages import Intent
from services.notify.domain.policy import Decision
from services.notify.domain.rendering import RenderedSms
from services.notify.domain.segments import Encoding, split
from services.notify.domain.templates import Template

# How much of each part's text a record keeps: enough to tell a receipt's text apart.
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


@dataclass(frozen=True)
class SmsPart:
    """One part of the message as the gateway submits it."""

    number: int  # 1-based: the part's sequence number in the concatenation header
    prefix: str  # its first characters, to match a receipt that names no known message id
    message_id: str | None = None  # the gateway's id for this part, when it answers part by part


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

    def matches_text(self, text_prefix: str | None) -> bool:
        """Whether a receipt quoting ``text_prefix`` may be about this message (no quote: any)."""
        quoted = (text_prefix or "").strip()
        if not quoted:
            return True
        prefixes = [p.prefix.strip() for p in self.parts]
        return any(p and (p.startswith(quoted) or quoted.startswith(p)) for p in prefixes)

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
    order; any other count of ids is about the whole message and names no part."""
    if len(message_ids) != len(parts):
        return tuple(replace(p, message_id=None) for p in parts)
    return tuple(replace(p, message_id=i) for p, i in zip(parts, message_ids, strict=True))


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
    # The new ids first (the gateway's answer, in part order), then any known before.
    merged = tuple(dict.fromkeys([*ids, *r.message_ids]))
    return replace(r, message_ids=merged, parts=with_part_ids(r.parts, merged))


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


def submitted(
    r: SmsRecord,
    *,
    now: datetime,
    message_ids: Sequence[str],
    delivered: bool,
    note: str,
    owe: bool = True,
) -> SmsRecord | None:
    """The gateway has the message. When its answer already says delivered, both steps are one
    change. ``owe``: the events are listed as owed (False when they went out before the write)."""
    if r.state not in sources_for(SmsState.submitted):
        return None
    kinds = submission_events(delivered)
    base = replace(_merged_ids(r, message_ids), submitted_at=now, lease_until=None, error=None)
    if delivered:
        moved = _moved(
            base,
            SmsState.delivered,
            now,
            "provider reports it delivered",
            passed=[(SmsState.submitted, note)],
            owe=kinds if owe else (),
        )
        return replace(moved, delivered_at=now)
    return _moved(base, SmsState.submitted, now, note, owe=kinds if owe else ())


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


def with_message_ids(r: SmsRecord, ids: Iterable[str]) -> SmsRecord | None:
    """Ids learnt from elsewhere than the submission (a receipt matched by recipient and text),
    after those known already."""
    merged = tuple(dict.fromkeys([*r.message_ids, *ids]))
    return replace(r, message_ids=merged, parts=with_part_ids(r.parts, merged))


def polled(r: SmsRecord, *, now: datetime) -> SmsRecord | None:
    return replace(r, polled_at=now)


def expected_receipts(r: SmsRecord) -> int:
    """How many part receipts make the message's outcome: one per id the gateway gave for a submitted
    message (one per part, or one for the whole), else one per segment."""
    return len(r.message_ids) if r.state is SmsState.submitted and r.message_ids else r.segments
