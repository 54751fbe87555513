"""The staff directory read from the test stack's Keycloak with the services' own account: who works for
an agency, who heads it, the governorate's supervisors, each with the phone of their profile."""

from __future__ import annotations

import pytest

from services.common.auth import AuthSettings, ServiceTokens
from services.tracking.adapters.directory import DirectoryUnavailable, KeycloakDirectory


async def test_the_directory_names_staff_heads_and_supervisors_with_their_phones(real_stack: None) -> None:
    auth = AuthSettings()
    tokens = ServiceTokens(auth)
    directory = KeycloakDirectory(auth.issuer.replace("/realms/", "/admin/realms/", 1), tokens.token)
    try:
        water = {p.id: p for p in await directory.staff_of("water_wastewater")}
        assert {"staff-water", "head-water"} <= set(water)
        assert all(p.agency == "water_wastewater" for p in water.values())
        assert water["staff-water"].name == "رضا کریمی"
        heads = await directory.heads_of("water_wastewater")
        assert [(p.id, p.phone) for p in heads] == [("head-water", "+989150000501")]
        supervisors = {p.id: p for p in await directory.supervisors("khorasan_razavi")}
        assert supervisors["supervisor1"].phone == "+989150000201"
        assert not any(name.startswith("service-account-") for name in supervisors)
        assert "staff-education" not in water
    finally:
        await directory.close()
        await tokens.close()


async def test_a_directory_it_may_not_read_is_unavailable_not_empty(real_stack: None) -> None:
    auth = AuthSettings()

    async def no_rights() -> str:
        return "not-a-token"

    directory = KeycloakDirectory(auth.issuer.replace("/realms/", "/admin/realms/", 1), no_rights)
    try:
        with pytest.raises(DirectoryUnavailable):
            await directory.staff_of("water_wastewater")
    finally:
        await directory.close()
