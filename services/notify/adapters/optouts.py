"""Citizens who asked for no more SMS, kept with who and why; opting back in keeps the history.
``MongoOptOuts`` is the real store, ``InMemoryOptOuts`` the fake."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pymongo import ReturnDocument

from services.notify.domain.optouts import OptOut


class OptOuts(Protocol):
    async def is_opted_out(self, phone: str) -> bool: ...

    async def get(self, phone: str) -> OptOut | None: ...

    async def set(
        self, phone: str, opted_out: bool, *, source: str, by: str, reason: str, now: datetime
    ) -> OptOut:
        """Record the choice (and add it to the number's history); the number's state after it."""
        ...


def _opt_out(doc: dict[str, Any]) -> OptOut:
    return OptOut(
        phone=str(doc["_id"]),
        opted_out=bool(doc.get("opted_out")),
        source=str(doc.get("source") or ""),
        by=str(doc.get("by") or ""),
        reason=str(doc.get("reason") or ""),
        updated_at=doc.get("updated_at"),
    )


class MongoOptOuts:
    def __init__(self, db: Any) -> None:
        self.c = db["sms_optouts"]

    async def is_opted_out(self, phone: str) -> bool:
        doc = await self.c.find_one({"_id": phone, "opted_out": True}, {"_id": 1})
        return doc is not None

    async def get(self, phone: str) -> OptOut | None:
        doc = await self.c.find_one({"_id": phone})
        return _opt_out(doc) if doc is not None else None

    async def set(
        self, phone: str, opted_out: bool, *, source: str, by: str, reason: str, now: datetime
    ) -> OptOut:
        doc = await self.c.find_one_and_update(
            {"_id": phone},
            {
                "$set": {
                    "opted_out": opted_out,
                    "source": source,
                    "by": by,
                    "reason": reason,
                    "updated_at": now,
                },
                "$push": {"history": {"at": now, "opted_out": opted_out, "source": source, "by": by}},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None
        return _opt_out(doc)


class InMemoryOptOuts:
    def __init__(self) -> None:
        self.current: dict[str, OptOut] = {}
        self.history: dict[str, list[OptOut]] = {}
        self.asked: list[str] = []  # every is_opted_out question, in order

    async def is_opted_out(self, phone: str) -> bool:
        self.asked.append(phone)
        found = self.current.get(phone)
        return found is not None and found.opted_out

    async def get(self, phone: str) -> OptOut | None:
        return self.current.get(phone)

    async def set(
        self, phone: str, opted_out: bool, *, source: str, by: str, reason: str, now: datetime
    ) -> OptOut:
        state = OptOut(phone, opted_out, source, by, reason, now)
        self.current[phone] = state
        self.history.setdefault(phone, []).append(state)
        return state
