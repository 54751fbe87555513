"""Routing's service layer: turns incoming events and staff requests into stored hops and events.

Every effect is stored before it is published, keyed by its cause event id: a redelivered
case.registered or case.reroute_requested republishes the very event stored the first time
(same id, same content) instead of deciding again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    Candidate,
    CaseRegistered,
    CaseRerouteRequested,
    CaseRouted,
    CaseTriageRequired,
    Envelope,
    EventData,
    decode,
    deterministic_id,
    make_event,
    utcnow,
)
from services.routing.adapters.store import CaseRecord, Hop, RoutingStore
from services.routing.domain.classifier import Classification, Classifier
from services.routing.domain.roster import DutySession, session_at
from services.routing.domain.routing import Decision, Routed, Triage, manual, reroute, route_new_case
from services.routing.settings import RoutingSettings

log = logging.getLogger("samad.routing")
SOURCE = "/samad/routing"


class CaseNotFound(LookupError):
    pass


class NotInTriage(RuntimeError):
    def __init__(self, record: CaseRecord) -> None:
        super().__init__(f"case {record.case_id} is {record.status}, not waiting for triage")
        self.record = record


def decision_event_id(cause_id: str) -> str:
    """The id of routing's answer to one cause event: the same cause always yields the same id."""
    return deterministic_id("routing", "decision", cause_id)


@dataclass(frozen=True)
class ClassifyResult:
    agency: AgencyCode | None
    confidence: float
    explanation: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "agency": self.agency.value if self.agency else None,
            "confidence": round(self.confidence, 4),
            "explanation": self.explanation,
        }


def decide_text(
    classifier: Classifier,
    threshold: float,
    text: str,
    category: str | None = None,
    operator_agency: AgencyCode | None = None,
) -> ClassifyResult:
    """What routing decides for a new case with this text: the consumer, the API and the CLI use this."""
    decision = route_new_case(classifier.classify(text, category), operator_agency, threshold)
    if isinstance(decision, Routed):
        return ClassifyResult(decision.agency, decision.confidence, decision.explanation)
    top = decision.candidates[0][1] if decision.candidates else 0.0
    return ClassifyResult(None, top, decision.explanation)


