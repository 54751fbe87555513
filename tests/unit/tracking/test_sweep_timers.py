"""The timers on the fakes: breaches and closes published once, even by two replicas; claims taken over
after their lease; an outage publishes nothing and finishes nothing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseStatus
from services.tracking.bootstrap import bootstrap
from services.tracking.service.sweep_timers import SweepTimers
from services.tracking.settings import TrackingSettings
from tests.unit.tracking.factory import CaseEvents
from tests.unit.tracking.fakes import Fakes


async def late_and_quiet(fakes: Fakes) -> tuple[CaseEvents, CaseEvents]:
    late, quiet = CaseEvents("late"), CaseEvents("quiet")
    await fakes.consume(
        [
            late.registered(),
            late.routed(AgencyCode.education),
            quiet.registered(),
            quiet.routed(),
            quiet.acknowledged(),
            quiet.resolved(),
        ]
    )
    return late, quiet


def kinds(events: list) -> Counter[tuple[str, str]]:  # type: ignore[type-arg]
    return Counter(
        (
            e.data.case_id,
            e.type.rsplit(".", 1)[-1] + ":" + str(getattr(e.data, "sla", getattr(e.data, "status", ""))),
        )
        for e in events
    )


async def test_nothing_is_due_before_the_deadlines() -> None:
    fakes = Fakes()
    await late_and_quiet(fakes)
    result = await fakes.tracking.sweep_timers()
    assert result.events == [] and fakes.publisher.events == []


async def test_two_replicas_publish_each_breach_and_close_once() -> None:
    fakes = Fakes()
    late, quiet = await late_and_quiet(fakes)
    fakes.clock.advance(timedelta(days=60))
    other = bootstrap(
        TrackingSettings(),
        cases=fakes.cases,
        calls=fakes.calls,
        claims=fakes.claims,
        publisher=fakes.publisher,
        clock=fakes.clock,
        directory=fakes.directory,
        owner="replica-2",
    )
    first = await fakes.tracking.sweep_timers(limit=1000)
    second = await other.sweep_timers(limit=1000)
    assert (first.acknowledge_breaches, first.resolve_breaches, first.closed) == (1, 1, 1)
    # The ladder's first step (the agency's head) comes at once with the breach.
    assert first.escalations == 1
    assert second.events == [] and second.skipped_claimed == 4
    assert kinds(fakes.publisher.events) == {
        (late.case_id, "sla_breached:acknowledge"): 1,
        (late.case_id, "sla_breached:resolve"): 1,
        (late.case_id, "escalated:resolve"): 1,
        (quiet.case_id, "status_changed:closed"): 1,
    }
    assert all(claim.done for claim in fakes.claims.claims.values())
    # Once applied, the cases have nothing left to do.
    await fakes.consume_published()
    case = await fakes.cases.get(quiet.case_id)
    assert case is not None and case.status == CaseStatus.closed
    again = await fakes.tracking.sweep_timers()
    assert again.events == [] and again.skipped_claimed == 0


async def test_work_a_dead_replica_claimed_is_taken_after_its_lease() -> None:
    fakes = Fakes()
    late, _quiet = await late_and_quiet(fakes)
    fakes.clock.advance(timedelta(days=60))
    # A replica claimed the work and died before publishing it.
    dead = SweepTimers(fakes.cases, fakes.claims, fakes.publisher, fakes.clock, owner="dead")
    fakes.publisher.available = False
    with pytest.raises(ConnectionError):
        await dead()
    assert fakes.publisher.events == [] and not any(c.done for c in fakes.claims.claims.values())
    fakes.publisher.available = True
    within_lease = await fakes.tracking.sweep_timers()
    assert within_lease.events == [] and within_lease.skipped_claimed == 4
    fakes.clock.advance(fakes.tracking.sweep_timers.lease + timedelta(seconds=1))
    taken = await fakes.tracking.sweep_timers()
    assert len(taken.events) == 4
    assert {c.owner for c in fakes.claims.claims.values()} == {fakes.tracking.sweep_timers.owner}
    late_ones = [e for e in taken.events if e.data.case_id == late.case_id]  # type: ignore[attr-defined]
    assert [e.type.rsplit(".", 1)[-1] for e in late_ones] == ["sla_breached", "sla_breached", "escalated"]


async def test_the_limit_bounds_each_kind_of_work() -> None:
    fakes = Fakes()
    cases = [CaseEvents(f"many-{i}") for i in range(3)]
    await fakes.consume([e for c in cases for e in (c.registered(), c.routed())])
    fakes.clock.advance(timedelta(days=60))
    result = await fakes.tracking.sweep_timers(limit=2)
    assert (result.acknowledge_breaches, result.resolve_breaches) == (2, 2)
