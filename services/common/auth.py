"""Bearer-token access control shared by the HTTP APIs: OpenID Connect access tokens, verified by JWKS.

Tokens come from the identity provider (locally Keycloak with the realm in deploy/local/keycloak/, in
production the governorate's own provider). Every service verifies RS256 signatures against the
provider's JWKS, fetched asynchronously, cached, and fetched again when a token names a key id the
cache does not hold; ``exp``, ``iss`` and ``aud`` are required. Roles come from the realm roles
(``realm_access.roles``): operator, agency_staff (scoped to the ``agency`` claim), supervisor, ops;
the ``province`` claim says where the person works. ``agency_head`` beside agency_staff marks the head
of that agency (their agency's escalations reach them).

A shared HS256 key (``SAMAD_AUTH_SECRET``) is accepted only outside production, for unit tests;
production (``SAMAD_ENVIRONMENT=production``) refuses to start with one (``check_production``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.catalogue import AgencyCode
from services.common.problems import ProblemError

PRODUCTION = "production"


class Role(StrEnum):
    operator = "operator"
    agency_staff = "agency_staff"
    supervisor = "supervisor"
    ops = "ops"


# Sent by the console with every call it makes for a person: the screen the call is for (the read
# audit records it beside the endpoint).
PURPOSE_HEADER = "X-Samad-Purpose"

# Not a role of its own: the head of an agency holds it beside agency_staff.
AGENCY_HEAD = "agency_head"

# A person holding several SAMAD roles acts with the widest one.
_ROLE_PRECEDENCE = (Role.supervisor, Role.ops, Role.agency_staff, Role.operator)


class InsecureConfiguration(RuntimeError):
    """A development secret or key in a production configuration: the service refuses to start."""


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAMAD_AUTH_", extra="ignore", populate_by_name=True)

    environment: str = Field(default="development", validation_alias="SAMAD_ENVIRONMENT")
    issuer: str = "http://127.0.0.1:8180/realms/samad"
    audience: str = "samad"
    # Default: the issuer's Keycloak-style JWKS address.
    jwks_url: str | None = None
    algorithms: list[str] = ["RS256"]
    # A shared HS256 key: unit tests only; refused in production.
    secret: str | None = None
    # The claim naming the person (an operator's id in events): the username, else ``sub``.
    subject_claim: str = "preferred_username"
    leeway_seconds: int = 30
    jwks_cache_seconds: float = 600.0
    # A token with an unknown key id fetches the JWKS again, at most this often (a rotated key is
    # picked up at once; a flood of forged key ids cannot hammer the provider).
    jwks_refresh_min_seconds: float = 10.0
    http_timeout_seconds: float = 5.0
    # Service-to-service calls: the client credentials grant of the confidential client.
    token_url: str | None = None
    client_id: str = "samad-services"
    client_secret: str | None = None

    @property
    def jwks(self) -> str:
        return self.jwks_url or f"{self.issuer.rstrip('/')}/protocol/openid-connect/certs"

    @property
    def token_endpoint(self) -> str:
        return self.token_url or f"{self.issuer.rstrip('/')}/protocol/openid-connect/token"

    @property
    def production(self) -> bool:
        return self.environment.strip().lower() == PRODUCTION


def check_production(settings: AuthSettings, development_values: dict[str, bool] | None = None) -> None:
    """Refuse a production start with a development key: an HS256 secret, a non-RS algorithm, or any
    of ``development_values`` (name -> whether the development value is in use, e.g. the Open311 key)."""
    if not settings.production:
        return
    problems = []
    if settings.secret:
        problems.append("SAMAD_AUTH_SECRET (a shared HS256 key) is set")
    weak = [a for a in settings.algorithms if not a.startswith(("RS", "PS", "ES"))]
    if weak:
        problems.append(f"SAMAD_AUTH_ALGORITHMS allows {', '.join(weak)}")
    if settings.issuer.startswith(("http://127.0.0.1", "http://localhost")):
        problems.append(f"SAMAD_AUTH_ISSUER is the local development provider ({settings.issuer})")
    problems.extend(
        f"{name} is the development value" for name, used in (development_values or {}).items() if used
    )
    if problems:
        raise InsecureConfiguration(
            "refusing to start in production with development secrets: " + "; ".join(problems)
        )


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    agency: AgencyCode | None = None
    province: str | None = None
    name: str | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    # The head of their agency (realm role agency_head beside agency_staff): late cases reach them.
    agency_head: bool = False
    # The client the token was issued to (``azp``): the services' own client for calls between services.
    client: str | None = None

    def can_see_agency(self, agency: str | None) -> bool:
        if self.role == Role.agency_staff:
            return agency is not None and agency == self.agency
        return True


def _unauthorized(detail_en: str) -> ProblemError:
    return ProblemError(
        401,
        "unauthorized",
        "توکن دسترسی نامعتبر یا منقضی است",
        "Invalid or expired access token",
        detail_en=detail_en,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class JwksCache:
    """The provider's signing keys by key id, fetched without blocking the event loop."""

    def __init__(self, url: str, http: httpx.AsyncClient, ttl: float, refresh_min: float) -> None:
        self.url = url
        self.http = http
        self.ttl = ttl
        self.refresh_min = refresh_min
        self.keys: dict[str, Any] = {}
        self.fetched_at = float("-inf")
        self.fetches = 0
        self._lock = asyncio.Lock()

    async def _fetch(self) -> None:
        response = await self.http.get(self.url)
        response.raise_for_status()
        keyset = jwt.PyJWKSet.from_dict(response.json())
        self.keys = {k.key_id: k.key for k in keyset.keys if k.key_id}
        self.fetched_at = time.monotonic()
        self.fetches += 1

    async def key(self, kid: str | None) -> Any:
        if kid is None:
            raise jwt.InvalidTokenError("the token names no key id (kid)")
        age = time.monotonic() - self.fetched_at
        if kid in self.keys and age < self.ttl:
            return self.keys[kid]
        async with self._lock:
            age = time.monotonic() - self.fetched_at
            stale = age >= self.ttl
            unknown = kid not in self.keys and age >= self.refresh_min
            if stale or unknown:
                try:
                    await self._fetch()
                except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                    if kid not in self.keys:
                        raise jwt.InvalidTokenError(f"the provider's keys are unreachable: {exc!r}") from exc
        if kid not in self.keys:
            raise jwt.InvalidTokenError(f"unknown key id {kid!r}")
        return self.keys[kid]


