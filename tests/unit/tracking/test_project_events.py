"""Projecting the log: one write per case per batch, compare-and-set against other writers, the cache,
and the consumer's handler keeping calls for the funnel."""

from __future__ import annotations

from contracts.catalogue import AgencyCode
from contracts.events import CallOutcome, CaseStatus
from services.tracking.adapters.cases import InMemoryCaseStore
from services.tracking.domain.projection import apply_all
from services.tracking.service.project_events import CaseCache, apply_events
from tests.unit.tracking.factory import CaseEvents, call
from tests.unit.tracking.fakes import Fakes


async def test_a_batch_writes_each_case_once() -> None:
    store = InMemoryCaseStore()
    a, b = CaseEvents("a"), CaseEvents("b")
    batch = [a.registered(), b.registered(), a.routed(), b.routed(), a.note(), a.sms_sent()]
    result = await apply_events(store, batch)
    assert result.cases_written == 2 and store.writes == 2
    assert store.docs["a"]["n"] == 4 and store.docs["b"]["n"] == 2
    # The same batch again (a redelivery) writes nothing.
    again = await apply_events(store, batch)
    assert again.cases_written == 0 and store.writes == 2


async def test_a_lost_compare_and_set_reloads_and_reapplies() -> None:
    store = InMemoryCaseStore()
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
    store = InMemoryCaseStore()
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
    store, cache = InMemoryCaseStore(), CaseCache(10)
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
    store = InMemoryCaseStore()
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
    store, cache = InMemoryCaseStore(), CaseCache(10)
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


async def test_a_registration_is_not_looked_up_and_one_seen_before_loses_nothing() -> None:
    store = InMemoryCaseStore()
    c = CaseEvents("r")
    reg, routed, sms, ack = c.registered(), c.routed(), c.sms_sent(), c.acknowledged()
    first = await apply_events(store, [reg, routed])
    assert store.loads == [] and first.retries == 0 and store.writes == 1
    await apply_events(store, [sms, ack])
    assert store.loads == ["r"]  # a batch that does not start with the registration reads the case
    # The registration redelivered with the routing: its insert finds the case, which is read and kept.
    again = await apply_events(store, [reg, routed])
    assert again.retries == 1 and again.cases_written == 0
    assert await store.get("r") == apply_all(None, [reg, routed, sms, ack])


async def test_the_consumer_keeps_calls_for_the_funnel_and_projects_the_rest() -> None:
    fakes = Fakes()
    c = CaseEvents("p", duty_session_id="duty-1")
    answered, missed = (
        call("call-1", CallOutcome.answered, "duty-1"),
        call("call-2", CallOutcome.abandoned, "duty-1"),
    )
    await fakes.consume([answered, c.registered(), missed, c.routed(AgencyCode.education), answered])
    assert sorted(fakes.calls.docs) == ["call-1", "call-2"]  # the redelivered call counts once
    case = await fakes.cases.get("p")
    assert case is not None and case.status == CaseStatus.routed and case.n == 2
    # The documents the consumer wrote are cached: the next batch of the case reads nothing.
    await fakes.consume([c.acknowledged(agency=AgencyCode.education)])
    assert fakes.cases.loads == [] and fakes.cases.writes == 2


async def test_without_a_cache_every_batch_reads_its_cases() -> None:
    fakes = Fakes()
    fakes.tracking.project_events.cache = None
    c = CaseEvents("q")
    await fakes.consume([c.registered(), c.routed()])
    await fakes.consume([c.note()])
    assert fakes.cases.loads == ["q"]
