"""fewer_collections: the first-generation threshold is raised for the block and put back after."""

from __future__ import annotations

import gc

import pytest

from services.common.collector import fewer_collections


def test_the_threshold_is_raised_inside_and_restored_after_even_on_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections(before[0] + 1000):
        assert gc.get_threshold() == (before[0] + 1000, *before[1:])
        raise RuntimeError("boom")
    assert gc.get_threshold() == before


def test_a_threshold_already_higher_is_not_lowered() -> None:
    before = gc.get_threshold()
    gc.set_threshold(before[0] + 5000, *before[1:])
    try:
        with fewer_collections(before[0] + 10):
            assert gc.get_threshold()[0] == before[0] + 5000
    finally:
        gc.set_threshold(*before)