class TokenVerifier:
    def __init__(self, settings: AuthSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.AsyncClient(timeout=settings.http_timeout_seconds)
        self.jwks = JwksCache(
            settings.jwks, self.http, settings.jwks_cache_seconds, settings.jwks_refresh_min_seconds
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def verify(self, token: str) -> Principal:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
            algorithm = str(header.get("alg", ""))
            if algorithm not in s.algorithms:
                raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not accepted")
            if algorithm.startswith("HS"):
                if not s.secret:
                    raise jwt.InvalidAlgorithmError("no shared key is configured")
                key: Any = s.secret
            else:
                key = await self.jwks.key(header.get("kid"))
            claims = jwt.decode(
                token,
                key,
                algorithms=s.algorithms,
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(str(exc)) from exc
        return principal_of(claims, s.subject_claim)


def principal_of(claims: dict[str, Any], subject_claim: str = "preferred_username") -> Principal:
    """The principal a verified token's claims describe; 401 when they name no SAMAD role."""
    named = (
        claims.get("realm_access", {}).get("roles", [])
        if isinstance(claims.get("realm_access"), dict)
        else []
    )
    if isinstance(claims.get("role"), str):
        named = [*named, claims["role"]]
    roles = frozenset(Role(r) for r in named if r in Role.__members__)
    role = next((r for r in _ROLE_PRECEDENCE if r in roles), None)
    if role is None:
        raise _unauthorized("the token carries no SAMAD role (operator, agency_staff, supervisor, ops)")
    agency: AgencyCode | None = None
    if claims.get("agency"):
        try:
            agency = AgencyCode(str(claims["agency"]))
        except ValueError as exc:
            raise _unauthorized(f"unknown agency {claims['agency']!r}") from exc
    if role == Role.agency_staff and agency is None:
        raise ProblemError(
            401,
            "unauthorized",
            "توکن کارمند دستگاه باید دستگاه را مشخص کند",
            "An agency_staff token must name its agency",
        )
    subject = claims.get(subject_claim) or claims.get("sub")
    if not subject:
        raise _unauthorized("the token names no subject")
    province = claims.get("province")
    name = claims.get("name")
    return Principal(
        str(subject),
        role,
        agency,
        str(province) if province else None,
        str(name) if name else None,
        roles,
        agency_head=role == Role.agency_staff and AGENCY_HEAD in named,
        client=str(claims["azp"]) if claims.get("azp") else None,
    )


class ServiceTokens:
    """Access tokens for one service calling another: the client credentials grant, cached until
    shortly before they expire."""

    def __init__(self, settings: AuthSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.AsyncClient(timeout=settings.http_timeout_seconds)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token and time.monotonic() < self._expires:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires:
                return self._token
            if not self.settings.client_secret:
                raise RuntimeError("SAMAD_AUTH_CLIENT_SECRET is not set: no token for service calls")
            response = await self.http.post(
                self.settings.token_endpoint,
                data={"grant_type": "client_credentials"},
                auth=(self.settings.client_id, self.settings.client_secret),
            )
            response.raise_for_status()
            body = response.json()
            self._token = str(body["access_token"])
            self._expires = time.monotonic() + max(10.0, float(body.get("expires_in", 60)) - 30.0)
            return self._token

    async def close(self) -> None:
        await self.http.aclose()


def verifier_of(request: Request) -> TokenVerifier:
    state = request.app.state
    verifier = getattr(state, "token_verifier", None)
    if verifier is None:
        verifier = state.token_verifier = TokenVerifier(AuthSettings())
    return verifier


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ProblemError(
            401,
            "unauthorized",
            "احراز هویت لازم است",
            "Authentication required",
            "توکن Bearer در سرآیند Authorization لازم است",
            "A Bearer token in the Authorization header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await verifier_of(request).verify(token.strip())


def require(*roles: Role) -> Any:
    """A FastAPI dependency: the caller's principal, if their role is one of ``roles``; else 403."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ProblemError(
                403,
                "forbidden",
                "دسترسی مجاز نیست",
                "Forbidden",
                f"این کار فقط برای نقش‌های {allowed} مجاز است",
                f"Only these roles may do this: {allowed}",
            )
        return principal

    return Depends(dependency)


def services_only(settings: AuthSettings | None = None) -> Any:
    """A FastAPI dependency: the caller's principal, if their token was issued to the services' own
    confidential client (``azp`` is SAMAD_AUTH_CLIENT_ID: the client credentials grant); else 403."""
    client_id = (settings or AuthSettings()).client_id

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.client != client_id:
            raise ProblemError(
                403,
                "forbidden",
                "دسترسی مجاز نیست",
                "Forbidden",
                "این کار فقط برای سرویس‌های سامانه مجاز است",
                "Only the platform's services may do this",
            )
        return principal

    return Depends(dependency)


def forbid_other_agency(principal: Principal, agency: str | None) -> None:
    """403 when an agency's staff reach for another agency's case."""
    if not principal.can_see_agency(agency):
        raise ProblemError(
            403, "forbidden", "این پرونده متعلق به دستگاه شما نیست", "This case belongs to another agency"
        )
