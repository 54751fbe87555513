"""Where a projection's documents live (a port): the live collection and the rebuild's shadow copies.

``MongoProjectionStore`` writes the way FerretDB takes it fastest (below); ``InMemoryProjectionStore``
is the fake the rebuild's unit tests run on. Collections are named by their name in the store's database;
``live`` is the live one.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from contracts.projections import Projection
from services.common.bounded import run_all
from services.common.mongo import create_index, insert_new

Doc = dict[str, Any]
# A changed document that may already be stored: its new content, or None to delete it.
Update = tuple[str, Doc | None]

# FerretDB v1.24 stops answering (every connection) once about a hundred update/delete statements are in
# flight at once, whether in one bulk command or several concurrent ones; inserts do not have this
# problem. Updates therefore go in small sequential chunks, and the engine avoids them where it can.
UPDATE_CHUNK = 50
INSERT_CHUNK = 1000
INSERT_WRITERS = 2
COPY_CHUNK = 2000
LOOKUP_CHUNK = 500


class ProjectionStore(Protocol):
    @property
    def database(self) -> str:
        """The database's name (the rebuild lock names it)."""
        ...

    @property
    def live(self) -> str:
        """The live collection's name."""
        ...

    async def drop(self, name: str) -> None: ...

    async def copy(self, source: str, target: str) -> int:
        """Copy every document of ``source`` into ``target``; how many."""
        ...

    async def count(self, name: str) -> int: ...

    def scan(self, name: str) -> AsyncIterator[Doc]:
        """Every document of the collection."""
        ...

    async def find(self, name: str, ids: Sequence[str]) -> list[Doc]:
        """The documents with these ids (those that exist)."""
        ...

    async def ids(self, name: str) -> list[Any]: ...

    async def write(self, name: str, inserts: Sequence[Doc], updates: Sequence[Update]) -> int:
        """Insert documents new to the collection (one already there is replaced instead), replace or
        delete the others; how many document writes that took."""
        ...

    async def copy_indexes(self, name: str, projection: Projection) -> None:
        """The projection's own indexes on ``name``, plus any other the live collection has."""
        ...

    async def promoted(self, projection: Projection) -> None:
        """Tell the projection its rebuilt collection is live (it rebuilds what it keeps beside it)."""
        ...

    async def promote(self, name: str, backup: str) -> str | None:
        """Make ``name`` the live collection. Where the server cannot replace a collection in one step,
        the previous live one is kept as ``backup`` (returned); otherwise it is gone (None)."""
        ...


class MongoProjectionStore:
    def __init__(self, db: AsyncDatabase[Doc], collection: str) -> None:
        self.db = db
        self.collection = collection

    @property
    def database(self) -> str:
        return self.db.name

    @property
    def live(self) -> str:
        return self.collection

    async def drop(self, name: str) -> None:
        await self.db[name].drop()

    async def copy(self, source: str, target: str) -> int:
        copied = 0
        batch: list[Doc] = []
        async for doc in self.db[source].find({}):
            batch.append(doc)
            if len(batch) >= COPY_CHUNK:
                await self.db[target].insert_many(batch, ordered=False)
                copied += len(batch)
                batch = []
        if batch:
            await self.db[target].insert_many(batch, ordered=False)
            copied += len(batch)
        return copied

    async def count(self, name: str) -> int:
        return await self.db[name].count_documents({})

    async def scan(self, name: str) -> AsyncIterator[Doc]:
        async for doc in self.db[name].find({}):
            yield doc

    async def find(self, name: str, ids: Sequence[str]) -> list[Doc]:
        found: list[Doc] = []
        for i in range(0, len(ids), LOOKUP_CHUNK):
            found.extend(
                [d async for d in self.db[name].find({"_id": {"$in": list(ids[i : i + LOOKUP_CHUNK])}})]
            )
        return found

    async def ids(self, name: str) -> list[Any]:
        return [d["_id"] async for d in self.db[name].find({}, {"_id": 1})]

    async def write(self, name: str, inserts: Sequence[Doc], updates: Sequence[Update]) -> int:
        collection = self.db[name]
        ops: list[Any] = [
            DeleteOne({"_id": key}) if doc is None else ReplaceOne({"_id": key}, doc, upsert=True)
            for key, doc in updates
        ]
        chunks = [inserts[i : i + INSERT_CHUNK] for i in range(0, len(inserts), INSERT_CHUNK)]
        # Already there (written by a run that stopped mid-checkpoint): replace those instead.
        clashes = await run_all(lambda chunk: insert_new(collection, chunk), chunks, INSERT_WRITERS)
        for chunk, taken in zip(chunks, clashes, strict=True):
            ops += [ReplaceOne({"_id": chunk[j]["_id"]}, chunk[j], upsert=True) for j in taken]
        for i in range(0, len(ops), UPDATE_CHUNK):
            await collection.bulk_write(ops[i : i + UPDATE_CHUNK], ordered=False)
        return len(inserts) + len(ops)

    async def promoted(self, projection: Projection) -> None:
        await projection.promoted(self.db, self.collection)

    async def copy_indexes(self, name: str, projection: Projection) -> None:
        await projection.create_indexes(self.db, name)
        try:
            indexes = await self.db[self.collection].index_information()
        except OperationFailure:
            return
        for index, spec in indexes.items():
            if index == "_id_":
                continue
            options = {k: v for k, v in spec.items() if k not in ("key", "v", "ns")}
            await create_index(self.db[name], spec["key"], name=index, **options)

    async def promote(self, name: str, backup: str) -> str | None:
        admin = self.db.client.admin
        db = self.db.name
        live = self.collection
        try:
            await admin.command("renameCollection", f"{db}.{name}", to=f"{db}.{live}", dropTarget=True)
            return None
        except OperationFailure as exc:
            if exc.code != 238:  # NotImplemented: FerretDB v1 has no dropTarget
                raise
        # FerretDB: two renames. The previous live collection is kept as a backup; with the live
        # consumers stopped, nothing writes in between (readers may see no documents for that instant).
        names = await self.db.list_collection_names()
        if live in names:
            await admin.command("renameCollection", f"{db}.{live}", to=f"{db}.{backup}")
        try:
            await admin.command("renameCollection", f"{db}.{name}", to=f"{db}.{live}")
        except BaseException:
            if live in names:
                await admin.command("renameCollection", f"{db}.{backup}", to=f"{db}.{live}")
            raise
        return backup if live in names else None


