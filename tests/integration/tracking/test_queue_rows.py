"""The agencies' queues kept as rows read by ``_id`` (FerretDB v1's inbox) select what the queries and
the fake select, as cases are routed, moved between agencies and finished; a first start gives the
cases stored before it their rows; a row that disagrees with its case is mended when a page shows it;
a rebuild's swap rebuilds the rows."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import EscalationTarget, RouteReason, SlaKind
from services.tracking.adapters.cases import EscalationFilter, InMemoryCaseStore, MongoCaseStore
from services.tracking.adapters.data import load_policy
from services.tracking.adapters.queue_rows import COMPACT_AFTER, GONE, META, OPEN_SLOTS, merged, slot_of
from services.tracking.domain.projection import apply_all
from services.tracking.domain.queue import OPEN, UNASSIGNED, QueueFilter, row_of
from services.tracking.entrypoints.projection import TrackingCases
from services.tracking.service.project_events import apply_events
from tests.integration.tracking.test_stores import history
from tests.unit.tracking.factory import T0, CaseEvents

WATER = AgencyCode.water_wastewater.value
EDUCATION = AgencyCode.education.value


def filters() -> list[QueueFilter]:
    late = T0 + timedelta(days=2)
    return [
        QueueFilter(agency, **kw)
        for agency in (WATER, EDUCATION, AgencyCode.tax_affairs.value)
        for kw in (
            {},
            {"status": OPEN},
            {"status": OPEN, "sort": "urgent"},
            {"status": "in_progress"},
            {"status": "resolved"},
            {"status": "routed", "overdue": True},
            {"overdue": True},
            {"overdue": False, "sort": "urgent"},
            {"county": "neyshabur"},
            {"assignee": UNASSIGNED},
            {"registered_from": late, "registered_to": late + timedelta(days=6)},
            {"status": "resolved", "registered_from": late},
        )
    ]


async def same_pages(store: MongoCaseStore, fake: InMemoryCaseStore) -> None:
    for days in (0, 3, 10, 40):
        now = T0 + timedelta(days=days)
        for f in filters():
            for skip, limit in ((0, 50), (1, 2), (3, 3)):
                a, b = await store.queue(f, now, skip, limit), await fake.queue(f, now, skip, limit)
                assert (a.total, a.items) == (b.total, b.items), (f, days, skip)


@pytest.fixture
async def db(mongo: Any, unique: str) -> Any:
    database = mongo[f"test_tracking_rows_{unique}"]
    try:
        yield database
    finally:
        await mongo.drop_database(database.name)


async def rows_in(db: Any, collection: str = "cases") -> dict[str, set[str]]:
    """Each slot document's case ids (its packed rows with its changes over them)."""
    return {
        d["_id"]: {cid for cid, (_n, packed) in merged(d).items() if packed != GONE}
        async for d in db[f"{collection}_queue"].find({"_id": {"$nin": [META]}})
        if "|months" not in d["_id"]
    }


async def test_rows_kept_as_cases_change_select_what_the_queries_and_the_fake_select(db: Any) -> None:
    store, queried, fake = (
        MongoCaseStore(db, queue_rows=True),
        MongoCaseStore(db, "queried", queue_rows=False),
        InMemoryCaseStore(),
    )
    await store.ensure_indexes()  # an empty store: its rows are complete from the start
    assert await store.rows.complete()
    for s in (store, queried, fake):
        await apply_events(s, history())
    await same_pages(store, fake)
    await same_pages(queried, fake)

    # Every listed case is in exactly one slot, the one its document says; the rerouted case (s07) left
    # the water company's slot, the triaged ones (no agency) have none, the resolved ones are by month.
    slots = await rows_in(db)
    expected: dict[str, set[str]] = {}
    async for doc in db["cases"].find({}):
        row = row_of(doc)
        if row is not None:
            expected.setdefault(slot_of(row), set()).add(row.case_id)
    assert {k: v for k, v in slots.items() if v} == expected
    assert all(slot.count("|") == 2 for slot in expected)
    assert any("|done|" in slot for slot in expected) and any("|open|" in slot for slot in expected)
    assert not any("s07" in ids for slot, ids in slots.items() if slot.startswith(WATER))
    assert all(int(slot.rsplit("|", 1)[1]) < OPEN_SLOTS for slot in expected if "|open|" in slot)


