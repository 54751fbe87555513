"""A bounded memory of recent work: a dict that keeps at most ``limit`` entries, dropping the least
recently put. Services use it to remember what they wrote or read last and so spare a database read;
forgetting an entry only costs that read again."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(OrderedDict[K, V]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` under ``key`` as the newest entry; the oldest go beyond the limit."""
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)

    def touch(self, key: K) -> V | None:
        """The value under ``key`` (None when there is none), now counted as the newest."""
        if key not in self:
            return None
        self.move_to_end(key)
        return self[key]
