"""The local realm imports as Keycloak stores it: descriptions within its 255-character columns, every
user attribute declared by the user profile, and the people the inbox and the escalation ladder rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REALM: dict[str, Any] = json.loads((ROOT / "deploy" / "local" / "keycloak" / "samad-realm.json").read_text())
KEYCLOAK_TEXT_COLUMN = 255


def test_descriptions_fit_keycloak_s_columns() -> None:
    described = [*REALM["clients"], *REALM["roles"]["realm"], *REALM["clientScopes"]]
    too_long = {
        d.get("clientId") or d["name"]: len(d["description"])
        for d in described
        if len(d.get("description", "")) > KEYCLOAK_TEXT_COLUMN
    }
    assert not too_long, (
        f"Keycloak refuses to import descriptions over {KEYCLOAK_TEXT_COLUMN} characters: {too_long}"
    )


def test_every_user_attribute_is_declared_by_the_user_profile() -> None:
    component = REALM["components"]["org.keycloak.userprofile.UserProfileProvider"][0]
    declared = {a["name"] for a in json.loads(component["config"]["kc.user.profile.config"][0])["attributes"]}
    used = {name for user in REALM["users"] for name in (user.get("attributes") or {})}
    assert used <= declared, f"undeclared attributes would be dropped: {used - declared}"


def test_each_agency_with_staff_has_a_head_with_a_phone() -> None:
    people = [u for u in REALM["users"] if not u.get("serviceAccountClientId")]
    agencies = {u["attributes"]["agency"][0] for u in people if "agency_staff" in u.get("realmRoles", [])}
    heads = {
        u["attributes"]["agency"][0]: u
        for u in people
        if {"agency_staff", "agency_head"} <= set(u.get("realmRoles", []))
    }
    assert agencies == set(heads)
    assert all(h["attributes"]["phone"][0].startswith("+989") for h in heads.values())
    services = next(u for u in REALM["users"] if u.get("serviceAccountClientId") == "samad-services")
    assert sorted(services["clientRoles"]["realm-management"]) == ["query-users", "view-users"]
