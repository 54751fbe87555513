"""A citizen looks up their case: the tracking code and the phone (or its last four digits), limited per
client and per tracking code (``domain.lookup_limits``) so codes and phones cannot be guessed.

A wrong code and a wrong phone are one answer (``NoSuchCase``) reached by the same steps: the same
two tickets taken, the same reads (``CaseStore.citizen_of`` reads the same documents whether the code
names a case or not) and the same constant-time comparison, so neither the answer nor its timing tells
which one was wrong.
"""

from __future__ import annotations

from typing import Any

from contracts.tracking_code import clean
from services.common.clock import Clock
from services.tracking.adapters.cases import CaseStore
from services.tracking.adapters.ratelimit import Attempts
from services.tracking.domain.lookup_limits import LookupLimits, client_key, window_at
from services.tracking.domain.views import citizen_view, phone_matches
from services.tracking.service.errors import NoSuchCase, RateLimited
from services.tracking.service.opening import CaseOpener


class CitizenStatus:
    def __init__(
        self,
        cases: CaseStore,
        attempts: Attempts,
        clock: Clock,
        limits: LookupLimits,
        opener: CaseOpener | None = None,
    ) -> None:
        self.opener = opener or CaseOpener(None)
        self.cases = cases
        self.attempts = attempts
        self.clock = clock
        self.limits = limits

    async def __call__(self, tracking_code: str, phone: str, client: str) -> dict[str, Any]:
        """The citizen's view of the case. Raises RateLimited (the client's attempts or the code's
        failures are used up for their window), or NoSuchCase for a wrong code and a wrong phone alike."""
        now = self.clock.now()
        limits = self.limits
        client_window = window_at(now, limits.client_window_seconds)
        if (
            await self.attempts.take(f"client:{client_key(client)}", limits.client_attempts, client_window)
            is None
        ):
            raise RateLimited(client_window.seconds_left(now))
        code = clean(tracking_code)
        # Every lookup of the code takes one of its failure tickets first (so concurrent guesses in
        # any replica cannot all pass a check made before any of them failed); a right answer gives
        # it back. Codes that name no case are counted alike: their 429s must look the same.
        code_key = f"code:{code}"
        code_window = window_at(now, limits.code_window_seconds)
        ticket = await self.attempts.take(code_key, limits.code_failures, code_window)
        if ticket is None:
            raise RateLimited(code_window.seconds_left(now))
        found = await self.cases.citizen_of(code)
        # Compared even when the code names no case, so both refusals take the same steps.
        stored = await self.opener.phone(found.case_id, found.phone, found.phone_sealed) if found else None
        right = phone_matches(stored, phone)
        if found is None or not right:
            raise NoSuchCase(code)
        await self.attempts.give_back(code_key, code_window, ticket)
        case = await self.cases.get(found.case_id)
        if case is None:  # gone between the two reads (a rebuild's swap): as if never there
            raise NoSuchCase(code)
        return citizen_view(await self.opener(case))

    async def forget_expired(self) -> int:
        """Delete the attempts of windows that have ended (where the database does not expire them)."""
        return await self.attempts.purge(self.clock.now())
