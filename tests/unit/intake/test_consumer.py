"""The case-view consumer through FastStream's in-memory TestKafkaBroker: decoded, filtered, applied once,
poison dead-lettered. The live broker is exercised by tests/integration/intake/test_api.py."""

from __future__ import annotations

from faststream.kafka import KafkaMessage, TestKafkaBroker

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CaseNoteAdded,
    CaseRegistered,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    Citizen,
    RouteReason,
    make_event,
)
from contracts.headers import dlq
from contracts.topics import CASES, DEADLETTER
from services.intake.entrypoints import consumer
from tests.unit.intake.conftest import NOW, World

STAFF = Actor(kind=ActorKind.agency_staff, id="s1", agency=AgencyCode.water_wastewater)


def registered(case_id: str) -> bytes:
    data = CaseRegistered(
        case_id=case_id,
        tracking_code="1234567890",
        county="mashhad",
        citizen=Citizen(phone="+989151234567"),
        subject="قطعی آب",
        description="آب محله ما از دیروز قطع است",
        registered_at=NOW,
    )
    return make_event(data, source="/samad/intake", time=NOW).to_json()


async def test_case_events_keep_the_view_and_a_redelivery_changes_nothing(world: World) -> None:
    consumer.register(world.intake)
    routed = make_event(
        CaseRouted(
            case_id="c1", agency=AgencyCode.water_wastewater, reason=RouteReason.classifier, confidence=0.9
        ),
        source="/samad/routing",
    ).to_json()
    progress = make_event(
        CaseStatusChanged(case_id="c1", status=CaseStatus.in_progress, actor=STAFF), source="/t"
    )
    async with TestKafkaBroker(world.intake.broker) as test:
        await test.publish(registered("c1"), CASES, key=b"c1")
        await test.publish(routed, CASES, key=b"c1")
        await test.publish(progress.to_json(), CASES, key=b"c1")
        await test.publish(progress.to_json(), CASES, key=b"c1")  # redelivered
    view = world.store.cases["c1"]
    assert (view.status, view.agency) == ("in_progress", AgencyCode.water_wastewater)
    assert len(world.store.seen["c1"]) == 3


async def test_events_intake_does_not_need_are_skipped_and_poison_is_dead_lettered(world: World) -> None:
    consumer.register(world.intake)
    dead: list[dict[str, str]] = []

    @world.intake.broker.subscriber(DEADLETTER)
    async def watch(msg: KafkaMessage) -> None:
        dead.append(dict(msg.headers))

    note = make_event(CaseNoteAdded(case_id="c2", text="x", actor=STAFF), source="/t").to_json()
    async with TestKafkaBroker(world.intake.broker) as test:
        await test.publish(registered("c2"), CASES, key=b"c2")
        await test.publish(note, CASES, key=b"c2")
        await test.publish(b"{not json", CASES, key=b"c2")
    assert world.store.seen["c2"] and len(world.store.seen["c2"]) == 1  # the note was not applied
    assert [h[dlq("reason")] for h in dead] == ["undecodable"]
    assert dead[0][dlq("service")] == "intake" and dead[0][dlq("group")] == world.intake.settings.group(
        "intake"
    )
