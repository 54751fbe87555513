"""Exactly-once projection on the real Kafka and FerretDB: a random interleaving of the cases' events,
with duplicates injected as a redelivering broker would, gives the same documents as a clean run."""

from __future__ import annotations

import random
import time
from typing import Any

from pymongo import AsyncMongoClient

from contracts.catalogue import AgencyCode
from contracts.events import Envelope, RouteReason, SlaKind
from services.tracking.adapters.cases import MongoCaseStore
from services.tracking.domain.projection import apply_all
from services.tracking.service.project_events import apply_events
from tests.integration.tracking.conftest import publish
from tests.support.kafka import wait_for
from tests.support.processes import ServiceProcess
from tests.unit.tracking.factory import CaseEvents


def lifecycle(c: CaseEvents, variant: int) -> list[Envelope]:
    s1, s2 = f"{c.case_id}-s1", f"{c.case_id}-s2"
    if variant == 0:  # the happy path, with its SMS
        return [
            c.registered(),
            c.sms_sent(s1),
            c.routed(),
            c.sms_delivered(s1),
            c.acknowledged(),
            c.note(),
            c.resolved(),
            c.sms_sent(s2),
            c.closed(),
        ]
    if variant == 1:  # declined once, then routed elsewhere and rejected
        return [
            c.registered(),
            c.routed(AgencyCode.roads_urban_development),
            c.reroute(AgencyCode.roads_urban_development),
            c.routed(reason=RouteReason.reroute),
            c.acknowledged(),
            c.sms_failed(s2),
            c.rejected(),
        ]
    if variant == 2:  # triage, a person routes, resolved, reopened, resolved again
        return [
            c.registered(),
            c.triage(),
            c.routed(reason=RouteReason.manual),
            c.acknowledged(),
            c.resolved(),
            c.reopened(),
            c.acknowledged(),
            c.resolved(answer="دوباره بررسی و حل شد"),
        ]
    if variant == 3:  # an illegal resolve is recorded as rejected, then the case goes on
        return [c.registered(), c.routed(), c.resolved(), c.repeat_call(), c.acknowledged(), c.sms_sent(s1)]
    head = [c.registered(), c.routed()]  # variant 4: the acknowledge deadline passes
    due = apply_all(None, head).due.acknowledge
    assert due is not None
    return [*head, c.breached(SlaKind.acknowledge, due), c.acknowledged(), c.note(text="دیر پذیرفته شد")]


def messy(per_case: list[list[Envelope]], rng: random.Random) -> list[Envelope]:
    """Interleave the cases randomly, each in its own order, re-sending earlier events now and then."""
    queues = [list(events) for events in per_case]
    sent: list[list[Envelope]] = [[] for _ in per_case]
    out: list[Envelope] = []
    while any(queues):
        i = rng.choice([k for k, q in enumerate(queues) if q])
        event = queues[i].pop(0)
        out.append(event)
        sent[i].append(event)
        while rng.random() < 0.35:
            out.append(rng.choice(sent[i]))
    return out


async def test_random_redelivered_interleaving_equals_a_clean_run(
    tracking: ServiceProcess, tracking_db: str, mongo: AsyncMongoClient[dict[str, Any]], unique: str
) -> None:
    rng = random.Random(unique)
    cases = [CaseEvents(f"redeliver-{unique}-{i}") for i in range(25)]
    per_case = [lifecycle(c, i % 5) for i, c in enumerate(cases)]
    stream = messy(per_case, rng)
    duplicates = len(stream) - sum(len(e) for e in per_case)
    assert duplicates > 10

    started = time.monotonic()
    await publish(stream)
    db = mongo[tracking_db]
    expected_n = {c.case_id: len(events) for c, events in zip(cases, per_case, strict=True)}

    async def all_applied() -> bool:
        docs = await db["cases"].find({"_id": {"$in": list(expected_n)}}, {"n": 1}).to_list(None)
        return len(docs) == len(expected_n) and all(d["n"] == expected_n[d["_id"]] for d in docs)

    await wait_for(all_applied, timeout=120, interval=0.5)
    print(
        f"\n{len(stream)} messages ({duplicates} duplicates) for {len(cases)} cases applied "
        f"in {time.monotonic() - started:.1f}s"
    )

    # The clean run: the same events, once each, case after case, through the same projection.
    clean = MongoCaseStore(db, f"clean_{unique}")
    flat = [e for events in per_case for e in events]
    for i in range(0, len(flat), 7):
        await apply_events(clean, flat[i : i + 7])

    live = {d["_id"]: d for d in await db["cases"].find({"_id": {"$in": list(expected_n)}}).to_list(None)}
    rebuilt = {d["_id"]: d for d in await clean.collection.find({}).to_list(None)}
    assert set(live) == set(rebuilt) == set(expected_n)
    for case_id in expected_n:
        assert live[case_id] == rebuilt[case_id], case_id
    statuses = sorted({d["status"] for d in live.values()})
    assert statuses == ["closed", "in_progress", "rejected", "resolved"]
    # The illegal resolve of variant 3 is in the timeline as rejected, not dropped.
    v3 = live[cases[3].case_id]
    assert [e["rejection"] for e in v3["timeline"] if e["rejected"]] == ["illegal_transition"]
    await clean.collection.drop()


class RacingStore(MongoCaseStore):
    """Stores another writer's version of a case between this writer's read and its write."""

    def __init__(self, db: Any, collection: str, rival: dict[str, Any]) -> None:
        super().__init__(db, collection)
        self.rival = rival

    async def save(self, cases: Any, expected_n: Any) -> Any:
        for cid in list(self.rival):
            if cid in cases:
                await self.collection.replace_one({"_id": cid}, self.rival.pop(cid))
        return await super().save(cases, expected_n)


async def test_two_writers_on_one_case_lose_nothing_on_ferretdb(
    mongo: AsyncMongoClient[dict[str, Any]], tracking_db: str, unique: str
) -> None:
    """During a rebalance the old owner of a partition stores a late batch while the new owner writes:
    the second write sees the first writer's document in place and applies its batch on top."""
    db = mongo[tracking_db]
    c = CaseEvents(f"race-{unique}")
    reg, routed, note, ack, sms = c.registered(), c.routed(), c.note(), c.acknowledged(), c.sms_sent()
    plain = MongoCaseStore(db, f"race_{unique}")
    await apply_events(plain, [reg, routed])
    current = await plain.get(c.case_id)
    rival = {c.case_id: apply_all(current, [note]).to_document()}
    racing = RacingStore(db, f"race_{unique}", rival)
    result = await apply_events(racing, [ack, sms])
    assert result.retries == 1
    stored = await plain.get(c.case_id)
    assert stored == apply_all(None, [reg, routed, note, ack, sms])
    await plain.collection.drop()
