"""Intake's small database: Idempotency-Key records and its view of cases (MongoDB; in memory for tests).

Every write is a single-document atomic operation (FerretDB has no multi-document transactions): a key is
reserved with one insert, completed with one conditional update; an event is applied to a case with a
conditional update that also records its id, so a redelivered event changes nothing.

Every lookup on the request path is by ``_id``: FerretDB answers any other filter by reading the whole
collection, so the cases a phone number registered are listed in ``phone_cases`` (``_id``: the phone)
in slot documents read by ``_id``, rather than found by a query on the phone field.

Driver errors do not leave this module: an unreachable database is ``StoreUnavailable`` (a
``ConnectionError``, so a consumer retries it as an outage), any other failure ``StoreError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, Protocol, TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from contracts.catalogue import AgencyCode
from contracts.events import CaseRegistered, Envelope
from contracts.sealed import Sealed
from services.common.bounded import together
from services.common.mongo import create_index, make_client
from services.common.recent import Recent
from services.intake.domain.cases import FINISHED, CaseView, apply


class StoreError(Exception):
    """The database failed the operation: nothing may be assumed written; safe to retry."""


class StoreUnavailable(StoreError, ConnectionError):
    """The database is unreachable (an outage, not a bad request): retried, never dead-lettered."""


P = ParamSpec("P")
R = TypeVar("R")


def _translated(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """The store's own exceptions instead of the driver's, so no caller needs to know pymongo."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except ConnectionFailure as exc:  # also AutoReconnect, NetworkTimeout, ServerSelectionTimeout
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc
        except PyMongoError as exc:
            raise StoreError(str(exc) or type(exc).__name__) from exc

    return wrapper


@dataclass(frozen=True)
class KeyRecord:
    """One Idempotency-Key: the request it was first used for and, once finished, the answer given."""

    scope: str
    key: str
    fingerprint: str
    created_at: datetime
    status_code: int | None = None
    body: dict[str, Any] | None = None

    @property
    def completed(self) -> bool:
        return self.status_code is not None


@dataclass(frozen=True)
class CaseQuery:
    """A listing of cases, newest first (Open311 GET requests)."""

    tracking_codes: Sequence[str] = ()
    categories: Sequence[str] = ()
    open: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    channel: str | None = None
    limit: int = 1000


class IntakeStore(Protocol):
    async def setup(self) -> None: ...
    async def ping(self) -> bool: ...
    async def reserve_key(self, record: KeyRecord) -> KeyRecord | None:
        """Reserve the key for this request; None when reserved now, else the record already there."""

    async def take_over_key(self, stale: KeyRecord, record: KeyRecord) -> bool:
        """Replace a reservation abandoned by a crashed request; False when someone else moved first."""

    async def complete_key(self, record: KeyRecord, status_code: int, body: dict[str, Any]) -> None: ...
    async def release_key(self, record: KeyRecord) -> None:
        """Drop an unfinished reservation (the request failed and changed nothing)."""

    async def purge_keys(self, before: datetime) -> int:
        """Forget finished key records older than ``before``; a later retry still finds its case by id."""

    async def apply_event(self, event: Envelope, *, new: bool = False, listed: bool = False) -> bool:
        """Apply one case event to the view; False when it was already applied or concerns no known case.
        ``new``: the caller has just found no view of the case (a registration), so it is not looked up
        again. ``listed``: the caller has listed a new case for its phone already (``list_for_phone``)."""

    async def list_for_phone(self, phone: str, case_id: str, at: datetime) -> None:
        """List a case about to be registered among the phone's cases, before its view is written (a
        lookup skips an id without a view; a retry may list it again, and a lookup counts it once)."""

    async def get_case(self, case_id: str) -> CaseView | None: ...
    async def claim_tracking_code(self, code: str, case_id: str) -> str | None:
        """Claim ``code`` for the case and remember it under the case id, before it is published.

        Returns the case's code: ``code``, or the code an earlier attempt of the same case claimed
        first (a concurrent retry); None when another case holds ``code`` (draw another)."""

    async def tracking_code_of(self, case_id: str) -> str | None:
        """The code claimed for the case, if any (a retry after a crash between claim and publish)."""

    async def case_by_tracking_code(self, tracking_code: str) -> CaseView | None: ...
    async def open_cases_for_phone(self, phone: str, since: datetime) -> list[CaseView]: ...
    async def phone_cases(
        self, phone: str, since: datetime, own: str
    ) -> tuple[CaseView | None, list[CaseView]]:
        """The view of case ``own`` if the phone lists it (a retry whose first attempt wrote it: a case
        is listed before its view is written), and the phone's open cases since ``since``: one lookup
        of the phone's list, no read of ``own`` by itself."""

    async def find_cases(self, query: CaseQuery) -> list[CaseView]: ...
    async def close(self) -> None:
        """Release the connection the store opened itself (none when it was handed a database)."""