async def test_a_first_start_gives_the_cases_stored_before_it_their_rows(db: Any) -> None:
    before, fake = MongoCaseStore(db, queue_rows=False), InMemoryCaseStore()
    for s in (before, fake):
        await apply_events(s, history())
    assert await db["cases_queue"].count_documents({}) == 0
    store = MongoCaseStore(db, queue_rows=True)
    assert not await store.rows.complete()
    await store.ensure_indexes()
    meta = await db["cases_queue"].find_one({"_id": META})
    listed = await db["cases"].count_documents({"agency": {"$ne": None}, "status": {"$ne": None}})
    assert meta is not None and meta["rows"] == listed > 0
    await same_pages(store, fake)


async def test_a_row_that_disagrees_with_its_case_is_mended_when_a_page_shows_it(db: Any) -> None:
    store, fake = MongoCaseStore(db, queue_rows=True), InMemoryCaseStore()
    await store.ensure_indexes()
    for s in (store, fake):
        await apply_events(s, history())
    resolved = await db["cases"].find_one({"status": "resolved", "agency": WATER})
    assert resolved is not None
    row = row_of(resolved)
    assert row is not None
    # As if a save had written the case and failed before taking its old row away: the resolved case
    # still sits in an open slot as routed.
    stale = replace(row, status="routed")
    await store.rows.put([(stale, resolved["n"])])
    now = T0 + timedelta(days=40)
    shown = await store.queue(QueueFilter(WATER, status=OPEN), now, 0, 50)
    assert resolved["_id"] not in [c.id for c in shown.items]
    expected = await fake.queue(QueueFilter(WATER, status=OPEN), now, 0, 50)
    assert (shown.total, shown.items) == (expected.total, expected.items)
    slots = await rows_in(db)
    assert resolved["_id"] not in slots.get(slot_of(stale), set())
    assert resolved["_id"] in slots[slot_of(row)]
    await same_pages(store, fake)


async def test_a_rebuild_s_swap_gives_the_rebuilt_cases_their_rows(db: Any) -> None:
    store, fake = MongoCaseStore(db, queue_rows=True), InMemoryCaseStore()
    await store.ensure_indexes()
    for s in (store, fake):
        await apply_events(s, history())
    # The rebuilt collection lacks a case the old one had, and holds one the rows never saw.
    gone = await db["cases"].find_one({"status": "in_progress"})
    assert gone is not None
    await db["cases"].delete_one({"_id": gone["_id"]})
    del fake.docs[gone["_id"]]
    extra = fake.docs[next(iter(fake.docs))] | {"_id": "rebuilt-only"}
    await db["cases"].insert_one(dict(extra))
    fake.docs["rebuilt-only"] = dict(extra)

    await TrackingCases().promoted(db, "cases")
    slots = await rows_in(db)
    assert not any(gone["_id"] in ids for ids in slots.values())
    assert any("rebuilt-only" in ids for ids in slots.values()) == (row_of(extra) is not None)
    await same_pages(MongoCaseStore(db, queue_rows=True), fake)


async def test_a_row_is_written_when_it_changes_and_again_when_a_declined_case_comes_back(db: Any) -> None:
    store = MongoCaseStore(db, queue_rows=True)
    await store.ensure_indexes()
    put: list[list[str]] = []
    real_put = store.rows.put

    async def counting(rows: Any) -> None:
        rows = list(rows)
        put.append([r.case_id for r, _n in rows])
        await real_put(rows)

    store.rows.put = counting  # type: ignore[method-assign]
    c = CaseEvents("back-again")
    await apply_events(store, [c.registered(), c.routed()])
    assert put[-1] == ["back-again"]
    await apply_events(store, [c.sms_sent(), c.note()])  # the row is as it was: no slot written
    assert put[-1] == []
    await apply_events(store, [c.reroute(AgencyCode.water_wastewater)])  # declined: out of the queue
    assert not any("back-again" in ids for ids in (await rows_in(db)).values())
    await apply_events(store, [c.routed(AgencyCode.water_wastewater, RouteReason.reroute)])
    assert put[-1] == ["back-again"]
    page = await store.queue(QueueFilter(WATER, status=OPEN), T0 + timedelta(hours=1), 0, 10)
    assert [x.id for x in page.items] == ["back-again"]


