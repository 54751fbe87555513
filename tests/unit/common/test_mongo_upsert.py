"""An upsert that lost the race to create its document is applied to the document the winner made."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.common.mongo import upsert


class Collection:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, Any], dict[str, Any], bool]] = []

    async def update_one(self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False) -> None:
        self.calls.append((query, update, upsert))
        if self.failures:
            raise self.failures.pop(0)


async def test_a_lost_race_to_create_the_document_updates_it() -> None:
    collection = Collection([DuplicateKeyError("E11000 duplicate key")])
    await upsert(collection, "k", {"$addToSet": {"ids": "a"}})
    assert collection.calls == [({"_id": "k"}, {"$addToSet": {"ids": "a"}}, True)] * 2


async def test_other_failures_are_raised_and_a_second_duplicate_too() -> None:
    with pytest.raises(OperationFailure):
        await upsert(Collection([OperationFailure("no")]), "k", {"$set": {"x": 1}})
    twice = Collection([DuplicateKeyError("one"), DuplicateKeyError("two")])
    with pytest.raises(DuplicateKeyError):
        await upsert(twice, "k", {"$set": {"x": 1}})
    assert len(twice.calls) == 2
