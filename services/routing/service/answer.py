"""Routing's answer to a cause event: the case.routed or case.triage_required event for a decision (with
the duty session it counts for), and the hop that stores it before it is published.

Every effect is stored before it is published, keyed by its cause event id: a redelivered
case.registered or case.reroute_requested republishes the very event stored the first time
(same id, same content) instead of deciding again.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from contracts.events import (
    Actor,
    ActorKind,
    Candidate,
    CaseRouted,
    CaseTriageRequired,
    Envelope,
    EventData,
    decode,
    make_event,
)
from services.common.clock import Clock
from services.routing.adapters.roster import RosterStore
from services.routing.domain.cases import CaseRecord, Hop, stored_answer
from services.routing.domain.roster import DutySession, live_session
from services.routing.domain.routing import Decision, Routed, decision_event_id

SOURCE = "/samad/routing"
SYSTEM = Actor(kind=ActorKind.system, id="routing")


class Answers:
    def __init__(self, roster: RosterStore, clock: Clock, tz: ZoneInfo) -> None:
        self.roster = roster
        self.clock = clock
        self.tz = tz

    async def live_session(self, record: CaseRecord, chosen: Routed) -> DutySession | None:
        entries = await self.roster.entries(record.province)
        return live_session(
            entries, chosen.agency, record.province, record.registered_at, record.duty_session_id, self.tz
        )

    async def envelope(
        self, decision: Decision, record: CaseRecord, cause: Envelope, actor: Actor | None = None
    ) -> Envelope:
        data: EventData
        if isinstance(decision, Routed):
            session = await self.live_session(record, decision)
            data = CaseRouted(
                case_id=record.case_id,
                agency=decision.agency,
                reason=decision.reason,
                confidence=round(decision.confidence, 4),
                explanation=decision.explanation,
                declined_agencies=list(decision.declined),
                live_session=session is not None,
                duty_session_id=session.id if session else None,
                actor=actor or SYSTEM,
            )
        else:
            data = CaseTriageRequired(
                case_id=record.case_id,
                reason=decision.reason,
                candidates=[
                    Candidate(agency=a, score=round(min(max(s, 0.0), 1.0), 4)) for a, s in decision.candidates
                ],
                explanation=decision.explanation,
                declined_agencies=list(decision.declined),
            )
        return make_event(
            data, source=SOURCE, event_id=decision_event_id(cause.id), time=self.clock.now(), cause=cause
        )


def hop_of(cause_id: str, envelope: Envelope, decision: Decision) -> Hop:
    return Hop(
        cause_id=cause_id,
        event_id=envelope.id,
        event_type=envelope.type,
        event_json=envelope.to_json().decode(),
        agency=decision.agency if isinstance(decision, Routed) else None,
        reason=decision.reason.value,
        at=envelope.time,
    )


def again(record: CaseRecord | None, cause_id: str, replay: bool) -> list[Envelope]:
    """The stored answer to a cause seen before, to publish again (nothing in a replay run)."""
    hop = stored_answer(record, cause_id, replay) if record is not None else None
    return [decode(hop.event_json)] if hop is not None else []
