"""The timings and limits notify's use cases run with (built from the settings by bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.notify.domain.policy import QuietHours, RetryPolicy


@dataclass(frozen=True)
class NotifyConfig:
    stale_after: timedelta
    quiet: QuietHours
    retry: RetryPolicy
    lease: timedelta = timedelta(seconds=120)
    poll_seconds: float = 15.0
    reconcile_seconds: float = 15.0
    status_poll: timedelta = timedelta(seconds=60)
    # Events still owed this long after their record changed are published by the reconciler (the
    # writer died or stalled before publishing). A second publication carries the same event id.
    outbox_grace: timedelta = timedelta(seconds=30)
    # How long a receipt whose message id no record knows may wait for it before it is reported.
    receipt_match_wait: timedelta = timedelta(minutes=10)
    concurrency: int = 4
    crash_after_submit: bool = False
