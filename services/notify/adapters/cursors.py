"""Named positions that must survive a restart (the file provider's inbox offset): in MongoDB, or in
memory for tests."""

from __future__ import annotations

from typing import Any


class MongoCursor:
    def __init__(self, db: Any, name: str) -> None:
        self.c = db["cursors"]
        self.name = name

    async def get(self) -> int:
        doc = await self.c.find_one({"_id": self.name})
        return int(doc["offset"]) if doc else 0

    async def set(self, offset: int) -> None:
        await self.c.update_one({"_id": self.name}, {"$set": {"offset": offset}}, upsert=True)


class InMemoryCursor:
    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    async def get(self) -> int:
        return self.offset

    async def set(self, offset: int) -> None:
        self.offset = offset
