"""Token verification: RS256 against the provider's JWKS (cached, refreshed on an unknown key id), the
claims every token must carry, and the refusal of development keys in production.

The provider's JWKS endpoint is an in-process httpx transport here; tests/integration/test_identity.py
verifies tokens issued by the real local Keycloak.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.common.auth import (
    AuthSettings,
    InsecureConfiguration,
    Role,
    TokenVerifier,
    check_production,
    principal_of,
)
from services.common.problems import ProblemError

ISSUER = "https://id.example.ir/realms/samad"


class Provider:
    """Signing keys and the JWKS document a provider publishes."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.requests = 0

    def add_key(self, kid: str, publish: bool = True) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests += 1
            return httpx.Response(200, json=self.jwks())

        return httpx.MockTransport(handle)

    def token(self, kid: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": "samad",
            "sub": "3f1c",
            "preferred_username": "operator1",
            "exp": now + 300,
            "iat": now,
            "realm_access": {"roles": ["operator", "offline_access"]},
            "province": "khorasan_razavi",
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})


def verifier(provider: Provider, **settings: Any) -> TokenVerifier:
    s = AuthSettings(
        issuer=ISSUER, algorithms=["RS256"], secret=None, jwks_url="https://id.example.ir/jwks", **settings
    )
    s.jwks_refresh_min_seconds = 0
    return TokenVerifier(s, httpx.AsyncClient(transport=provider.transport()))


async def test_an_rs256_token_is_verified_by_the_jwks_fetched_once() -> None:
    provider = Provider()
    provider.add_key("k1")
    v = verifier(provider)
    first = await v.verify(provider.token("k1"))
    second = await v.verify(provider.token("k1", preferred_username="operator2"))
    assert (first.subject, first.role, first.province) == ("operator1", Role.operator, "khorasan_razavi")
    assert second.subject == "operator2"
    assert provider.requests == 1


async def test_a_rotated_key_is_fetched_when_a_token_names_it() -> None:
    provider = Provider()
    provider.add_key("old")
    v = verifier(provider)
    await v.verify(provider.token("old"))
    provider.add_key("new")
    principal = await v.verify(provider.token("new"))
    assert principal.role == Role.operator
    assert provider.requests == 2


async def test_an_unknown_key_id_is_refused() -> None:
    provider = Provider()
    provider.add_key("k1")
    provider.add_key("rogue", publish=False)
    with pytest.raises(ProblemError) as refused:
        await verifier(provider).verify(provider.token("rogue"))
    assert refused.value.args_[0] == 401


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", None), ("iss", None), ("aud", None), ("iss", "https://evil.example/realms/samad"), ("aud", "x")],
)
async def test_exp_iss_and_aud_are_required_and_checked(claim: str, value: Any) -> None:
    provider = Provider()
    provider.add_key("k1")
    with pytest.raises(ProblemError) as refused:
        await verifier(provider).verify(provider.token("k1", **{claim: value}))
    assert refused.value.args_[0] == 401


async def test_an_expired_token_is_refused() -> None:
    provider = Provider()
    provider.add_key("k1")
    with pytest.raises(ProblemError):
        await verifier(provider).verify(provider.token("k1", exp=int(time.time()) - 120))


async def test_an_hs256_token_is_refused_where_only_rs256_is_accepted() -> None:
    provider = Provider()
    provider.add_key("k1")
    forged = jwt.encode(
        {"iss": ISSUER, "aud": "samad", "exp": int(time.time()) + 60, "role": "supervisor", "sub": "x"},
        "samad-local-development-key-not-for-production",
        algorithm="HS256",
    )
    with pytest.raises(ProblemError) as refused:
        await verifier(provider).verify(forged)
    assert "algorithm" in refused.value.args_[5]


def test_roles_agency_and_subject_come_from_the_claims() -> None:
    staff = principal_of(
        {
            "sub": "u-1",
            "preferred_username": "staff-water",
            "realm_access": {"roles": ["agency_staff"]},
            "agency": "water_wastewater",
            "name": "رضا کریمی",
        }
    )
    assert (staff.subject, staff.role, staff.agency, staff.name) == (
        "staff-water",
        Role.agency_staff,
        "water_wastewater",
        "رضا کریمی",
    )
    widest = principal_of({"sub": "u-2", "realm_access": {"roles": ["operator", "supervisor"]}})
    assert (widest.subject, widest.role, widest.roles) == (
        "u-2",
        Role.supervisor,
        {Role.operator, Role.supervisor},
    )
    with pytest.raises(ProblemError):
        principal_of({"sub": "u-3", "realm_access": {"roles": ["agency_staff"]}})  # no agency
    with pytest.raises(ProblemError):
        principal_of({"sub": "u-4", "realm_access": {"roles": ["offline_access"]}})  # no SAMAD role


def test_production_refuses_development_keys() -> None:
    good = AuthSettings(environment="production", issuer=ISSUER, algorithms=["RS256"], secret=None)
    check_production(good, {"SAMAD_OPEN311_API_KEYS": False})
    with pytest.raises(InsecureConfiguration, match="SAMAD_AUTH_SECRET"):
        check_production(
            AuthSettings(environment="production", issuer=ISSUER, algorithms=["RS256"], secret="k")
        )
    with pytest.raises(InsecureConfiguration, match="HS256"):
        check_production(
            AuthSettings(environment="production", issuer=ISSUER, algorithms=["RS256", "HS256"], secret=None)
        )
    with pytest.raises(InsecureConfiguration, match="local development provider"):
        check_production(
            AuthSettings(
                environment="production",
                issuer="http://127.0.0.1:8180/realms/samad",
                algorithms=["RS256"],
                secret=None,
            )
        )
    with pytest.raises(InsecureConfiguration, match="SAMAD_OPEN311_API_KEYS"):
        check_production(good, {"SAMAD_OPEN311_API_KEYS": True})
    check_production(AuthSettings(secret="k", algorithms=["HS256"]))  # development: allowed
