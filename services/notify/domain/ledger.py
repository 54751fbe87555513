"""The SMS ledger's state machine: one record per (source event, recipient), never sent twice.

    pending ──claim──▶ sending ──▶ submitted ──receipt──▶ delivered | failed
       │  ▲               │  │          ▲
       │  └─transient─────┘  └─timeout after submit / crash─▶ unknown ──lookup/receipt──┘
       ├─▶ deferred (quiet hours) ──claim──▶ sending
       └─▶ skipped_stale | skipped_opted_out | skipped_erased

A record is written ``pending`` before the provider is called and moved on after. ``sending``
holds a lease: a replica that dies mid-call leaves the lease to expire and the record becomes
``unknown``, which only a delivery receipt or the provider's status lookup resolves: an unknown
record is never sent again unless the provider says for certain it never received it.
"""

from __future__ import annotations

from enum import StrEnum

from contracts.events import deterministic_id


class SmsState(StrEnum):
    pending = "pending"
    deferred = "deferred"
    sending = "sending"
    submitted = "submitted"
    delivered = "delivered"
    failed = "failed"
    unknown = "unknown"
    skipped_stale = "skipped_stale"
    skipped_opted_out = "skipped_opted_out"
    # The citizen's data key was erased (docs/privacy.md): their phone and the text cannot be opened.
    skipped_erased = "skipped_erased"


S = SmsState

TRANSITIONS: dict[SmsState, frozenset[SmsState]] = {
    S.pending: frozenset({S.sending, S.deferred, S.skipped_stale, S.skipped_opted_out, S.skipped_erased}),
    S.deferred: frozenset({S.sending, S.skipped_opted_out, S.skipped_erased}),
    # back to pending: a transient error, to be retried after a back-off; nothing was accepted.
    # skipped_opted_out: the citizen opted out between the record and the call.
    # delivered: the provider's answer to the submission already says delivered (a gateway that
    # delivers synchronously, like the file gateway); recorded as submitted and delivered at once.
    S.sending: frozenset(
        {S.submitted, S.delivered, S.failed, S.pending, S.unknown, S.skipped_opted_out, S.skipped_erased}
    ),
    S.submitted: frozenset({S.delivered, S.failed}),
    # pending again only when the provider states it never received the message.
    S.unknown: frozenset({S.submitted, S.delivered, S.failed, S.pending}),
    S.delivered: frozenset(),
    S.failed: frozenset(),
    S.skipped_stale: frozenset(),
    S.skipped_opted_out: frozenset(),
    S.skipped_erased: frozenset(),
}

CLAIMABLE = frozenset({S.pending, S.deferred})
# States in which the provider may have the message: receipts and lookups apply to them.
AWAITING_OUTCOME = frozenset({S.submitted, S.unknown})
FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


class IllegalTransition(ValueError):
    pass


def can_move(current: SmsState, target: SmsState) -> bool:
    return target in TRANSITIONS[current]


def check_move(current: SmsState, target: SmsState) -> None:
    if not can_move(current, target):
        raise IllegalTransition(f"{current.value} -> {target.value}")


def sources_for(target: SmsState) -> frozenset[SmsState]:
    """Every state from which ``target`` may be reached: the guard of a conditional update."""
    return frozenset(s for s, nxt in TRANSITIONS.items() if target in nxt)


def sms_id(source_event_id: str, recipient: str) -> str:
    """One ledger record per (source event, recipient): the record's id and the SMS's id."""
    return deterministic_id("sms", source_event_id, recipient)


class PartOutcome(StrEnum):
    delivered = "delivered"
    failed = "failed"


def overall_outcome(expected_parts: int, outcomes: dict[str, PartOutcome]) -> PartOutcome | None:
    """A concatenated message is delivered when every part is; it failed as soon as one part failed."""
    if any(o is PartOutcome.failed for o in outcomes.values()):
        return PartOutcome.failed
    if len(outcomes) >= max(expected_parts, 1) and all(o is PartOutcome.delivered for o in outcomes.values()):
        return PartOutcome.delivered
    return None