async def test_a_slot_s_changes_are_folded_into_its_packed_rows_and_an_older_change_never_wins(
    db: Any,
) -> None:
    store, fake = MongoCaseStore(db, queue_rows=True), InMemoryCaseStore()
    await store.ensure_indexes()
    many = [CaseEvents(f"fold-{i:03}") for i in range(COMPACT_AFTER * OPEN_SLOTS * 3 // 2)]
    routed = [e for c in many for e in (c.registered(), c.routed())]
    acknowledged = [c.acknowledged() for c in many[::2]]
    for s in (store, fake):
        await apply_events(s, routed)
        await apply_events(s, acknowledged)
    before = {d["_id"]: len(d.get("delta") or {}) async for d in db["cases_queue"].find({})}
    assert max(before.values()) > COMPACT_AFTER
    await same_pages(store, fake)  # the reads find long change lists and fold them
    await asyncio.gather(*store.rows._tasks)
    after = [d async for d in db["cases_queue"].find({"_id": {"$regex": "[|]open[|]"}})]
    assert after and all(len(d.get("delta") or {}) <= COMPACT_AFTER for d in after)
    assert all(
        d.get("packed") and d.get("generation") == 1 for d in after if before[d["_id"]] > COMPACT_AFTER
    )
    await same_pages(store, fake)
    # A change of an older version (a writer that lost its partition, late) does not undo a newer one.
    doc = await db["cases"].find_one({"_id": "fold-000"})
    row = row_of(doc)
    assert row is not None and row.status == "in_progress"
    await store.rows.put([(replace(row, status="routed"), doc["n"] - 1)])
    await same_pages(store, fake)


async def test_a_page_shows_a_case_it_read_before_without_reading_it_again_until_the_case_changes(
    db: Any,
) -> None:
    store = MongoCaseStore(db, queue_rows=True)
    await store.ensure_indexes()
    cases = [CaseEvents(f"listed-{i}", start=T0 + timedelta(hours=i)) for i in range(3)]
    await apply_events(store, [e for c in cases for e in (c.registered(), c.routed())])
    reads: list[str] = []
    find_one = store.collection.find_one

    async def counted(query: dict[str, Any], *args: Any, **kw: Any) -> Any:
        reads.append(query["_id"])
        return await find_one(query, *args, **kw)

    store.collection.find_one = counted  # type: ignore[method-assign,assignment]
    f, now = QueueFilter(WATER, status=OPEN), T0 + timedelta(days=1)
    first = await store.queue(f, now, 0, 10)
    assert sorted(reads) == ["listed-0", "listed-1", "listed-2"]
    reads.clear()
    assert (await store.queue(f, now, 0, 10)).items == first.items
    assert reads == []  # every row still at the version the page read
    await apply_events(store, [cases[1].acknowledged()])
    reads.clear()  # the projection's own read of the case
    changed = await store.queue(f, now, 0, 10)
    assert reads == ["listed-1"]  # only the case that changed is read again
    assert {c.id: str(c.status) for c in changed.items}["listed-1"] == "in_progress"


async def test_escalation_queues_from_the_rows_list_what_the_queries_and_the_fake_list(db: Any) -> None:
    store, queried, fake = (
        MongoCaseStore(db, queue_rows=True),
        MongoCaseStore(db, "queried", queue_rows=False),
        InMemoryCaseStore(),
    )
    await store.ensure_indexes()
    events = []
    for i in range(6):
        c = CaseEvents(f"late-{i}", start=T0 + timedelta(hours=i))
        first = [c.registered(), c.routed()]
        deadline = apply_all(None, first, load_policy()).due.acknowledge
        assert deadline is not None
        at = deadline + timedelta(minutes=10 - i)  # the later the case, the longer late
        events += [*first, c.breached(SlaKind.acknowledge, deadline, at=at)]
        if i != 5:  # the last is late but has reached nobody yet
            events.append(c.escalated(1, EscalationTarget.agency_head, deadline, at=at))
        if i in (1, 3):
            events.append(c.escalated(2, EscalationTarget.supervisor, deadline, at=at + timedelta(hours=5)))
        if i == 2:  # acknowledged late: its escalation ends
            events.append(c.acknowledged(at=at + timedelta(hours=1)))
    for s in (store, queried, fake):
        await apply_events(s, events)

    async def no_query(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the escalation queue queried the cases (FerretDB reads every one)")

    store.collection.count_documents = no_query  # type: ignore[method-assign]
    for f in (
        EscalationFilter(EscalationTarget.agency_head, WATER),
        EscalationFilter(EscalationTarget.agency_head),
        EscalationFilter(EscalationTarget.supervisor),
        EscalationFilter(EscalationTarget.supervisor, EDUCATION),
    ):
        for skip, limit in ((0, 50), (1, 2)):
            a = await store.escalated(f, skip, limit)
            b = await fake.escalated(f, skip, limit)
            q = await queried.escalated(f, skip, limit)
            assert (a.total, a.items) == (b.total, b.items) == (q.total, q.items), (f, skip)
    heads = await store.escalated(EscalationFilter(EscalationTarget.agency_head, WATER), 0, 50)
    assert [c.id for c in heads.items] == ["late-4", "late-3", "late-1", "late-0"]
