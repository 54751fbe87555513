"""The rebuild's write-back: a checkpoint holds back documents that changed only in the interval just
ended, and commits no partition past the first event such a document has not stored."""

from __future__ import annotations

from services.ops.domain.shadow import Partition, ShadowCache

CASES: Partition = ("cases", 0)
SMS: Partition = ("sms", 0)


def changed(shadow: ShadowCache, key: str, *origins: tuple[Partition, int]) -> None:
    shadow.put(key, {"_id": key}, changed=True)
    for tp, offset in origins:
        shadow.unsaved.setdefault(key, {}).setdefault(tp, offset)


def test_documents_new_in_the_interval_are_held_once_then_written() -> None:
    shadow = ShadowCache(size=100, complete=True)
    changed(shadow, "a", (CASES, 5))
    changed(shadow, "b", (CASES, 7), (SMS, 3))

    assert shadow.take(hold=True) == []
    assert shadow.safe_position({CASES: 20, SMS: 10}) == {CASES: 5, SMS: 3}

    changed(shadow, "c", (SMS, 12))
    changed(shadow, "a", (CASES, 25))  # still owed from offset 5: the earliest is kept
    assert shadow.unsaved["a"] == {CASES: 5}

    assert shadow.take(hold=True) == ["a", "b"]
    assert shadow.safe_position({CASES: 30, SMS: 15}) == {CASES: 30, SMS: 12}

    assert shadow.take(hold=False) == ["c"]
    assert shadow.safe_position({CASES: 40, SMS: 20}) == {CASES: 40, SMS: 20}
    assert not shadow.dirty and not shadow.unsaved


def test_a_held_document_is_never_evicted() -> None:
    shadow = ShadowCache(size=1, complete=True)
    changed(shadow, "a", (CASES, 1))
    changed(shadow, "b", (CASES, 2))
    shadow.take(hold=True)
    shadow.evict()
    assert set(shadow.states) == {"a", "b"}
    shadow.take(hold=True)
    shadow.evict()
    assert list(shadow.states) == ["b"]
