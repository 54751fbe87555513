"""The one source of "now" for every service: the system clock, or a fixed one that tests move."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
        if self.at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta

    def set(self, at: datetime) -> None:
        self.at = at


class OffsetClock:
    """The system clock moved by the number of seconds written in a file: the browser tests move a
    running service past a deadline this way. Test only: services refuse it in production. A missing
    or unreadable file counts as no offset; the file is read again at most every ``recheck`` seconds."""

    def __init__(self, path: str, recheck: float = 0.2) -> None:
        self.path = path
        self.recheck = recheck
        self._offset = timedelta(0)
        self._read_at = float("-inf")

    def _current_offset(self) -> timedelta:
        now = time.monotonic()
        if now - self._read_at >= self.recheck:
            self._read_at = now
            try:
                with open(self.path, encoding="utf-8") as f:
                    self._offset = timedelta(seconds=float(f.read().strip() or 0))
            except (OSError, ValueError):
                self._offset = timedelta(0)
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._current_offset()
