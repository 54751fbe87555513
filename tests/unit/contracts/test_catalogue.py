"""The agency catalogue and the provinces' counties."""

from __future__ import annotations

from contracts.catalogue import AgencyCode, agencies, agency, county, provinces

EXPECTED_CODES = {
    "social_security",
    "welfare",
    "martyrs_foundation",
    "civil_registration",
    "relief_committee",
    "tax_affairs",
    "industry_mine_trade",
    "housing_foundation",
    "economy_finance",
    "agriculture_jihad",
    "roads_urban_development",
    "cooperatives_labour",
    "water_wastewater",
    "education",
}


def test_exactly_the_fourteen_agencies_with_names() -> None:
    assert {a.value for a in AgencyCode} == EXPECTED_CODES
    assert set(agencies()) == set(AgencyCode)
    for a in agencies().values():
        assert a.fa and a.en
    assert agency("welfare").fa == "سازمان بهزیستی"


def test_counties_belong_to_their_province() -> None:
    khorasan = provinces()["khorasan_razavi"]
    assert len(khorasan.counties) >= 30
    mashhad = county("khorasan_razavi", "mashhad")
    assert mashhad is not None and mashhad.fa == "مشهد" and mashhad.province == "khorasan_razavi"
    assert county("khorasan_razavi", "tehran") is None
    assert county("nowhere", "mashhad") is None
    assert len({c.code for c in khorasan.counties}) == len(khorasan.counties)