PHONE_CASES_READ = 200  # at most this many of a phone's latest cases are considered for a repeat call
# What a store remembers of its own recent work, to spare reads: the registrations it wrote (their echo
# from Kafka needs no lookup) and each phone's next free slot as a repeat-call check last saw it.
REMEMBERED = 10_000


def _hinted(slot: int) -> bool:
    """Whether taking ``slot`` moves the phone's next-slot hint on. Not for a phone's first case: most
    phones register one, so their lists need no head document; the phone's next registration, if any,
    finds slot 0 taken with one more read (the lookup probes past the hint) and writes the hint then."""
    return slot > 0


def _open_since(views: Iterable[CaseView], since: datetime) -> list[CaseView]:
    found = [v for v in views if v.registered_at >= since and v.open]
    return sorted(found, key=lambda c: c.registered_at, reverse=True)


def _key_id(scope: str, key: str) -> str:
    return f"{scope}\x1f{key}"


def _view_doc(view: CaseView) -> dict[str, Any]:
    doc = dataclasses.asdict(view)
    for name in ("agency", "operator_agency"):
        if doc[name] is not None:
            doc[name] = str(doc[name].value)
    doc["open"] = view.open
    doc["_id"] = doc.pop("case_id")
    if view.description_sealed is None:
        doc.pop("description_sealed")
    else:
        doc["description_sealed"] = view.description_sealed.model_dump()
    return doc


def _doc_view(doc: dict[str, Any]) -> CaseView:
    fields = {f.name for f in dataclasses.fields(CaseView)}
    values = {k: v for k, v in doc.items() if k in fields}
    values["case_id"] = doc["_id"]
    for name in ("agency", "operator_agency"):
        if values.get(name) is not None:
            values[name] = AgencyCode(values[name])
    if values.get("description_sealed") is not None:
        values["description_sealed"] = Sealed.model_validate(values["description_sealed"])
    return CaseView(**values)


class MongoIntakeStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self.keys = db["idempotency_keys"]
        self.cases = db["cases"]
        # One document per issued tracking code, keyed by the code: the unique _id makes a claim atomic.
        self.codes = db["tracking_codes"]
        # The same claims keyed by case id, so a retry finds its case's code with a read by _id.
        self.case_codes = db["case_tracking_codes"]
        # The cases registered from each phone, newest last: slots {phone}#0, #1, ... (see _index_phone).
        self.phones = db["phone_cases"]
        self._written: Recent[str, None] = Recent(REMEMBERED)  # ids of registrations inserted here
        self._next_slot: Recent[str, int] = Recent(REMEMBERED)  # phone -> next free slot, last seen

    @classmethod
    def open(cls, url: str, db_name: str, app: str) -> MongoIntakeStore:
        """A store on a client of its own, closed by ``close``."""
        try:
            client: AsyncMongoClient[dict[str, Any]] = make_client(url, app)
        except PyMongoError as exc:  # a malformed URL or option
            raise StoreError(str(exc) or type(exc).__name__) from exc
        store = cls(client[db_name])
        store._client = client
        return store

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    @_translated
    async def setup(self) -> None:
        if await self.phones.find_one({}, {"_id": 1}) is None:
            # A database from before phone_cases existed: index its cases once (a no-op when empty).
            async for doc in self.cases.find({}, {"_id": 1, "phone": 1, "registered_at": 1}).sort(
                "registered_at", ASCENDING
            ):
                if doc.get("phone"):
                    phone = str(doc["phone"])
                    slot = await self._index_phone(phone, str(doc["_id"]), doc["registered_at"])
                    await self._hint_next_slot(phone, slot + 1)
        await create_index(self.cases, [("tracking_code", ASCENDING)])
        await create_index(self.cases, [("channel", ASCENDING), ("registered_at", DESCENDING)])
        await create_index(self.keys, [("created_at", ASCENDING)])

    @_translated
    async def ping(self) -> bool:
        await self.db.command("ping")
        return True

    @_translated
    async def reserve_key(self, record: KeyRecord) -> KeyRecord | None:
        doc = {
            "_id": _key_id(record.scope, record.key),
            "scope": record.scope,
            "key": record.key,
            "fingerprint": record.fingerprint,
            "created_at": record.created_at,
            "status_code": None,
            "body": None,
        }
        try:
            await self.keys.insert_one(doc)
            return None
        except DuplicateKeyError:
            existing = await self.keys.find_one({"_id": doc["_id"]})
            if existing is None:  # released in between: try once more
                return await self.reserve_key(record)
            return KeyRecord(
                scope=existing["scope"],
                key=existing["key"],
                fingerprint=existing["fingerprint"],
                created_at=existing["created_at"],
                status_code=existing.get("status_code"),
                body=existing.get("body"),
            )

    @_translated
    async def take_over_key(self, stale: KeyRecord, record: KeyRecord) -> bool:
        result = await self.keys.update_one(
            {
                "_id": _key_id(stale.scope, stale.key),
                "created_at": stale.created_at,
                "fingerprint": stale.fingerprint,
                "status_code": None,
            },
            {"$set": {"created_at": record.created_at}},
        )
        return result.modified_count == 1

    @_translated
    async def complete_key(self, record: KeyRecord, status_code: int, body: dict[str, Any]) -> None:
        await self.keys.update_one(
            {"_id": _key_id(record.scope, record.key), "fingerprint": record.fingerprint},
            {"$set": {"status_code": status_code, "body": body}},
        )

    @_translated
    async def release_key(self, record: KeyRecord) -> None:
        await self.keys.delete_one(
            {
                "_id": _key_id(record.scope, record.key),
                "created_at": record.created_at,
                "status_code": None,
            }
        )

    @_translated
    async def purge_keys(self, before: datetime) -> int:
        result = await self.keys.delete_many({"created_at": {"$lt": before}, "status_code": {"$ne": None}})
        return result.deleted_count

    @_translated
    async def list_for_phone(self, phone: str, case_id: str, at: datetime) -> None:
        slot = await self._index_phone(phone, case_id, at)
        if _hinted(slot):
            await self._hint_next_slot(phone, slot + 1)

    @_translated
    async def apply_event(self, event: Envelope, *, new: bool = False, listed: bool = False) -> bool:
        case_id = getattr(event.data, "case_id", None)
        if not isinstance(case_id, str) or event.id in self._written:
            return False  # (the echo of a registration written here: its view has it already)
        doc = None if new else await self.cases.find_one({"_id": case_id})
        if doc is not None and event.id in doc.get("seen", ()):
            return False
        before = _doc_view(doc) if doc is not None else None
        after = apply(before, event)
        if after is None or (after == before and not isinstance(event.data, CaseRegistered)):
            return False
        view = _view_doc(after)
        if doc is None:
            slot = None
            if after.phone and not listed:
                # Listed before the view is written: a crash in between leaves an id without a view,
                # which a lookup skips, rather than a case that repeat calls cannot find.
                slot = await self._index_phone(after.phone, case_id, after.registered_at)
            writes: list[Coroutine[Any, Any, Any]] = [self.cases.insert_one({**view, "seen": [event.id]})]
            if after.phone and slot is not None and _hinted(slot):
                # The phone's next-slot hint and the view go together: neither waits for the other.
                writes.append(self._hint_next_slot(after.phone, slot + 1))
            try:
                await together(*writes)
                self._written.put(event.id, None)
                return True
            except DuplicateKeyError:
                return False  # the same registration, applied by the request path or another replica
        view.pop("_id")
        result = await self.cases.update_one(
            {"_id": case_id, "seen": {"$ne": event.id}},
            {"$set": view, "$addToSet": {"seen": event.id}},
        )
        return result.modified_count == 1

    @_translated
    async def claim_tracking_code(self, code: str, case_id: str) -> str | None:
        # First the code (unique _id: one case per code), then the case's record of it (unique _id:
        # one code per case). A crash in between leaves a code no case publishes, never a shared one.
        try:
            await self.codes.insert_one({"_id": code, "case_id": case_id})
        except DuplicateKeyError:
            holder = await self.codes.find_one({"_id": code})
            if holder is None or holder.get("case_id") != case_id:
                return None
        try:
            await self.case_codes.insert_one({"_id": case_id, "code": code})
            return code
        except DuplicateKeyError:
            first = await self.case_codes.find_one({"_id": case_id})
            if first is None:  # these records are never deleted
                raise StoreError(f"the tracking code record of case {case_id} vanished") from None
            if first["code"] != code:
                # Another attempt of this case recorded its code first: that one is the case's; this
                # one was never published, so it is given back.
                await self.codes.delete_one({"_id": code, "case_id": case_id})
            return str(first["code"])

    @_translated
    async def tracking_code_of(self, case_id: str) -> str | None:
        doc = await self.case_codes.find_one({"_id": case_id})
        return str(doc["code"]) if doc is not None else None

    @_translated
    async def get_case(self, case_id: str) -> CaseView | None:
        doc = await self.cases.find_one({"_id": case_id})
        return _doc_view(doc) if doc else None

    @_translated
    async def case_by_tracking_code(self, tracking_code: str) -> CaseView | None:
        # Every code is claimed in tracking_codes (by _id) before its case is published: no scan.
        claim = await self.codes.find_one({"_id": tracking_code})
        if claim is None:
            return None
        view = await self.get_case(str(claim["case_id"]))
        return view if view is not None and view.tracking_code == tracking_code else None

    async def _index_phone(self, phone: str, case_id: str, at: datetime) -> int:
        """Add the case to the phone's list: one insert of the next free slot ``{phone}#{n}``; the
        slot taken. The caller then moves the hint on (``_hint_next_slot``).

        FerretDB applies an update as read, change, write back, so two concurrent ``$addToSet`` on one
        document can lose one; an insert of a unique ``_id`` cannot. The head document ``{_id: phone}``
        only hints at the next slot (``$max``); a lost hint costs an extra probe, never an entry."""
        slot = self._next_slot.pop(phone, None)
        if slot is None:
            head = await self.phones.find_one({"_id": phone})
            slot = int((head or {}).get("next", 0))
        while True:
            try:
                await self.phones.insert_one({"_id": f"{phone}#{slot}", "case_id": case_id, "at": at})
                return slot
            except DuplicateKeyError:
                slot += 1

    async def _hint_next_slot(self, phone: str, slot: int) -> None:
        with contextlib.suppress(DuplicateKeyError):  # two first registrations raced to create it
            await self.phones.update_one({"_id": phone}, {"$max": {"next": slot}}, upsert=True)

    @_translated
    async def open_cases_for_phone(self, phone: str, since: datetime) -> list[CaseView]:
        return _open_since(await self._phone_views(phone, since), since)

    @_translated
    async def phone_cases(
        self, phone: str, since: datetime, own: str
    ) -> tuple[CaseView | None, list[CaseView]]:
        views = await self._phone_views(phone, since)
        return next((v for v in views if v.case_id == own), None), _open_since(views, since)

    async def _phone_views(self, phone: str, since: datetime) -> list[CaseView]:
        """The views of the cases the phone listed since ``since`` (its latest PHONE_CASES_READ)."""
        head = await self.phones.find_one({"_id": phone})
        top = int((head or {}).get("next", 0))
        while await self.phones.find_one({"_id": f"{phone}#{top}"}, {"_id": 1}) is not None:
            top += 1  # slots taken after the hint was written (or whose hint was lost)
        self._next_slot.put(phone, top)  # the registration that follows starts there
        ids: list[str] = []
        for slot in range(top - 1, max(top - PHONE_CASES_READ, 0) - 1, -1):
            entry = await self.phones.find_one({"_id": f"{phone}#{slot}"})
            if entry is None:
                continue
            if entry["at"] < since:
                break  # slots are taken in time order: the rest are older still
            ids.append(str(entry["case_id"]))
        views = await asyncio.gather(*(self.get_case(i) for i in dict.fromkeys(ids)))
        return [v for v in views if v is not None]

    @_translated
    async def find_cases(self, query: CaseQuery) -> list[CaseView]:
        filt: dict[str, Any] = {}
        if query.tracking_codes:
            filt["tracking_code"] = {"$in": list(query.tracking_codes)}
        if query.channel:
            filt["channel"] = query.channel
        if not query.tracking_codes:
            if query.categories:
                filt["category"] = {"$in": list(query.categories)}
            if query.open is not None:
                key = "$nin" if query.open else "$in"
                filt["status"] = {key: sorted(FINISHED)}
            span: dict[str, datetime] = {}
            if query.start is not None:
                span["$gte"] = query.start
            if query.end is not None:
                span["$lte"] = query.end
            if span:
                filt["registered_at"] = span
        cursor = self.cases.find(filt).sort("registered_at", DESCENDING).limit(query.limit)
        return [_doc_view(d) async for d in cursor]


