"""Retry policy, staleness, quiet hours in Tehran time and the opt-out words."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest

from services.notify.adapters.providers.base import OutgoingSms, SendError
from services.notify.adapters.providers.fake import FakeProvider
from services.notify.domain.ledger import SmsState
from services.notify.domain.policy import ErrorKind, QuietHours, RetryPolicy, decide, is_opt_out
from services.notify.service.retrying import send_with_retry

SMS = OutgoingSms("sms-1", "+989121234567", "سلام", 1, 42)
THROTTLED = SendError(ErrorKind.transient, "ESME_RTHROTTLED", "throttled")
BAD_NUMBER = SendError(ErrorKind.permanent, "ESME_RINVDSTADR", "bad number")
TIMEOUT = SendError(ErrorKind.unknown, "timeout", "no answer after submit")


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def test_transient_errors_are_retried_with_exponential_backoff_and_a_cap() -> None:
    provider = FakeProvider([THROTTLED, THROTTLED, THROTTLED])
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=5, initial=1.0, max_delay=3.0)
    result = await send_with_retry(provider, SMS, policy, sleep=sleeps)
    assert result.message_ids == ("fake-1",)
    assert len(provider.calls) == 4
    assert sleeps.delays == [1.0, 2.0, 3.0]  # 1, 2, then capped at 3


async def test_retries_stop_after_the_attempt_limit_with_the_last_error() -> None:
    provider = FakeProvider([THROTTLED] * 10)
    with pytest.raises(SendError) as err:
        await send_with_retry(provider, SMS, RetryPolicy(attempts=3), sleep=Sleeps())
    assert err.value.kind is ErrorKind.transient
    assert len(provider.calls) == 3
    assert provider.accepted == []


@pytest.mark.parametrize("error", [BAD_NUMBER, TIMEOUT])
async def test_permanent_and_unknown_errors_are_never_retried(error: SendError) -> None:
    provider = FakeProvider([error])
    sleeps = Sleeps()
    with pytest.raises(SendError):
        await send_with_retry(provider, SMS, RetryPolicy(attempts=5), sleep=sleeps)
    assert len(provider.calls) == 1
    assert sleeps.delays == []


def test_requeue_delays_grow_and_end() -> None:
    policy = RetryPolicy(max_claims=4, requeue_initial=30, requeue_max=100)
    assert [policy.requeue_delay(n) for n in (1, 2, 3, 4)] == [30.0, 60.0, 100.0, None]


NOON_TEHRAN = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)  # 12:00 in Tehran
MIDNIGHT_TEHRAN = datetime(2025, 6, 1, 20, 30, tzinfo=UTC)  # 00:00 in Tehran


def test_quiet_hours_defer_to_the_morning_in_tehran() -> None:
    quiet = QuietHours(time(22, 0), time(8, 0))
    assert quiet.resume_at(NOON_TEHRAN) is None
    morning = quiet.resume_at(MIDNIGHT_TEHRAN)
    assert morning is not None
    assert morning.astimezone(UTC) == datetime(2025, 6, 2, 4, 30, tzinfo=UTC)  # 08:00 Tehran
    late = quiet.resume_at(datetime(2025, 6, 1, 19, 0, tzinfo=UTC))  # 22:30 Tehran
    assert late is not None and late.astimezone(UTC) == datetime(2025, 6, 2, 4, 30, tzinfo=UTC)


def make(now: datetime, *, age: timedelta = timedelta(0), urgent: bool = False) -> SmsState:
    return decide(
        now=now,
        event_time=now - age,
        stale_after=timedelta(hours=24),
        urgent=urgent,
        quiet=QuietHours(),
    ).state


def test_decisions() -> None:
    assert make(NOON_TEHRAN) is SmsState.pending
    assert make(MIDNIGHT_TEHRAN) is SmsState.deferred
    assert make(MIDNIGHT_TEHRAN, urgent=True) is SmsState.pending
    assert make(NOON_TEHRAN, age=timedelta(hours=25)) is SmsState.skipped_stale
    assert make(MIDNIGHT_TEHRAN, age=timedelta(hours=25), urgent=True) is SmsState.skipped_stale


@pytest.mark.parametrize("text", ["لغو", " لغو ", "لغو.", "STOP", "لغو عضویت", "لغو"])
def test_opt_out_words(text: str) -> None:
    assert is_opt_out(text)


@pytest.mark.parametrize("text", ["لغو نکنید لطفا پیگیری کنید", "سلام", "کد ۱۲۳"])
def test_other_messages_are_not_opt_outs(text: str) -> None:
    assert not is_opt_out(text)
