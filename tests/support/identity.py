"""Access tokens from the real local Keycloak of the test stack, for any role, agency and person.

The test profile's Keycloak (started by deploy/local/stack.py) imports the realm in deploy/local/keycloak/
and writes its issuer, the admin password and the seed users' passwords to .local/test/keycloak.json.
``token(role, agency, sub)`` makes sure a user named ``sub`` exists with that realm role and agency
(through Keycloak's admin API), then signs in as that user with the password grant of the local
``samad-cli`` client. Tokens are cached until shortly before they expire.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support.stack import ROOT

STATE = Path(os.environ.get("SAMAD_TEST_KEYCLOAK_STATE", str(ROOT / ".local" / "test" / "keycloak.json")))
CLI_CLIENT = "samad-cli"

_lock = threading.Lock()
_tokens: dict[tuple[str, str, str | None], tuple[str, float]] = {}
# username -> (role, agency, password) of the users this process set up.
_users: dict[str, tuple[str, str | None, str]] = {}


def use_profile(profile: str) -> None:
    """Point this module at another stack profile's Keycloak (the fault run has its own stack)."""
    global STATE
    STATE = ROOT / ".local" / profile / "keycloak.json"
    _tokens.clear()
    _users.clear()


def state() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(STATE.read_text())
    return loaded


def issuer() -> str:
    return str(state()["issuer"])


def service_env() -> dict[str, str]:
    """What a service process (or an in-process app) needs to verify the test stack's tokens and to
    call another service."""
    s = state()
    return {
        "SAMAD_AUTH_ISSUER": s["issuer"],
        "SAMAD_AUTH_JWKS_URL": s["jwks_url"],
        "SAMAD_AUTH_TOKEN_URL": s["token_url"],
        "SAMAD_AUTH_CLIENT_ID": s["services_client"]["client_id"],
        "SAMAD_AUTH_CLIENT_SECRET": s["services_client"]["client_secret"],
    }


def _admin_token(client: httpx.Client, base: str, s: dict[str, Any]) -> str:
    response = client.post(
        f"{base}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": "admin",
            "password": s["admin_password"],
        },
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def ensure_user(
    username: str, role: str, agency: str | None = None, province: str = "khorasan_razavi"
) -> str:
    """The password of ``username``, created (or reset) with exactly this role and agency."""
    s = state()
    seed = s["users"].get(username)
    if seed and seed["roles"] == [role] and seed.get("agency") == agency:
        return str(seed["password"])
    known = _users.get(username)
    if known and known[:2] == (role, agency):
        return known[2]
    base = s["issuer"].split("/realms/")[0]
    admin = f"{base}/admin/realms/samad"
    with httpx.Client(timeout=30) as client:
        headers = {"Authorization": f"Bearer {_admin_token(client, base, s)}"}
        attributes = {"province": [province], **({"agency": [agency]} if agency else {})}
        found = client.get(f"{admin}/users", params={"username": username, "exact": "true"}, headers=headers)
        found.raise_for_status()
        if found.json():
            user_id = found.json()[0]["id"]
            current = client.get(f"{admin}/users/{user_id}/role-mappings/realm", headers=headers).json()
            client.request(
                "DELETE", f"{admin}/users/{user_id}/role-mappings/realm", json=current, headers=headers
            ).raise_for_status()
            client.put(
                f"{admin}/users/{user_id}", json={"attributes": attributes}, headers=headers
            ).raise_for_status()
        else:
            created = client.post(
                f"{admin}/users",
                json={
                    "username": username,
                    "enabled": True,
                    "emailVerified": True,
                    "firstName": username,
                    "lastName": "test",
                    "email": f"{username}@samad.test",
                    "attributes": attributes,
                },
                headers=headers,
            )
            created.raise_for_status()
            user_id = created.headers["Location"].rsplit("/", 1)[-1]
        role_doc = client.get(f"{admin}/roles/{role}", headers=headers)
        role_doc.raise_for_status()
        client.post(
            f"{admin}/users/{user_id}/role-mappings/realm", json=[role_doc.json()], headers=headers
        ).raise_for_status()
        password = secrets.token_urlsafe(12)
        client.put(
            f"{admin}/users/{user_id}/reset-password",
            json={"type": "password", "value": password, "temporary": False},
            headers=headers,
        ).raise_for_status()
    _users[username] = (role, agency, password)
    return password


def password_token(username: str, password: str) -> tuple[str, float]:
    with httpx.Client(timeout=30) as client:
        response = client.post(
            state()["token_url"],
            data={
                "grant_type": "password",
                "client_id": CLI_CLIENT,
                "username": username,
                "password": password,
            },
        )
        response.raise_for_status()
        body = response.json()
    return str(body["access_token"]), time.monotonic() + float(body["expires_in"]) - 60


def token(role: Any, agency: Any = None, sub: str | None = None) -> str:
    """An access token of the local provider for ``sub`` (default: one user per role and agency)."""
    role_name = str(getattr(role, "value", role))
    agency_name = str(getattr(agency, "value", agency)) if agency is not None else None
    username = (sub or f"test-{role_name}-{agency_name or 'all'}").lower()
    key = (username, role_name, agency_name)
    with _lock:
        cached = _tokens.get(key)
        if cached and time.monotonic() < cached[1]:
            return cached[0]
        password = ensure_user(username, role_name, agency_name)
        fresh = password_token(username, password)
        _tokens[key] = fresh
        return fresh[0]


def bearer(role: Any, agency: Any = None, sub: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, agency, sub)}"}


class LazyBearer(Mapping[str, str]):
    """An Authorization header fetched on first use, so a test module can name it at import time."""

    def __init__(self, role: Any, agency: Any = None, sub: str | None = None) -> None:
        self.args = (role, agency, sub)

    def _headers(self) -> dict[str, str]:
        return bearer(*self.args)

    def __getitem__(self, key: str) -> str:
        return self._headers()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return 1
