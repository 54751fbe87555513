"""The agency catalogue and the provinces with their counties, read from contracts/data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

DEFAULT_PROVINCE = "khorasan_razavi"


class AgencyCode(StrEnum):
    """The fourteen agencies; the codes are fixed across every service and evaluation."""

    social_security = "social_security"
    welfare = "welfare"
    martyrs_foundation = "martyrs_foundation"
    civil_registration = "civil_registration"
    relief_committee = "relief_committee"
    tax_affairs = "tax_affairs"
    industry_mine_trade = "industry_mine_trade"
    housing_foundation = "housing_foundation"
    economy_finance = "economy_finance"
    agriculture_jihad = "agriculture_jihad"
    roads_urban_development = "roads_urban_development"
    cooperatives_labour = "cooperatives_labour"
    water_wastewater = "water_wastewater"
    education = "education"


@dataclass(frozen=True)
class Agency:
    code: AgencyCode
    fa: str
    en: str


@dataclass(frozen=True)
class County:
    code: str
    fa: str
    en: str
    province: str


@dataclass(frozen=True)
class Province:
    code: str
    fa: str
    en: str
    counties: tuple[County, ...]


def _load(name: str) -> Any:
    return yaml.safe_load(resources.files("contracts").joinpath("data", name).read_text(encoding="utf-8"))


@cache
def agencies() -> dict[AgencyCode, Agency]:
    rows = _load("agencies.yaml")
    catalogue = {AgencyCode(r["code"]): Agency(AgencyCode(r["code"]), r["fa"], r["en"]) for r in rows}
    if set(catalogue) != set(AgencyCode):
        raise ValueError("contracts/data/agencies.yaml must list exactly the fourteen agency codes")
    return catalogue


def agency(code: str | AgencyCode) -> Agency:
    return agencies()[AgencyCode(code)]


@cache
def provinces() -> dict[str, Province]:
    result: dict[str, Province] = {}
    for p in _load("provinces.yaml"):
        counties = tuple(County(c["code"], c["fa"], c["en"], p["code"]) for c in p["counties"])
        result[p["code"]] = Province(p["code"], p["fa"], p["en"], counties)
    return result


def county(province: str, code: str) -> County | None:
    """The county with this code in this province, or None."""
    p = provinces().get(province)
    if p is None:
        return None
    return next((c for c in p.counties if c.code == code), None)
