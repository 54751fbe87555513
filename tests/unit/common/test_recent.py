"""Recent: at most ``limit`` entries, the least recently put or touched dropped first."""

from __future__ import annotations

from services.common.recent import Recent


def test_the_oldest_entries_go_beyond_the_limit_and_a_touch_keeps_one() -> None:
    memory: Recent[str, int] = Recent(3)
    for i, key in enumerate("abc"):
        memory.put(key, i)
    assert memory.touch("a") == 0  # now the newest
    memory.put("d", 3)
    assert list(memory) == ["c", "a", "d"]
    memory.put("c", 9)  # put again: newest, with its new value
    memory.put("e", 4)
    assert dict(memory) == {"d": 3, "c": 9, "e": 4}
    assert memory.touch("a") is None
    assert memory.pop("d") == 3 and len(memory) == 2
