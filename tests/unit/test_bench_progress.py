"""The benchmark's steady rate: read from polls that may be far apart, it must not be overstated."""

from __future__ import annotations

from bench.load import Progress


def test_steady_rate_is_exact_for_even_completion_polled_unevenly() -> None:
    # 50 cases/s throughout, polled at uneven moments (a poll can wait seconds on a busy database).
    progress = Progress([(t, 50 * t, 100 * t) for t in (0.0, 1.0, 2.0, 17.0, 18.0, 30.0)])
    assert progress.rate_between(0.1, 0.9, 1500) == 50.0
    assert progress.time_at(150) == 3.0 and progress.time_at(1350) == 27.0


def test_a_share_never_reached_gives_no_rate() -> None:
    progress = Progress([(0.0, 0, 0), (5.0, 100, 200)])
    assert progress.time_at(101) is None
    assert progress.rate_between(0.1, 0.9, 1000) is None