class RoutingService:
    def __init__(
        self,
        store: RoutingStore,
        classifier: Classifier,
        settings: RoutingSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.classifier = classifier
        self.settings = settings
        self.clock = clock
        self.tz = ZoneInfo(settings.roster_timezone)

    # --- classification (the CLI and the consumer share this path) ---------------------------------

    def classification(self, text: str, category: str | None = None) -> Classification:
        return self.classifier.classify(text, category)

    def decide_text(
        self, text: str, category: str | None = None, operator_agency: AgencyCode | None = None
    ) -> ClassifyResult:
        return decide_text(self.classifier, self.settings.routing_threshold, text, category, operator_agency)

    # --- events ----------------------------------------------------------------------------------

    async def on_event(self, event: Envelope, replay: bool = False) -> list[Envelope]:
        if isinstance(event.data, CaseRegistered):
            return await self.on_registered(event, replay)
        if isinstance(event.data, CaseRerouteRequested):
            return await self.on_reroute_requested(event, replay)
        return []

    async def on_registered(self, event: Envelope, replay: bool = False) -> list[Envelope]:
        data = event.data
        assert isinstance(data, CaseRegistered)
        # No lookup first: a registration is nearly always new, and one seen before (a redelivery, a
        # replay, another replica) fails the create below and is answered from the stored record.
        text = f"{data.subject}\n{data.description}"
        decision = route_new_case(
            self.classification(text, data.category), data.operator_agency, self.settings.routing_threshold
        )
        record = CaseRecord(
            case_id=data.case_id,
            province=data.province,
            subject=data.subject,
            description=data.description,
            category=data.category,
            operator_agency=data.operator_agency,
            registered_at=data.registered_at,
            registered_event_id=event.id,
            duty_session_id=data.duty_session_id,
        )
        envelope = await self._envelope(decision, record, event)
        hop = self._hop(event.id, envelope, decision)
        record = replace(
            record,
            status="routed" if isinstance(decision, Routed) else "triage",
            agency=decision.agency if isinstance(decision, Routed) else None,
            hops=(hop,),
        )
        if not await self.store.create_case(record):
            # Another consumer instance got there first: publish what it stored.
            again = await self.store.get_case(data.case_id)
            return self._again(again, event.id, replay) if again else []
        log.info("case %s: %s", data.case_id, _describe(decision))
        return [envelope]

    async def on_reroute_requested(self, event: Envelope, replay: bool = False) -> list[Envelope]:
        data = event.data
        assert isinstance(data, CaseRerouteRequested)
        record = await self.store.get_case(data.case_id)
        if record is None:
            # Registered before routing kept cases (or its registration was lost): a person decides.
            record = CaseRecord(
                case_id=data.case_id,
                province=self.settings.province,
                subject="",
                description="",
                category=None,
                operator_agency=None,
                registered_at=event.time,
                registered_event_id=None,
            )
            await self.store.create_case(record)
            record = await self.store.get_case(data.case_id) or record
        if record.hop_for(event.id) is not None or event.id in record.ignored_causes:
            return self._again(record, event.id, replay)
        if record.status == "routed" and record.agency is not None and record.agency != data.agency:
            # The agency no longer has the case (it was already moved on): remember its decline only.
            await self.store.add_declined(record.case_id, data.agency, event.id)
            log.info("case %s: stale decline by %s recorded", record.case_id, data.agency.value)
            return []
        declined = tuple(dict.fromkeys((*record.declined, data.agency)))
        decision = reroute(
            self.classification(record.text, record.category),
            declined,
            data.reason,
            self.settings.routing_threshold,
            self.settings.routing_max_declines,
        )
        envelope = await self._envelope(decision, record, event)
        hop = self._hop(event.id, envelope, decision)
        stored = await self.store.add_hop(
            record.case_id,
            hop,
            status="routed" if isinstance(decision, Routed) else "triage",
            agency=decision.agency if isinstance(decision, Routed) else None,
            declined=declined,
        )
        if not stored:
            again = await self.store.get_case(record.case_id)
            return self._again(again, event.id, replay) if again else []
        log.info("case %s: declined by %s, %s", record.case_id, data.agency.value, _describe(decision))
        return [envelope]

    # --- manual triage -----------------------------------------------------------------------------

    async def decide_triage(
        self, case_id: str, chosen: AgencyCode, actor: Actor, note: str | None = None
    ) -> tuple[Envelope, bool]:
        """Route a case waiting in triage. Returns the event and whether it is new (False: a repeat)."""
        record = await self.store.get_case(case_id)
        if record is None:
            raise CaseNotFound(case_id)
        if record.status != "triage":
            last = record.last_hop
            # The same decision sent twice (a retried request) answers with the same event.
            if last is not None and last.reason == "manual" and last.agency == chosen:
                return decode(last.event_json), False
            raise NotInTriage(record)
        triage_hop = record.last_hop
        assert triage_hop is not None
        cause = decode(triage_hop.event_json)
        decision = manual(chosen, actor.id, note, record.declined)
        envelope = await self._envelope(decision, record, cause, actor)
        hop = self._hop(cause.id, envelope, decision)
        if not await self.store.add_hop(
            case_id, hop, status="routed", agency=chosen, declined=record.declined, expect_status="triage"
        ):
            again = await self.store.get_case(case_id)
            if again is not None and (h := again.hop_for(cause.id)) is not None and h.agency == chosen:
                return decode(h.event_json), False
            raise NotInTriage(again or record)
        return envelope, True

    # --- helpers -----------------------------------------------------------------------------------

    def _again(self, record: CaseRecord, cause_id: str, replay: bool) -> list[Envelope]:
        hop = record.hop_for(cause_id)
        if hop is None or replay:
            return []
        return [decode(hop.event_json)]

    async def live_session(self, record: CaseRecord, chosen: AgencyCode) -> DutySession | None:
        entries = await self.store.roster_entries(record.province)
        session = session_at(entries, chosen, record.province, record.registered_at, self.tz)
        if session is None and record.duty_session_id:
            for entry in entries:
                if entry.agency == chosen:
                    session = next(
                        (s for s in entry.sessions(self.tz) if s.id == record.duty_session_id), None
                    )
                    if session:
                        break
        return session

    async def _envelope(
        self, decision: Decision, record: CaseRecord, cause: Envelope, actor: Actor | None = None
    ) -> Envelope:
        data: EventData
        if isinstance(decision, Routed):
            session = await self.live_session(record, decision.agency)
            data = CaseRouted(
                case_id=record.case_id,
                agency=decision.agency,
                reason=decision.reason,
                confidence=round(decision.confidence, 4),
                explanation=decision.explanation,
                declined_agencies=list(decision.declined),
                live_session=session is not None,
                duty_session_id=session.id if session else None,
                actor=actor or Actor(kind=ActorKind.system, id="routing"),
            )
        else:
            assert isinstance(decision, Triage)
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
            data, source=SOURCE, event_id=decision_event_id(cause.id), time=self.clock(), cause=cause
        )

    @staticmethod
    def _hop(cause_id: str, envelope: Envelope, decision: Decision) -> Hop:
        return Hop(
            cause_id=cause_id,
            event_id=envelope.id,
            event_type=envelope.type,
            event_json=envelope.to_json().decode(),
            agency=decision.agency if isinstance(decision, Routed) else None,
            reason=decision.reason.value,
            at=envelope.time,
        )


def _describe(decision: Decision) -> str:
    if isinstance(decision, Routed):
        return f"routed to {decision.agency.value} ({decision.reason.value}, {decision.confidence:.2f})"
    return f"triage ({decision.reason.value})"


def actor_of(kind: ActorKind, subject: str) -> Actor:
    return Actor(kind=kind, id=subject)