class InMemoryProjectionStore:
    """Collections as dicts of documents by id. ``keeps_backup``: promote as FerretDB 1.x does (two
    renames, the replaced collection kept); otherwise as MongoDB (replaced in one step)."""

    def __init__(self, live: str = "cases", database: str = "memory", *, keeps_backup: bool = False) -> None:
        self.collections: dict[str, dict[str, Doc]] = {}
        self.indexed: list[str] = []  # collections that were given the projection's indexes
        self.promotions: list[str] = []  # projections told their rebuilt collection went live
        self.writes: list[tuple[str, int, int]] = []  # (collection, inserts, updates) per write
        self.keeps_backup = keeps_backup
        self._live = live
        self._database = database

    @property
    def database(self) -> str:
        return self._database

    @property
    def live(self) -> str:
        return self._live

    def put(self, name: str, docs: Iterable[Doc]) -> None:
        """Test set-up: store these documents as they are."""
        collection = self.collections.setdefault(name, {})
        for doc in docs:
            collection[str(doc["_id"])] = copy.deepcopy(doc)

    def documents(self, name: str) -> list[Doc]:
        """Every document of the collection, by id."""
        collection = self.collections.get(name, {})
        return [copy.deepcopy(collection[k]) for k in sorted(collection)]

    async def drop(self, name: str) -> None:
        self.collections.pop(name, None)

    async def copy(self, source: str, target: str) -> int:
        docs = self.documents(source)
        self.put(target, docs)
        return len(docs)

    async def count(self, name: str) -> int:
        return len(self.collections.get(name, {}))

    async def scan(self, name: str) -> AsyncIterator[Doc]:
        for doc in self.documents(name):
            yield doc

    async def find(self, name: str, ids: Sequence[str]) -> list[Doc]:
        collection = self.collections.get(name, {})
        return [copy.deepcopy(collection[i]) for i in ids if i in collection]

    async def ids(self, name: str) -> list[Any]:
        return list(self.collections.get(name, {}))

    async def write(self, name: str, inserts: Sequence[Doc], updates: Sequence[Update]) -> int:
        collection = self.collections.setdefault(name, {})
        clashes = 0
        for doc in inserts:
            clashes += str(doc["_id"]) in collection
            collection[str(doc["_id"])] = copy.deepcopy(doc)
        for key, replacement in updates:
            if replacement is None:
                collection.pop(key, None)
            else:
                collection[key] = copy.deepcopy(replacement)
        self.writes.append((name, len(inserts), len(updates) + clashes))
        return len(inserts) + len(updates) + clashes

    async def copy_indexes(self, name: str, projection: Projection) -> None:
        # A projection's indexes are MongoDB indexes (contracts.projections): here only noted.
        self.indexed.append(name)

    async def promoted(self, projection: Projection) -> None:
        # What a projection keeps beside its collection lives in MongoDB: here only noted.
        self.promotions.append(projection.name)

    async def promote(self, name: str, backup: str) -> str | None:
        previous = self.collections.pop(self._live, None)
        self.collections[self._live] = self.collections.pop(name, {})
        if self.keeps_backup and previous is not None:
            self.collections[backup] = previous
            return backup
        return None


if TYPE_CHECKING:  # both keep up with the port

    def _conforms(db: AsyncDatabase[Doc]) -> tuple[ProjectionStore, ProjectionStore]:
        return MongoProjectionStore(db, "cases"), InMemoryProjectionStore()
