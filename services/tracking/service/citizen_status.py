"""A citizen looks up their case: the tracking code and the phone (or its last four digits), limited
per client so codes cannot be guessed at speed."""

from __future__ import annotations

from typing import Any

from contracts.tracking_code import clean, is_valid
from services.tracking.adapters.cases import CaseStore
from services.tracking.adapters.ratelimit import RateLimiter
from services.tracking.domain.views import citizen_view, phone_matches
from services.tracking.service.errors import NoSuchCase, RateLimited


class CitizenStatus:
    def __init__(self, cases: CaseStore, limiter: RateLimiter) -> None:
        self.cases = cases
        self.limiter = limiter

    async def __call__(self, tracking_code: str, phone: str, client: str) -> dict[str, Any]:
        """The citizen's view of the case. Raises RateLimited, or NoSuchCase for a wrong code and a
        wrong phone alike: a lookup never tells which was wrong."""
        wait = self.limiter.take(client)
        if wait > 0:
            raise RateLimited(wait)
        code = clean(tracking_code)
        case = await self.cases.by_tracking_code(code) if is_valid(code) else None
        if case is None or not phone_matches(case.citizen.phone if case.citizen else None, phone):
            raise NoSuchCase(code)
        return citizen_view(case)
