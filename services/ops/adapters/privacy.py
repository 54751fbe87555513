"""Privacy requests waiting for their second approval, and the citizens' cases as tracking projects
them (read for export and retention). Ports with a MongoDB adapter and an in-memory fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from typing import Any, Protocol

from services.ops.domain.privacy import CitizenCase, PrivacyAction, PrivacyRequest, RequestState


class PrivacyRequests(Protocol):
    async def add(self, request: PrivacyRequest) -> None: ...

    async def get(self, request_id: str) -> PrivacyRequest | None: ...

    async def finish(self, request: PrivacyRequest, outcome: str) -> bool:
        """Mark a pending request done (approved, carried out); False if it was not pending any more."""
        ...


def _doc(r: PrivacyRequest) -> dict[str, Any]:
    doc = asdict(r)
    doc["_id"] = doc.pop("id")
    doc["action"], doc["state"] = r.action.value, r.state.value
    return doc


def _request(doc: dict[str, Any]) -> PrivacyRequest:
    values = {k: v for k, v in doc.items() if k != "_id"}
    return PrivacyRequest(
        id=str(doc["_id"]),
        **{**values, "action": PrivacyAction(doc["action"]), "state": RequestState(doc["state"])},
    )


class MongoPrivacyRequests:
    def __init__(self, db: Any) -> None:
        self.col = db["privacy_requests"]

    async def add(self, request: PrivacyRequest) -> None:
        await self.col.insert_one(_doc(request))

    async def get(self, request_id: str) -> PrivacyRequest | None:
        doc = await self.col.find_one({"_id": request_id})
        return _request(doc) if doc else None

    async def finish(self, request: PrivacyRequest, outcome: str) -> bool:
        result = await self.col.update_one(
            {"_id": request.id, "state": RequestState.pending.value},
            {
                "$set": {
                    "state": RequestState.done.value,
                    "approved_by": request.approved_by,
                    "approved_at": request.approved_at,
                    "outcome": outcome,
                }
            },
        )
        return bool(result.modified_count)


class InMemoryPrivacyRequests:
    def __init__(self) -> None:
        self.requests: dict[str, PrivacyRequest] = {}

    async def add(self, request: PrivacyRequest) -> None:
        self.requests[request.id] = request

    async def get(self, request_id: str) -> PrivacyRequest | None:
        return self.requests.get(request_id)

    async def finish(self, request: PrivacyRequest, outcome: str) -> bool:
        stored = self.requests.get(request.id)
        if stored is None or stored.state is not RequestState.pending:
            return False
        self.requests[request.id] = replace(request, state=RequestState.done, outcome=outcome)
        return True


class CitizenCases(Protocol):
    async def of_citizen(self, kid: str) -> list[dict[str, Any]]:
        """Tracking's documents of the citizen's cases (sealed as stored)."""
        ...

    def all_cases(self) -> AsyncIterator[CitizenCase]:
        """Every sealed case: whose, its status, when it finished."""
        ...


_FINISH_FIELDS = ("closed_at", "resolved_at", "rejected_at")


def citizen_case(doc: dict[str, Any]) -> CitizenCase | None:
    kid = (doc.get("citizen") or {}).get("key_id")
    if not kid:
        return None
    finished = [doc[f] for f in _FINISH_FIELDS if doc.get(f) is not None]
    return CitizenCase(str(kid), doc.get("status"), max(finished) if finished else None)


class MongoCitizenCases:
    """Reads tracking's case collection (the ops user may read it: rebuilds compare and swap it)."""

    def __init__(self, db: Any, collection: str) -> None:
        self.col = db[collection]

    async def of_citizen(self, kid: str) -> list[dict[str, Any]]:
        return [doc async for doc in self.col.find({"citizen.key_id": kid})]

    async def all_cases(self) -> AsyncIterator[CitizenCase]:
        fields = {"citizen.key_id": 1, "status": 1, **dict.fromkeys(_FINISH_FIELDS, 1)}
        async for doc in self.col.find({"citizen.key_id": {"$exists": True}}, fields):
            found = citizen_case(doc)
            if found is not None:
                yield found


class InMemoryCitizenCases:
    def __init__(self, docs: list[dict[str, Any]] | None = None) -> None:
        self.docs = docs or []

    async def of_citizen(self, kid: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if (d.get("citizen") or {}).get("key_id") == kid]

    async def all_cases(self) -> AsyncIterator[CitizenCase]:
        for doc in self.docs:
            found = citizen_case(doc)
            if found is not None:
                yield found
