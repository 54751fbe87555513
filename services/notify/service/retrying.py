"""Send one SMS with the retry policy: tenacity's exponential back-off for transient errors only."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from services.notify.adapters.providers.base import (
    OutgoingSms,
    PartHandler,
    SendError,
    SmsProvider,
    Submitted,
)
from services.notify.domain.policy import RetryPolicy

log = logging.getLogger("samad.notify.retry")

Sleep = Callable[[float], Awaitable[None]]


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, SendError) and RetryPolicy.should_retry(exc.kind)


async def send_with_retry(
    provider: SmsProvider,
    sms: OutgoingSms,
    policy: RetryPolicy,
    *,
    before_attempt: Callable[[], Awaitable[None]] | None = None,
    sleep: Sleep | None = None,
    on_part: PartHandler | None = None,
    current: Callable[[], OutgoingSms] | None = None,
) -> Submitted:
    """Submit, retrying transient errors with back-off; permanent and unknown errors raise at once.
    ``current``: the message as it stands before each attempt (the parts accepted by an earlier
    attempt are not sent again); ``on_part``: handed to the provider."""

    def wait(state: RetryCallState) -> float:
        return policy.delay(state.attempt_number)

    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "sms %s: transient error on attempt %d/%d, next in %.1fs: %s",
            sms.sms_id,
            state.attempt_number,
            policy.attempts,
            policy.delay(state.attempt_number),
            exc,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(max(policy.attempts, 1)),
        wait=wait,
        retry=retry_if_exception(_transient),
        before_sleep=log_retry,
        reraise=True,
    )
    if sleep is not None:
        retrying = retrying.copy(sleep=sleep)
    async for attempt in retrying:
        with attempt:
            if before_attempt is not None:
                await before_attempt()
            message = current() if current is not None else sms
            return await (provider.send(message, on_part) if on_part is not None else provider.send(message))
    raise AssertionError("unreachable: tenacity reraises the last error")