class InMemoryIntakeStore:
    """The same behaviour without a database, for unit tests; ``available = False`` is a database outage."""

    def __init__(self) -> None:
        self.keys: dict[str, KeyRecord] = {}
        self.cases: dict[str, CaseView] = {}
        self.seen: dict[str, set[str]] = {}
        self.codes: dict[str, str] = {}  # tracking code -> case id
        self.case_codes: dict[str, str] = {}  # case id -> tracking code
        self.available = True
        self.set_up = False

    def _reachable(self) -> None:
        if not self.available:
            raise StoreUnavailable("database unreachable")

    async def setup(self) -> None:
        self._reachable()
        self.set_up = True

    async def ping(self) -> bool:
        self._reachable()
        return True

    async def reserve_key(self, record: KeyRecord) -> KeyRecord | None:
        self._reachable()
        kid = _key_id(record.scope, record.key)
        if kid in self.keys:
            return self.keys[kid]
        self.keys[kid] = record
        return None

    async def take_over_key(self, stale: KeyRecord, record: KeyRecord) -> bool:
        self._reachable()
        kid = _key_id(stale.scope, stale.key)
        if self.keys.get(kid) != stale:
            return False
        self.keys[kid] = dataclasses.replace(stale, created_at=record.created_at)
        return True

    async def complete_key(self, record: KeyRecord, status_code: int, body: dict[str, Any]) -> None:
        self._reachable()
        kid = _key_id(record.scope, record.key)
        current = self.keys.get(kid)
        if current is not None and current.fingerprint == record.fingerprint:
            self.keys[kid] = dataclasses.replace(current, status_code=status_code, body=body)

    async def release_key(self, record: KeyRecord) -> None:
        self._reachable()
        kid = _key_id(record.scope, record.key)
        current = self.keys.get(kid)
        if current is not None and not current.completed and current.created_at == record.created_at:
            del self.keys[kid]

    async def purge_keys(self, before: datetime) -> int:
        self._reachable()
        old = [k for k, r in self.keys.items() if r.completed and r.created_at < before]
        for k in old:
            del self.keys[k]
        return len(old)

    async def list_for_phone(self, phone: str, case_id: str, at: datetime) -> None:
        self._reachable()  # (cases are found by their phone here)

    async def apply_event(self, event: Envelope, *, new: bool = False, listed: bool = False) -> bool:
        self._reachable()
        case_id = getattr(event.data, "case_id", None)
        if not isinstance(case_id, str) or event.id in self.seen.get(case_id, set()):
            return False
        before = self.cases.get(case_id)
        after = apply(before, event)
        if after is None or (before is not None and after == before):
            return False
        self.cases[case_id] = after
        self.seen.setdefault(case_id, set()).add(event.id)
        return True

    async def claim_tracking_code(self, code: str, case_id: str) -> str | None:
        self._reachable()
        if self.codes.setdefault(code, case_id) != case_id:
            return None
        first = self.case_codes.setdefault(case_id, code)
        if first != code:
            del self.codes[code]
        return first

    async def tracking_code_of(self, case_id: str) -> str | None:
        self._reachable()
        return self.case_codes.get(case_id)

    async def get_case(self, case_id: str) -> CaseView | None:
        self._reachable()
        return self.cases.get(case_id)

    async def case_by_tracking_code(self, tracking_code: str) -> CaseView | None:
        self._reachable()
        return next((c for c in self.cases.values() if c.tracking_code == tracking_code), None)

    async def open_cases_for_phone(self, phone: str, since: datetime) -> list[CaseView]:
        self._reachable()
        found = [c for c in self.cases.values() if c.phone == phone and c.registered_at >= since and c.open]
        return sorted(found, key=lambda c: c.registered_at, reverse=True)

    async def phone_cases(
        self, phone: str, since: datetime, own: str
    ) -> tuple[CaseView | None, list[CaseView]]:
        self._reachable()
        mine = self.cases.get(own)
        return (mine if mine is not None and mine.phone == phone else None), await self.open_cases_for_phone(
            phone, since
        )

    async def find_cases(self, query: CaseQuery) -> list[CaseView]:
        self._reachable()
        found: Iterable[CaseView] = self.cases.values()
        if query.tracking_codes:
            found = [c for c in found if c.tracking_code in query.tracking_codes]
        else:
            if query.categories:
                found = [c for c in found if c.category in query.categories]
            if query.open is not None:
                found = [c for c in found if c.open == query.open]
            if query.start is not None:
                found = [c for c in found if c.registered_at >= query.start]
            if query.end is not None:
                found = [c for c in found if c.registered_at <= query.end]
        if query.channel:
            found = [c for c in found if c.channel == query.channel]
        return sorted(found, key=lambda c: c.registered_at, reverse=True)[: query.limit]

    async def close(self) -> None:
        return None
