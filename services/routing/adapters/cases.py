"""The routing store port: routing's cases and their hops. MongoDB (collection ``cases`` of database
samad_routing) and an in-memory fake.

One document per case holds what re-routing needs (the text from case.registered), the agencies
that declined, the current agency or triage, and every hop with the exact event published for it.
A hop is appended with a single-document conditional update keyed by its cause event id, so a
redelivered event never adds a second hop; the stored event is published again instead.

A manual decision's event is owed until Kafka has it: one document per owed event in ``owed_events``,
``_id`` the event id, inserted before the decision is stored and deleted once it is published. The
debt lives in its own collection, not on the case: FerretDB 1.x applies an update by reading,
changing and writing back the whole document, so a second writer on the case (striking the debt off)
could erase a hop written at the same moment. Inserting and deleting by ``_id`` are atomic, and the
re-publisher's query reads only the few events owed, not every case.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from contracts.catalogue import AgencyCode
from contracts.sealed import Sealed
from services.common.mongo import create_index, insert_new
from services.routing.domain.cases import CaseRecord, Hop, OwedEvent


class RoutingStore(Protocol):
    async def get_case(self, case_id: str) -> CaseRecord | None: ...

    async def create_case(self, record: CaseRecord) -> bool:
        """Insert a new case with its first hop; False if the case already exists."""

    async def add_hop(
        self,
        case_id: str,
        hop: Hop,
        *,
        status: str,
        agency: AgencyCode | None,
        declined: tuple[AgencyCode, ...],
        expect_status: str | None = None,
    ) -> bool:
        """Append a hop unless one with the same cause exists (and the status is as expected)."""

    async def add_declined(self, case_id: str, agency: AgencyCode, cause_id: str) -> None:
        """Remember a decline that needs no new hop (the agency no longer had the case)."""

    async def triage_queue(self, province: str | None, limit: int) -> list[CaseRecord]:
        """Cases waiting for a person, oldest registration first."""

    async def owe(self, owed: OwedEvent) -> None:
        """Record that an event is owed (a debt already recorded for it is kept as it is)."""

    async def is_owed(self, event_id: str) -> bool:
        """Whether the event is still owed."""

    async def owed(self, limit: int) -> list[OwedEvent]:
        """The events owed, longest owed first."""

    async def settle(self, event_id: str) -> None:
        """The event is published (or nothing was owed): strike it off."""


# --- documents -----------------------------------------------------------------------------------


def _hop_doc(h: Hop) -> dict[str, Any]:
    return {
        "cause_id": h.cause_id,
        "event_id": h.event_id,
        "event_type": h.event_type,
        "event_json": h.event_json,
        "agency": h.agency.value if h.agency else None,
        "reason": h.reason,
        "at": h.at,
    }


def _hop(d: dict[str, Any]) -> Hop:
    return Hop(
        d["cause_id"],
        d["event_id"],
        d["event_type"],
        d["event_json"],
        AgencyCode(d["agency"]) if d.get("agency") else None,
        d["reason"],
        d["at"],
    )


def case_doc(r: CaseRecord) -> dict[str, Any]:
    return {
        "_id": r.case_id,
        "province": r.province,
        "subject": r.subject,
        "description": r.description,
        "category": r.category,
        "operator_agency": r.operator_agency.value if r.operator_agency else None,
        "registered_at": r.registered_at,
        "registered_event_id": r.registered_event_id,
        "duty_session_id": r.duty_session_id,
        "status": r.status,
        "agency": r.agency.value if r.agency else None,
        "declined": [a.value for a in r.declined],
        "hops": [_hop_doc(h) for h in r.hops],
        "causes": [h.cause_id for h in r.hops],
        "ignored_causes": list(r.ignored_causes),
        "description_sealed": r.description_sealed.model_dump() if r.description_sealed else None,
    }


def case_record(d: dict[str, Any]) -> CaseRecord:
    return CaseRecord(
        case_id=d["_id"],
        province=d["province"],
        subject=d.get("subject", ""),
        description=d.get("description", ""),
        category=d.get("category"),
        operator_agency=AgencyCode(d["operator_agency"]) if d.get("operator_agency") else None,
        registered_at=d["registered_at"],
        registered_event_id=d.get("registered_event_id"),
        duty_session_id=d.get("duty_session_id"),
        status=d.get("status", "new"),
        agency=AgencyCode(d["agency"]) if d.get("agency") else None,
        declined=tuple(AgencyCode(a) for a in d.get("declined", [])),
        hops=tuple(_hop(h) for h in d.get("hops", [])),
        ignored_causes=tuple(d.get("ignored_causes", [])),
        description_sealed=Sealed.model_validate(d["description_sealed"])
        if d.get("description_sealed")
        else None,
    )


def owed_doc(o: OwedEvent) -> dict[str, Any]:
    return {"_id": o.event_id, "case_id": o.case_id, "cause_id": o.cause_id, "since": o.since}


def owed_event(d: dict[str, Any]) -> OwedEvent:
    return OwedEvent(d["_id"], d["case_id"], d["cause_id"], d["since"])


# --- MongoDB -------------------------------------------------------------------------------------


class MongoRoutingStore:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], db_name: str) -> None:
        self.client = client
        self.cases = client[db_name]["cases"]
        self.owed_events = client[db_name]["owed_events"]

    async def ensure_indexes(self) -> None:
        await create_index(
            self.cases, [("status", ASCENDING), ("province", ASCENDING)], name="status_province"
        )

    async def get_case(self, case_id: str) -> CaseRecord | None:
        doc = await self.cases.find_one({"_id": case_id})
        return case_record(doc) if doc else None

    async def create_case(self, record: CaseRecord) -> bool:
        try:
            await self.cases.insert_one(case_doc(record))
        except DuplicateKeyError:
            return False
        return True

    async def add_hop(
        self,
        case_id: str,
        hop: Hop,
        *,
        status: str,
        agency: AgencyCode | None,
        declined: tuple[AgencyCode, ...],
        expect_status: str | None = None,
    ) -> bool:
        query: dict[str, Any] = {"_id": case_id, "causes": {"$ne": hop.cause_id}}
        if expect_status is not None:
            query["status"] = expect_status
        result = await self.cases.update_one(
            query,
            {
                "$set": {
                    "status": status,
                    "agency": agency.value if agency else None,
                    "declined": [a.value for a in declined],
                },
                "$push": {"hops": _hop_doc(hop), "causes": hop.cause_id},
            },
        )
        return result.modified_count == 1

    async def add_declined(self, case_id: str, agency: AgencyCode, cause_id: str) -> None:
        await self.cases.update_one(
            {"_id": case_id}, {"$addToSet": {"declined": agency.value, "ignored_causes": cause_id}}
        )

    async def triage_queue(self, province: str | None, limit: int) -> list[CaseRecord]:
        query: dict[str, Any] = {"status": "triage"}
        if province:
            query["province"] = province
        docs = await self.cases.find(query).sort("registered_at", ASCENDING).limit(limit).to_list()
        return [case_record(d) for d in docs]

    async def owe(self, owed: OwedEvent) -> None:
        await insert_new(self.owed_events, [owed_doc(owed)])

    async def is_owed(self, event_id: str) -> bool:
        return await self.owed_events.find_one({"_id": event_id}, {"_id": 1}) is not None

    async def owed(self, limit: int) -> list[OwedEvent]:
        docs = await self.owed_events.find({}).sort("since", ASCENDING).limit(limit).to_list()
        return [owed_event(d) for d in docs]

    async def settle(self, event_id: str) -> None:
        await self.owed_events.delete_one({"_id": event_id})


# --- in memory -------------------------------------------------------------------------------


@dataclass
class InMemoryRoutingStore:
    """The same contract in memory, for unit tests of the use cases."""

    cases: dict[str, CaseRecord] = field(default_factory=dict)
    owed_events: dict[str, OwedEvent] = field(default_factory=dict)

    async def get_case(self, case_id: str) -> CaseRecord | None:
        return self.cases.get(case_id)

    async def create_case(self, record: CaseRecord) -> bool:
        if record.case_id in self.cases:
            return False
        self.cases[record.case_id] = record
        return True

    async def add_hop(
        self,
        case_id: str,
        hop: Hop,
        *,
        status: str,
        agency: AgencyCode | None,
        declined: tuple[AgencyCode, ...],
        expect_status: str | None = None,
    ) -> bool:
        r = self.cases.get(case_id)
        if r is None or r.hop_for(hop.cause_id) is not None:
            return False
        if expect_status is not None and r.status != expect_status:
            return False
        self.cases[case_id] = replace(r, status=status, agency=agency, declined=declined, hops=(*r.hops, hop))
        return True

    async def add_declined(self, case_id: str, agency: AgencyCode, cause_id: str) -> None:
        r = self.cases[case_id]
        declined = r.declined if agency in r.declined else (*r.declined, agency)
        causes = r.ignored_causes if cause_id in r.ignored_causes else (*r.ignored_causes, cause_id)
        self.cases[case_id] = replace(r, declined=declined, ignored_causes=causes)

    async def triage_queue(self, province: str | None, limit: int) -> list[CaseRecord]:
        rows = [
            r
            for r in self.cases.values()
            if r.status == "triage" and (not province or r.province == province)
        ]
        return sorted(rows, key=lambda r: r.registered_at)[:limit]

    async def owe(self, owed: OwedEvent) -> None:
        self.owed_events.setdefault(owed.event_id, owed)

    async def is_owed(self, event_id: str) -> bool:
        return event_id in self.owed_events

    async def owed(self, limit: int) -> list[OwedEvent]:
        return sorted(self.owed_events.values(), key=lambda o: o.since)[:limit]

    async def settle(self, event_id: str) -> None:
        self.owed_events.pop(event_id, None)
