"""Bearer-token access control shared by the HTTP APIs.

Tokens are JWTs. Locally they are signed with a development key (HS256, SAMAD_AUTH_SECRET); in
production the same claims come from an OIDC provider (RS256 with its JWKS: set SAMAD_AUTH_JWKS_URL,
SAMAD_AUTH_ISSUER and SAMAD_AUTH_AUDIENCE). Roles: operator, agency_staff (scoped to one agency),
supervisor, ops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.catalogue import AgencyCode
from services.common.problems import ProblemError

DEV_SECRET = "samad-local-development-key-not-for-production"  # noqa: S105 - local development only


class Role(StrEnum):
    operator = "operator"
    agency_staff = "agency_staff"
    supervisor = "supervisor"
    ops = "ops"


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAMAD_AUTH_", extra="ignore")

    secret: str = DEV_SECRET
    issuer: str = "samad-local"
    audience: str = "samad"
    jwks_url: str | None = None
    algorithms: list[str] = ["HS256"]


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    agency: AgencyCode | None = None
    province: str | None = None
    name: str | None = None

    def can_see_agency(self, agency: str | None) -> bool:
        if self.role == Role.agency_staff:
            return agency is not None and agency == self.agency
        return True


def issue_token(
    subject: str,
    role: Role,
    agency: AgencyCode | None = None,
    *,
    ttl_seconds: int = 12 * 3600,
    settings: AuthSettings | None = None,
    name: str | None = None,
) -> str:
    """A locally signed development token (the `samad tokens issue` command uses this)."""
    s = settings or AuthSettings()
    if role == Role.agency_staff and agency is None:
        raise ValueError("agency_staff tokens need an agency")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "role": role.value,
        "iss": s.issuer,
        "aud": s.audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if agency is not None:
        claims["agency"] = agency.value
    if name:
        claims["name"] = name
    return jwt.encode(claims, s.secret, algorithm="HS256")


_jwks_clients: dict[str, jwt.PyJWKClient] = {}


def decode_token(token: str, settings: AuthSettings) -> Principal:
    try:
        if settings.jwks_url:
            client = _jwks_clients.setdefault(settings.jwks_url, jwt.PyJWKClient(settings.jwks_url))
            key: Any = client.get_signing_key_from_jwt(token).key
        else:
            key = settings.secret
        claims = jwt.decode(
            token, key, algorithms=settings.algorithms, audience=settings.audience, issuer=settings.issuer
        )
        role = Role(str(claims.get("role")))
        agency = AgencyCode(claims["agency"]) if claims.get("agency") else None
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise ProblemError(
            401,
            "unauthorized",
            "توکن دسترسی نامعتبر یا منقضی است",
            "Invalid or expired access token",
            detail_en=str(exc),
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from exc
    if role == Role.agency_staff and agency is None:
        raise ProblemError(
            401,
            "unauthorized",
            "توکن کارمند دستگاه باید دستگاه را مشخص کند",
            "An agency_staff token must name its agency",
        )
    return Principal(str(claims.get("sub")), role, agency, claims.get("province"), claims.get("name"))


def _settings(request: Request) -> AuthSettings:
    cached = getattr(request.app.state, "auth_settings", None)
    if cached is None:
        cached = request.app.state.auth_settings = AuthSettings()
    return cached


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
    return decode_token(token.strip(), _settings(request))


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


def forbid_other_agency(principal: Principal, agency: str | None) -> None:
    """403 when an agency's staff reach for another agency's case."""
    if not principal.can_see_agency(agency):
        raise ProblemError(
            403, "forbidden", "این پرونده متعلق به دستگاه شما نیست", "This case belongs to another agency"
        )
