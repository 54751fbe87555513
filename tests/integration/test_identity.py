"""The real local identity provider: its tokens carry what the services need and verify by JWKS;
`samad tokens issue` prints one; a token of another issuer or without the audience is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.common.auth import AuthSettings, Role, TokenVerifier
from services.common.problems import ProblemError
from tests.support import identity
from tests.support.stack import ROOT


async def test_a_keycloak_token_verifies_by_jwks_with_role_agency_and_province() -> None:
    token = identity.token(Role.agency_staff, "water_wastewater", "staff-jwks")
    verifier = TokenVerifier(AuthSettings())
    try:
        principal = await verifier.verify(token)
        again = await verifier.verify(identity.token(Role.supervisor, sub="sup-jwks"))
    finally:
        await verifier.close()
    assert (principal.subject, principal.role, principal.agency) == (
        "staff-jwks",
        Role.agency_staff,
        "water_wastewater",
    )
    assert principal.province == "khorasan_razavi"
    assert again.role == Role.supervisor
    assert verifier.jwks.fetches == 1  # the keys were fetched once and cached


async def test_a_token_for_another_issuer_or_audience_is_refused() -> None:
    token = identity.token(Role.operator, sub="op-jwks")
    for settings in (
        AuthSettings(issuer=identity.issuer() + "-other", jwks_url=identity.state()["jwks_url"]),
        AuthSettings(audience="someone-else"),
    ):
        verifier = TokenVerifier(settings)
        try:
            with pytest.raises(ProblemError) as refused:
                await verifier.verify(token)
        finally:
            await verifier.close()
        assert refused.value.args_[0] == 401


def test_samad_tokens_issue_prints_a_token_of_the_local_provider() -> None:
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "samad"),
            "tokens",
            "issue",
            "--role",
            "agency_staff",
            "--agency",
            "water_wastewater",
            "--profile",
            "test",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    claims = httpx.post(
        identity.state()["token_url"].replace("/token", "/token/introspect"),
        data={"token": token},
        auth=(
            identity.state()["services_client"]["client_id"],
            identity.state()["services_client"]["client_secret"],
        ),
        timeout=30,
    ).json()
    assert claims["active"] is True
    assert claims["preferred_username"] == "staff-water" and claims["agency"] == "water_wastewater"
