"""`samad replay rebuild tracking --swap` after the live collection was corrupted restores identical
documents. The live collection is written by tracking's own live path (apply_events on its store)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CaseRegistered,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    Citizen,
    Envelope,
    EventData,
    RouteReason,
    SmsDelivered,
    SmsSent,
    deterministic_id,
    make_event,
)
from contracts.topics import CASES
from contracts.tracking_code import from_seed
from services.common.mongo import SECONDARY_INDEXES_ENV
from services.ops.adapters.kafka import KafkaLog
from services.ops.domain.records import Outgoing
from services.tracking.adapters.cases import MongoCaseStore
from services.tracking.adapters.data import load_policy
from services.tracking.service.project_events import apply_events


def history(n: int, unique: str, start: datetime) -> list[EventData]:
    case_id = f"case-{n}-{unique}"
    agency = list(AgencyCode)[n % 14]
    staff = Actor(kind=ActorKind.agency_staff, id=f"staff-{n}", agency=agency)
    phone = f"+98912{n:01d}{int(unique, 16) % 10**6:06d}"
    sms_id = deterministic_id("sms", case_id)
    events: list[EventData] = [
        CaseRegistered(
            case_id=case_id,
            tracking_code=from_seed(case_id),
            county="mashhad",
            citizen=Citizen(phone=phone, name="شهروند"),
            subject="قطعی آب",
            description=f"آب محله از دیروز قطع است ({n})",
            registered_at=start,
        ),
        CaseRouted(case_id=case_id, agency=agency, reason=RouteReason.classifier, confidence=0.8),
        SmsSent(
            sms_id=sms_id,
            case_id=case_id,
            source_event_id=deterministic_id("src", case_id),
            template="registered",
            recipient=phone,
            text="سامانه ۱۱۱: پرونده شما ثبت شد.",
            parts=1,
            provider="file",
        ),
        SmsDelivered(
            sms_id=sms_id, case_id=case_id, provider="file", delivered_at=start + timedelta(minutes=2)
        ),
    ]
    if n % 3:
        events.append(
            CaseStatusChanged(case_id=case_id, status=CaseStatus.in_progress, agency=agency, actor=staff)
        )
    if n % 3 == 2:
        events.append(
            CaseStatusChanged(
                case_id=case_id,
                status=CaseStatus.resolved,
                agency=agency,
                answer="لوله تعمیر شد.",
                actor=staff,
            )
        )
    if n == 4:  # an illegal move is kept in the timeline as rejected
        events.append(CaseStatusChanged(case_id=case_id, status=CaseStatus.closed, actor=staff))
    return events


async def test_rebuild_restores_a_corrupted_live_collection(
    log: KafkaLog, make_topic, mongo, samad, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tracking's secondary indexes exist, as on MongoDB (on FerretDB 1.x they are left out by default):
    # the swapped collection must carry them.
    monkeypatch.setenv(SECONDARY_INDEXES_ENV, "always")
    cases_topic = await make_topic("tcases", 3)
    sms_topic = await make_topic("tsms", 3)
    start = datetime.now(UTC) - timedelta(days=2)
    envelopes: list[Envelope] = []
    for n in range(12):
        for i, data in enumerate(history(n, unique, start + timedelta(minutes=n))):
            envelopes.append(
                make_event(data, source="/samad/test", time=start + timedelta(minutes=n, seconds=i))
            )
    await log.send(
        Outgoing(
            cases_topic if e.topic == CASES else sms_topic,
            e.key,
            e.to_json(),
            [("content-type", b"application/cloudevents+json")],
        )
        for e in envelopes
    )

    db_name = f"test_tracking_ops_{unique}"
    db = mongo[db_name]
    live = MongoCaseStore(db)
    await live.ensure_indexes()
    policy = load_policy()
    for i in range(0, len(envelopes), 7):  # the live consumer's path, in batches
        await apply_events(live, envelopes[i : i + 7], policy)
    original = [d async for d in db.cases.find({}).sort("_id")]
    assert len(original) == 12

    await db.cases.update_one(
        {"_id": f"case-2-{unique}"}, {"$set": {"status": "closed", "agency": "welfare"}}
    )
    await db.cases.delete_one({"_id": f"case-5-{unique}"})
    await db.cases.insert_one({"_id": f"case-ghost-{unique}", "n": 1, "status": "registered", "timeline": []})

    topics = ("--topic", cases_topic, "--topic", sms_topic)
    env = {
        "SAMAD_TRACKING_DB_NAME": db_name,
        "SAMAD_CONSUMER_GROUP_PREFIX": f"test.opsrebuild.{unique}",
        SECONDARY_INDEXES_ENV: "always",
    }
    try:
        compared = samad("replay", "rebuild", "tracking", "--sample", "0", *topics, extra_env=env)
        assert compared.returncode == 0, compared.stdout + compared.stderr
        assert f"only in live:   case-ghost-{unique}" in compared.stdout
        assert f"only in shadow: case-5-{unique}" in compared.stdout
        assert f"case-2-{unique}" in compared.stdout and "status: live 'closed' != shadow" in compared.stdout
        assert "differences found" in compared.stdout
        assert [d async for d in db.cases.find({}).sort("_id")] != original  # nothing swapped yet

        swapped = samad("replay", "rebuild", "tracking", "--swap", *topics, extra_env=env)
        assert swapped.returncode == 0, swapped.stdout + swapped.stderr
        assert "swapped:" in swapped.stdout

        restored = [d async for d in db.cases.find({}).sort("_id")]
        assert restored == original  # identical documents, field for field
        indexes = await db.cases.index_information()
        assert "tracking_code" in indexes and "agency_status_registered" in indexes
        run_id = re.search(r"run (\S+):", swapped.stdout).group(1)
        backups = [n for n in await db.list_collection_names() if n.startswith("cases__replaced_")]
        # FerretDB keeps the replaced collection (no dropTarget); MongoDB replaces it in one step.
        assert backups in ([f"cases__replaced_{run_id.replace('-', '_')}"], [])
    finally:
        await mongo.drop_database(db_name)
