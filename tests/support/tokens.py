"""HS256 tokens for unit tests only: the apps under unit test accept them because tests/unit/conftest.py
configures a shared test key. Integration, e2e and fault tests use the real provider
(tests/support/identity.py); production refuses a shared key."""

from __future__ import annotations

import time
from typing import Any

import jwt

UNIT_KEY = "unit-tests-only-key-for-hs256-signatures"
UNIT_ISSUER = "https://id.unit.test/realms/samad"


def unit_token(
    role: Any, agency: Any = None, sub: str = "tester", ttl_seconds: int = 3600, *, also: tuple[str, ...] = ()
) -> str:
    """``also``: more realm roles beside ``role`` (``("agency_head",)`` for an agency's head)."""
    role_name = str(getattr(role, "value", role))
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "preferred_username": sub,
        "realm_access": {"roles": [role_name, *also]},
        "iss": UNIT_ISSUER,
        "aud": "samad",
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if agency is not None:
        claims["agency"] = str(getattr(agency, "value", agency))
    return jwt.encode(claims, UNIT_KEY, algorithm="HS256")


def unit_bearer(
    role: Any, agency: Any = None, sub: str = "tester", *, also: tuple[str, ...] = ()
) -> dict[str, str]:
    return {"Authorization": f"Bearer {unit_token(role, agency, sub, also=also)}"}
