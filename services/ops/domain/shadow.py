"""What a rebuild holds of its shadow collection in memory, and which documents a checkpoint writes.

Documents are folded in memory while their events are applied and written back at checkpoints. A
document that changed only in the checkpoint interval just ended is held back one interval: a case's
events come close together, so most such documents are not finished yet, and writing them now would mean
an insert now and a replace later (a replace costs FerretDB about four times as much as an insert). The
committed log position then stops at the first event such a document holds that is not stored yet, so a
resume reads those events again (the projection ignores an event it has applied).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

# A partition of a topic: (topic, partition).
Partition = tuple[str, int]


class ShadowCache:
    """Documents in memory (most recently used last), and the ids stored in the shadow. ``complete``:
    every stored id is in ``stored`` (a fresh shadow, or one read whole on resume), so an id not in it
    needs no lookup.

    ``dirty`` maps each changed document to the checkpoint interval in which it first changed since it
    was last written; ``unsaved`` keeps, per partition, the offset of the first event it holds that is
    not stored yet."""

    def __init__(self, size: int, complete: bool) -> None:
        self.size = size
        self.states: OrderedDict[str, Any | None] = OrderedDict()
        self.stored: set[str] = set()
        self.complete = complete
        self.dirty: dict[str, int] = {}
        self.unsaved: dict[str, dict[Partition, int]] = {}
        self.interval = 0

    def get(self, key: str) -> tuple[bool, Any | None]:
        if key in self.states:
            self.states.move_to_end(key)
            return True, self.states[key]
        return False, None

    def put(self, key: str, state: Any | None, *, changed: bool) -> None:
        self.states[key] = state
        self.states.move_to_end(key)
        if changed:
            self.dirty.setdefault(key, self.interval)

    def needs_lookup(self, key: str) -> bool:
        return not self.complete or key in self.stored

    def evict(self) -> None:
        """Forget the least recently used clean documents beyond the size (only once they are stored)."""
        excess = len(self.states) - self.size
        if excess <= 0:
            return
        victims = [k for k in self.states if k not in self.dirty][:excess]
        for key in victims:
            del self.states[key]

    def take(self, *, hold: bool) -> list[str]:
        """The changed documents to write now, in the order they changed; with ``hold``, not those that
        changed only in the current interval, which then ends."""
        if hold:
            now = self.interval
            self.interval += 1
            keys = [k for k, first in self.dirty.items() if first < now]
        else:
            keys = list(self.dirty)
        for key in keys:
            del self.dirty[key]
            self.unsaved.pop(key, None)
        return keys

    def safe_position(self, position: Mapping[Partition, int]) -> dict[Partition, int]:
        """How far each partition may be committed: not past the first unstored event of a held
        document."""
        safe = dict(position)
        for offsets in self.unsaved.values():
            for tp, offset in offsets.items():
                if offset < safe.get(tp, offset + 1):
                    safe[tp] = offset
        return safe
