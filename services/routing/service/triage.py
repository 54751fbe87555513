"""Triage: a supervisor or operator routes a case waiting for a person; the queue of such cases; the
routing history of a case.

A manual decision is stored, then published. Its event is recorded as owed before the decision is
stored and struck off once Kafka has it: when publishing fails (or takes longer than the request may
wait), the decision stays stored, ``DecisionOwed`` says so, and the re-publisher (service/republish.py)
publishes the stored event later, with the same id. The same decision sent again (a retried request)
is answered with the stored event, and publishes it only while it is still owed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from contracts.catalogue import AgencyCode
from contracts.events import Actor, CaseTriageRequired, Envelope, decode
from services.common.publishing import Publisher
from services.routing.adapters.cases import RoutingStore
from services.routing.domain.cases import (
    CaseRecord,
    OwedEvent,
    decision_for,
    repeated_decision,
    waiting_for_triage,
)
from services.routing.domain.routing import manual
from services.routing.service.answer import Answers, hop_of

log = logging.getLogger("samad.routing")


class CaseNotFound(LookupError):
    pass


class NotInTriage(RuntimeError):
    def __init__(self, record: CaseRecord) -> None:
        super().__init__(f"case {record.case_id} is {record.status}, not waiting for triage")
        self.record = record


class DecisionOwed(RuntimeError):
    """The decision is stored but Kafka has not confirmed its event: the event stays owed and the
    re-publisher publishes it (the same event, same id) once Kafka takes it."""

    def __init__(self, envelope: Envelope, new: bool) -> None:
        super().__init__(f"decision {envelope.id} on case {envelope.subject} is stored; its event is owed")
        self.envelope = envelope
        self.new = new


class DecideTriage:
    def __init__(
        self, cases: RoutingStore, answers: Answers, publisher: Publisher, publish_timeout: float
    ) -> None:
        self.cases = cases
        self.answers = answers
        self.publisher = publisher
        self.publish_timeout = publish_timeout

    async def __call__(
        self, case_id: str, chosen: AgencyCode, actor: Actor, note: str | None = None
    ) -> tuple[Envelope, bool]:
        """Route a case waiting in triage and publish it. Returns the event and whether it is new;
        raises ``DecisionOwed`` when the decision is stored but its event could not be published."""
        envelope, new = await self.decide(case_id, chosen, actor, note)
        if new or await self.cases.is_owed(envelope.id):
            await self.publish(envelope, new)
        return envelope, new

    async def publish(self, envelope: Envelope, new: bool) -> None:
        """Publish an owed decision and strike it off; ``DecisionOwed`` if Kafka does not take it in time.

        Any failure leaves the event owed: the decision is stored whatever went wrong, so the answer
        must say so. An event that still lands after the timeout is published again later with the
        same id, which consumers absorb."""
        try:
            await asyncio.wait_for(self.publisher.publish([envelope]), self.publish_timeout)
        except Exception as exc:
            log.warning(
                "case %s: manual decision %s stored, publishing it failed (%r); it stays owed",
                envelope.subject,
                envelope.id,
                exc,
            )
            await self.still_owed(envelope)
            raise DecisionOwed(envelope, new) from exc
        await settle(self.cases, envelope.id)

    async def still_owed(self, envelope: Envelope) -> None:
        """Record the debt again before saying it is owed: a request stalled long enough may find it
        dropped by the re-publisher (the case looked as if it had moved on) while it was storing."""
        try:
            await self.cases.owe(
                OwedEvent(envelope.id, envelope.subject, envelope.causationid or "", envelope.time)
            )
        except Exception as exc:
            log.error(
                "case %s: decision %s may not be recorded as owed (%r)", envelope.subject, envelope.id, exc
            )

    async def decide(
        self, case_id: str, chosen: AgencyCode, actor: Actor, note: str | None = None
    ) -> tuple[Envelope, bool]:
        """Store the decision with its event owed (nothing published). Returns the event and whether it
        is new."""
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
        # The debt first: a decision is never stored without it. One recorded by a request that then
        # stores nothing is dropped by the re-publisher once the case no longer waits on this cause.
        await self.cases.owe(OwedEvent(envelope.id, case_id, cause.id, envelope.time))
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


async def settle(cases: RoutingStore, event_id: str) -> None:
    """Strike a published event off. If that fails the event stays owed and is published once more
    later (same id): not worth failing an answer whose event is out."""
    try:
        await cases.settle(event_id)
    except Exception as exc:
        log.warning("event %s is published but still marked owed (%r); it will go out again", event_id, exc)


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
