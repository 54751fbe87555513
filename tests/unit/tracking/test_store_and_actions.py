"""Batch application with compare-and-set, staff actions against the state machine, citizen views."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseStatus, Envelope
from services.tracking.adapters.ratelimit import TokenBucket
from services.tracking.adapters.store import FakeCaseStore, apply_events
from services.tracking.domain.actions import ACTION_ROLES, ActionKind, ActionRequest, MissingText
from services.tracking.domain.projection import apply_all
from services.tracking.domain.views import citizen_view, mask_phone, phone_matches, staff_view
from services.tracking.service import ActionConflict, TrackingService
from tests.unit.tracking.factory import T0, CaseEvents


class Collect:
    def __init__(self) -> None:
        self.events: list[Envelope] = []

    async def publish(self, events: Iterable[Envelope], headers: dict[str, str] | None = None) -> None:
        self.events.extend(events)


def service(store: FakeCaseStore, publisher: Collect) -> TrackingService:
    from services.tracking.domain.projection import DEFAULT_POLICY

    return TrackingService(
        store, None, None, publisher, DEFAULT_POLICY, clock=lambda: T0 + timedelta(hours=1)
    )  # type: ignore[arg-type]


async def test_a_batch_writes_each_case_once() -> None:
    store = FakeCaseStore()
    a, b = CaseEvents("a"), CaseEvents("b")
    batch = [a.registered(), b.registered(), a.routed(), b.routed(), a.note(), a.sms_sent()]
    result = await apply_events(store, batch)
    assert result.cases_written == 2 and store.writes == 2
    assert store.docs["a"]["n"] == 4 and store.docs["b"]["n"] == 2
    # The same batch again (a redelivery) writes nothing.
    again = await apply_events(store, batch)
    assert again.cases_written == 0 and store.writes == 2


async def test_a_lost_compare_and_set_reloads_and_reapplies() -> None:
    store = FakeCaseStore()
    c = CaseEvents("c")
    reg, routed, note, ack = c.registered(), c.routed(), c.note(), c.acknowledged()
    await apply_events(store, [reg, routed])
    # Another writer stores a note between our read and our write; our batch does not have it.
    store.race["c"] = apply_all(await store.get("c"), [note])
    result = await apply_events(store, [ack])
    assert result.retries == 1
    doc = await store.get("c")
    assert doc == apply_all(None, [reg, routed, note, ack])


async def test_a_rival_write_of_the_same_events_needs_no_second_write() -> None:
    store = FakeCaseStore()
    c = CaseEvents("s")
    reg, routed, note, ack = c.registered(), c.routed(), c.note(), c.acknowledged()
    await apply_events(store, [reg, routed])
    # Another writer stores the note (the same event) between our read and our write.
    store.race["s"] = apply_all(await store.get("s"), [note])
    writes = store.writes
    result = await apply_events(store, [note, ack])
    assert result.retries == 0 and store.writes == writes + 1
    doc = await store.get("s")
    assert doc == apply_all(None, [reg, routed, note, ack])
    assert [e.event_id for e in doc.timeline].count(note.id) == 1


async def test_a_document_put_back_to_an_older_version_is_completed_again() -> None:
    """A late write (of an attempt that failed) puts an older version of the case back: the next
    batch, applied to the cached case, writes every event again instead of building on the old one."""
    from services.tracking.adapters.store import CaseCache

    store, cache = FakeCaseStore(), CaseCache(10)
    c = CaseEvents("r")
    reg, routed, sent, delivered = c.registered(), c.routed(), c.sms_sent(), c.sms_delivered()
    await apply_events(store, [reg, routed], cache=cache)
    older = dict(store.docs["r"])
    await apply_events(store, [sent], cache=cache)
    store.docs["r"] = older
    await apply_events(store, [delivered], cache=cache)
    assert await store.get("r") == apply_all(None, [reg, routed, sent, delivered])


async def test_events_another_writer_stored_meanwhile_are_kept() -> None:
    """A consumer that lost the partition stores one event while the new owner stores the next ones:
    the second write finds the first writer's document in place and applies its batch on top."""
    store = FakeCaseStore()
    c = CaseEvents("h")
    reg, routed, note, ack, resolved = c.registered(), c.routed(), c.note(), c.acknowledged(), c.resolved()
    await apply_events(store, [reg, routed])
    store.race["h"] = apply_all(await store.get("h"), [note])  # the old owner's late write
    result = await apply_events(store, [note, ack, resolved])
    assert result.retries == 0  # our batch had the old owner's event: our document stands
    doc = await store.get("h")
    assert doc is not None and doc.status == CaseStatus.resolved and doc.n == 5
    assert doc == apply_all(None, [reg, routed, note, ack, resolved])
    # And when the other writer was ahead, its document is put back unchanged.
    ahead = apply_all(doc, [c.note(text="دیرتر")])
    store.race["h"] = ahead
    await apply_events(store, [resolved, c.sms_sent()])
    final = await store.get("h")
    assert final is not None and final.n == ahead.n + 1


