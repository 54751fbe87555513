"""Decisions before sending and after failing: staleness, opt-out, quiet hours, retry classes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from contracts.persian import normalize_text
from services.notify.domain.ledger import SmsState
from services.notify.domain.rendering import TEHRAN


@dataclass(frozen=True)
class QuietHours:
    """A nightly window in Tehran time during which non-urgent SMS wait for the morning."""

    start: time = time(22, 0)
    end: time = time(8, 0)
    enabled: bool = True

    def _inside(self, t: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def resume_at(self, now: datetime) -> datetime | None:
        """None outside the window; otherwise the end of the window (the next morning) in UTC terms."""
        if not self.enabled:
            return None
        local = now.astimezone(TEHRAN)
        if not self._inside(local.time().replace(tzinfo=None)):
            return None
        morning = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if morning <= local:
            morning += timedelta(days=1)
        return morning


@dataclass(frozen=True)
class Decision:
    state: SmsState
    not_before: datetime | None = None
    reason: str = ""


def decide(
    *,
    now: datetime,
    event_time: datetime,
    stale_after: timedelta,
    urgent: bool,
    quiet: QuietHours,
) -> Decision:
    """What happens to a new ledger record: send now, defer to the morning, or skip a stale one.

    An opt-out is not decided here: the sender asks for it right before the gateway, so the latest
    answer counts (the record then goes to ``skipped_opted_out``).
    """
    age = now - event_time
    if age > stale_after:
        return Decision(SmsState.skipped_stale, reason=f"event is {age} old (limit {stale_after})")
    if not urgent:
        morning = quiet.resume_at(now)
        if morning is not None:
            return Decision(SmsState.deferred, not_before=morning, reason="quiet hours")
    return Decision(SmsState.pending, not_before=now)


class ErrorKind(StrEnum):
    """How a provider error is handled.

    transient: the provider did not take the message (throttled, queue full, 5xx, refused
      connection): retry with back-off.
    permanent: it never will (bad number, blocked, rejected text): do not retry.
    unknown: the request may have reached it (timeout after submitting): never resend blindly;
      reconcile through receipts or a status lookup.
    """

    transient = "transient"
    permanent = "permanent"
    unknown = "unknown"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with a cap, in two tiers.

    In-call: ``attempts`` tries spaced ``initial * 2**n`` seconds (at most ``max_delay``), inside one
    claim. Across claims: when those are spent the record returns to ``pending`` for a later claim,
    ``requeue_initial * 2**claims`` seconds later (at most ``requeue_max``), until ``max_claims``.
    """

    attempts: int = 4
    initial: float = 0.5
    max_delay: float = 8.0
    max_claims: int = 6
    requeue_initial: float = 30.0
    requeue_max: float = 1800.0

    def delay(self, attempt: int) -> float:
        """Seconds before in-call attempt ``attempt + 1`` (attempt counts from 1)."""
        return float(min(self.initial * 2 ** max(attempt - 1, 0), self.max_delay))

    def requeue_delay(self, claims: int) -> float | None:
        """Seconds before the next claim after ``claims`` exhausted claims; None when it is over."""
        if claims >= self.max_claims:
            return None
        return float(min(self.requeue_initial * 2 ** max(claims - 1, 0), self.requeue_max))

    @staticmethod
    def should_retry(kind: ErrorKind) -> bool:
        return kind is ErrorKind.transient


# Inbound words that stop SMS to the sender: Persian first, and the usual Latin spellings.
OPT_OUT_WORDS = frozenset({"لغو", "لغو عضویت", "توقف", "stop", "lagv", "laghv", "off"})


def is_opt_out(text: str) -> bool:
    words = normalize_text(text).strip(" .!؟?،,").lower()
    return words in OPT_OUT_WORDS
