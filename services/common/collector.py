"""Running Python's cyclic garbage collector less often during bulk work.

A rebuild or a large batch creates and keeps hundreds of thousands of small objects (case models,
timeline entries, decoded events). With the default first-generation threshold (700 allocations) the
collector runs every few hundred of them and walks the young objects each time: measured on 19,800
events applied to 3,000 cases, it was half of the apply time (40 µs an event against 22 µs with the
collector off, and 25 µs with a threshold of 50,000). Memory is still freed as usual by reference
counting; only reference cycles wait longer to be found.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLD = 50_000


@contextmanager
def fewer_collections(threshold: int = BULK_THRESHOLD) -> Iterator[None]:
    """Raise the first-generation threshold to ``threshold`` for the block (never lower it), then put
    back what was there."""
    before = gc.get_threshold()
    if threshold > before[0]:
        gc.set_threshold(threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