async def test_a_stale_cache_never_loses_the_other_writers_events() -> None:
    from services.tracking.adapters.store import CaseCache

    store, cache = FakeCaseStore(), CaseCache(10)
    c = CaseEvents("i")
    reg, routed, note, ack = c.registered(), c.routed(), c.note(), c.acknowledged()
    await apply_events(store, [reg, routed], cache=cache)
    assert cache.get("i") is not None
    # Another replica had the partition for a while and stored the note; our cache does not know.
    store.docs["i"] = apply_all(await store.get("i"), [note]).to_document()
    await apply_events(store, [ack], cache=cache)
    doc = await store.get("i")
    assert doc == apply_all(None, [reg, routed, note, ack])
    # A cached case needs no read: the fake counts no load, the write is the only access.
    writes = store.writes
    await apply_events(store, [c.sms_sent()], cache=cache)
    assert store.writes == writes + 1


async def test_actions_publish_events_and_conflicts_are_409s() -> None:
    store, publisher = FakeCaseStore(), Collect()
    c = CaseEvents("d")
    await apply_events(store, [c.registered(), c.routed()])
    svc = service(store, publisher)
    case = await store.get("d")
    assert case is not None
    out = await svc.act(
        case, ActionRequest(ActionKind.acknowledge), "agency_staff", "u1", "water_wastewater", "k1"
    )
    assert not out.repeated and publisher.events[-1].data.status == CaseStatus.in_progress  # type: ignore[attr-defined]
    # Resolving a case not yet acknowledged (the event is published but not applied here) is refused.
    with pytest.raises(ActionConflict) as refused:
        await svc.act(
            case, ActionRequest(ActionKind.resolve, "done"), "agency_staff", "u1", "water_wastewater", None
        )
    assert refused.value.rejection.code == "illegal_transition"
    with pytest.raises(MissingText):
        await svc.act(
            case, ActionRequest(ActionKind.note, "  "), "agency_staff", "u1", "water_wastewater", None
        )


async def test_the_same_idempotency_key_publishes_the_same_event() -> None:
    store, publisher = FakeCaseStore(), Collect()
    c = CaseEvents("e")
    await apply_events(store, [c.registered(), c.routed()])
    svc = service(store, publisher)
    case = await store.get("e")
    assert case is not None
    first = await svc.act(
        case, ActionRequest(ActionKind.acknowledge), "agency_staff", "u1", "water_wastewater", "k"
    )
    second = await svc.act(
        case, ActionRequest(ActionKind.acknowledge), "agency_staff", "u1", "water_wastewater", "k"
    )
    assert first.event.id == second.event.id
    await apply_events(store, publisher.events)
    case = await store.get("e")
    assert case is not None and case.n == 3
    replay = await svc.act(
        case, ActionRequest(ActionKind.acknowledge), "agency_staff", "u1", "water_wastewater", "k"
    )
    assert replay.repeated and len(publisher.events) == 2
    with pytest.raises(ActionConflict) as reused:
        await svc.act(
            case, ActionRequest(ActionKind.note, "x"), "agency_staff", "u1", "water_wastewater", "k"
        )
    assert reused.value.rejection.code == "idempotency_key_reused"


def test_who_may_do_what() -> None:
    assert "ops" not in set().union(*ACTION_ROLES.values())
    assert ACTION_ROLES[ActionKind.reopen] == {"operator", "supervisor"}
    assert "operator" not in ACTION_ROLES[ActionKind.resolve]


def _resolved_case() -> Any:
    c = CaseEvents("f")
    return apply_all(
        None,
        [
            c.registered(),
            c.routed(),
            c.note(text="شماره همسایه: 09121112233"),
            c.acknowledged(),
            c.resolved(),
        ],
    )


def test_the_citizen_sees_status_agency_and_answer_but_no_notes() -> None:
    case = _resolved_case()
    view = citizen_view(case)
    assert view["status"] == "resolved" and view["status_fa"] == "پاسخ داده شده"
    assert view["agency"]["code"] == "water_wastewater" and view["agency"]["fa"]
    assert view["answer"] == "لوله تعمیر شد و آب وصل است."
    assert view["phone"] == "+98915***4567"
    text = repr(view)
    assert "09121112233" not in text and "همسایه" not in text and "staff-1" not in text and "op-7" not in text
    assert [h["status"] for h in view["history"]] == ["registered", "routed", "in_progress", "resolved"]


def test_staff_see_everything_with_overdue_now() -> None:
    case = _resolved_case()
    view = staff_view(case, T0 + timedelta(days=30))
    assert view["case_id"] == "f" and not view["overdue"]
    assert any(e["text"].startswith("شماره همسایه") for e in view["timeline"])
    c = CaseEvents("g")
    open_case = apply_all(None, [c.registered(), c.routed()])
    assert staff_view(open_case, T0 + timedelta(days=30))["overdue"]
    assert not staff_view(open_case, T0 + timedelta(hours=1))["overdue"]


