"""Triage: a supervisor or operator routes a case waiting for a person; the queue of such cases; the
routing history of a case.

A manual decision is stored, then published. The same decision sent again (a retried request) is
answered with the stored event, published again, and reported as not new.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.catalogue import AgencyCode
from contracts.events import Actor, CaseTriageRequired, Envelope, decode
from services.common.publishing import Publisher
from services.routing.adapters.cases import RoutingStore
from services.routing.domain.cases import CaseRecord, decision_for, repeated_decision, waiting_for_triage
from services.routing.domain.routing import manual
from services.routing.service.answer import Answers, hop_of


class CaseNotFound(LookupError):
    pass


class NotInTriage(RuntimeError):
    def __init__(self, record: CaseRecord) -> None:
        super().__init__(f"case {record.case_id} is {record.status}, not waiting for triage")
        self.record = record


class DecideTriage:
    def __init__(self, cases: RoutingStore, answers: Answers, publisher: Publisher) -> None:
        self.cases = cases
        self.answers = answers
        self.publisher = publisher

    async def __call__(
        self, case_id: str, chosen: AgencyCode, actor: Actor, note: str | None = None
    ) -> tuple[Envelope, bool]:
        """Route a case waiting in triage and publish it. Returns the event and whether it is new."""
        envelope, new = await self.decide(case_id, chosen, actor, note)
        await self.publisher.publish([envelope])
        return envelope, new

    async def decide(
        self, case_id: str, chosen: AgencyCode, actor: Actor, note: str | None = None
    ) -> tuple[Envelope, bool]:
        """Store the decision (nothing published). Returns the event and whether it is new."""
        record = await self.cases.get_case(case_id)
        if record is None:
            raise CaseNotFound(case_id)
        if not waiting_for_triage(record):
            if (repeat := repeated_decision(record, chosen)) is not None:
                return decode(repeat.event_json), False
            raise NotInTriage(record)
        triage_hop = record.last_hop
        assert triage_hop is not None
        cause = decode(triage_hop.event_json)
        decision = manual(chosen, actor.id, note, record.declined)
        envelope = await self.answers.envelope(decision, record, cause, actor)
        if not await self.cases.add_hop(
            case_id,
            hop_of(cause.id, envelope, decision),
            status="routed",
            agency=chosen,
            declined=record.declined,
            expect_status="triage",
        ):
            again = await self.cases.get_case(case_id)
            if again is not None and (hop := decision_for(again, cause.id, chosen)) is not None:
                return decode(hop.event_json), False
            raise NotInTriage(again or record)
        return envelope, True


@dataclass(frozen=True)
class Waiting:
    """A case in the triage queue, with the event that sent it there (None if it was not stored)."""

    record: CaseRecord
    why: CaseTriageRequired | None


class TriageQueue:
    def __init__(self, cases: RoutingStore) -> None:
        self.cases = cases

    async def __call__(self, province: str | None, limit: int) -> list[Waiting]:
        out = []
        for record in await self.cases.triage_queue(province, limit):
            last = record.last_hop
            data = decode(last.event_json).data if last else None
            out.append(Waiting(record, data if isinstance(data, CaseTriageRequired) else None))
        return out


class RoutingHistory:
    def __init__(self, cases: RoutingStore) -> None:
        self.cases = cases

    async def __call__(self, case_id: str) -> tuple[CaseRecord, list[tuple[str, Envelope]]]:
        """The case and every hop as (cause id, event published)."""
        record = await self.cases.get_case(case_id)
        if record is None:
            raise CaseNotFound(case_id)
        return record, [(h.cause_id, decode(h.event_json)) for h in record.hops]
