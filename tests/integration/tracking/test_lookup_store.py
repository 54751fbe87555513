"""The citizen lookup's database side on FerretDB: attempt tickets are handed out exactly ``limit``
times per key and window however many processes ask at once, expired ones are purged, and looking a
code up reads the same documents whether the code names a case or not."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient, monitoring

from services.tracking.adapters.cases import InMemoryCaseStore, MongoCaseStore
from services.tracking.adapters.ratelimit import MongoAttempts
from services.tracking.domain.lookup_limits import window_at
from services.tracking.service.project_events import apply_events
from tests.support.stack import MONGO
from tests.unit.tracking.factory import T0, CaseEvents


async def test_tickets_are_handed_out_exactly_limit_times_to_concurrent_processes(unique: str) -> None:
    """Two clients (two replicas) asking 200 times at once for one key's 5 tickets: 5 are given,
    each once; a counter with $inc would lose updates on FerretDB and give more."""
    clients: list[AsyncMongoClient[dict[str, Any]]] = [
        AsyncMongoClient(MONGO, tz_aware=True) for _ in range(2)
    ]
    name = f"test_tracking_attempts_{unique}"
    try:
        stores = [MongoAttempts(c[name]) for c in clients]
        await stores[0].ensure_indexes()
        window = window_at(T0, 3600)
        taken = await asyncio.gather(*(stores[i % 2].take("code:1234567890", 5, window) for i in range(200)))
        assert sorted(n for n in taken if n is not None) == [1, 2, 3, 4, 5]
        # Given back, a ticket is free again.
        await stores[0].give_back("code:1234567890", window, 3)
        assert await stores[0].take("code:1234567890", 5, window) == 3
        assert await stores[0].take("code:1234567890", 5, window) is None
        # Another window has tickets of its own; purging removes the ended window's only.
        later = window_at(T0 + timedelta(hours=1), 3600)
        assert await stores[0].take("code:1234567890", 5, later) == 1
        assert await stores[0].purge(window.end) == 5
        assert await clients[0][name]["lookup_attempts"].count_documents({}) == 1
    finally:
        await clients[0].drop_database(name)
        for c in clients:
            await c.close()


class Reads(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []
        self.ids: list[Any] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        self.commands.append((name, str(event.command.get(name))))
        if name == "find":
            self.ids.append(event.command.get("filter", {}).get("_id"))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


async def test_a_code_is_checked_with_the_same_reads_whether_it_names_a_case_or_not(unique: str) -> None:
    reads = Reads()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO, tz_aware=True, event_listeners=[reads])
    name = f"test_tracking_citizen_{unique}"
    try:
        store, fake = MongoCaseStore(client[name]), InMemoryCaseStore()
        c = CaseEvents(f"citizen-{unique}")
        for s in (store, fake):
            await apply_events(s, [c.registered(), c.routed()])
        unknown = CaseEvents(f"nobody-{unique}").code
        seen, ids = [], []
        for code in (c.code, unknown, "12345"):
            reads.commands.clear()
            reads.ids.clear()
            found = await store.citizen_of(code)
            assert found == await fake.citizen_of(code)
            seen.append(list(reads.commands))
            ids.append(list(reads.ids))
        assert seen[0] == seen[1] == seen[2] == [("find", "cases_codes"), ("find", "cases")]
        # An unknown code reads a real case too (a found document costs the server more than none).
        assert ids == [[c.code, c.case_id], [unknown, c.case_id], ["12345", c.case_id]]
        # A store that found nothing yet takes any mapped case for its decoy.
        fresh = MongoCaseStore(client[name])
        assert await fresh.citizen_of(unknown) is None
        assert reads.ids[-1] == c.case_id
        known = await store.citizen_of(c.code)
        assert (
            known is not None and known.case_id == c.case_id and known.phone and known.phone.endswith("4567")
        )
    finally:
        await client.drop_database(name)
        await client.close()