def test_phone_as_second_factor() -> None:
    stored = "+989151234567"
    for good in ("09151234567", "+989151234567", "۰۹۱۵ ۱۲۳ ۴۵۶۷", "00989151234567", "4567", "۴۵۶۷"):
        assert phone_matches(stored, good), good
    for bad in ("09151234568", "4568", "567", "", "1234567"):
        assert not phone_matches(stored, bad), bad
    assert not phone_matches(None, "4567")
    assert mask_phone("+989151234567") == "+98915***4567"


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate_per_minute=6, burst=2, clock=lambda: now[0])
    assert bucket.take("a") == 0 and bucket.take("a") == 0
    wait = bucket.take("a")
    assert 9 < wait <= 10  # one token per 10 s
    assert bucket.take("b") == 0  # another client has its own bucket
    now[0] += 10
    assert bucket.take("a") == 0


def test_reports_count_hops_and_percentiles() -> None:
    from services.tracking.domain.reports import agency_report, county_report, percentile

    cases = []
    for i, hours in enumerate((5, 10, 20, 100)):
        c = CaseEvents(f"r{i}")
        registered, routed = c.registered(), c.routed(AgencyCode.education)
        c.clock += timedelta(hours=hours)
        ack = c.acknowledged(agency=AgencyCode.education)
        cases.append(apply_all(None, [registered, routed, ack, c.resolved(agency=AgencyCode.education)]))
    late = CaseEvents("late")
    cases.append(apply_all(None, [late.registered(), late.routed(AgencyCode.education)]))
    rows = {
        r["agency"]: r
        for r in agency_report(cases, T0, T0 + timedelta(days=5), T0 + timedelta(days=20), cases)
    }
    edu = rows["education"]
    assert edu["received"] == 5 and edu["resolved"] == 4 and edu["currently_overdue"] == 1
    # Routed on a Wednesday morning: 2 working days end on Saturday night, so 5, 10 and 20 h are in
    # time, 100 h (Sunday) is late, and the case never acknowledged is late too.
    assert edu["acknowledged_within_sla"] == 3 and edu["acknowledged_within_sla_pct"] == 60.0
    assert edu["median_hours_to_resolve"] == pytest.approx(15.03, abs=0.05)
    assert edu["p90_hours_to_resolve"] == pytest.approx(76.0, abs=0.1)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90) == pytest.approx(9.1)
    assert rows["welfare"]["received"] == 0
    counties = county_report(cases, T0 + timedelta(days=20))
    assert counties == [c for c in counties if c["county"] == "mashhad"] and counties[0]["registered"] == 5


async def test_a_failed_save_leaves_no_write_behind_to_overwrite_the_retry() -> None:
    """The database goes away in the middle of a batch's writes. Once save raises (and the consumer
    retries the batch), none of that batch's writes may still be running or waiting: one landing
    later would put an older document back over the retry's and later batches' writes."""
    import asyncio

    from pymongo.errors import AutoReconnect

    from services.tracking.adapters.store import MongoCaseStore

    class Collection:
        def __init__(self) -> None:
            self.started: list[str] = []
            self.raised = False

        async def find_one_and_replace(self, query: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
            self.started.append(query["_id"])
            if query["_id"] == "case-01":
                await asyncio.sleep(0.01)
                raise AutoReconnect("connection closed")
            await asyncio.sleep(0.05)
            return {**doc, "n": doc["n"] - 1}

    collection = Collection()
    store = MongoCaseStore({"cases": collection, "cases_codes": collection})  # type: ignore[arg-type]
    cases = {f"case-{i:02}": apply_all(None, [CaseEvents(f"case-{i:02}").registered()]) for i in range(40)}
    with pytest.raises(AutoReconnect):
        await store.save(cases, {cid: c.n - 1 or 7 for cid, c in cases.items()})
    started = list(collection.started)
    assert len(started) < len(cases)  # the writes queued behind the failure were never started
    await asyncio.sleep(0.3)
    assert collection.started == started, "a write of the failed attempt ran after save had raised"


class CountingLoads(FakeCaseStore):
    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    async def load(self, ids: Any) -> Any:
        ids = list(ids)
        self.loaded += ids
        return await super().load(ids)


async def test_a_registration_is_not_looked_up_and_one_seen_before_loses_nothing() -> None:
    store = CountingLoads()
    c = CaseEvents("r")
    reg, routed, sms, ack = c.registered(), c.routed(), c.sms_sent(), c.acknowledged()
    first = await apply_events(store, [reg, routed])
    assert store.loaded == [] and first.retries == 0 and store.writes == 1
    await apply_events(store, [sms, ack])
    assert store.loaded == ["r"]  # a batch that does not start with the registration reads the case
    # The registration redelivered with the routing: its insert finds the case, which is read and kept.
    again = await apply_events(store, [reg, routed])
    assert again.retries == 1 and again.cases_written == 0
    assert await store.get("r") == apply_all(None, [reg, routed, sms, ack])
