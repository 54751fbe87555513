"""The case categories (also the Open311 services), read from services/intake/data/categories.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from contracts.catalogue import AgencyCode, agency


@dataclass(frozen=True)
class Category:
    code: str
    agency: AgencyCode
    fa: str
    en: str
    keywords: tuple[str, ...]

    @property
    def agency_fa(self) -> str:
        return agency(self.agency).fa


@cache
def categories() -> dict[str, Category]:
    text = resources.files("services.intake").joinpath("data", "categories.yaml").read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = yaml.safe_load(text)
    result: dict[str, Category] = {}
    for row in rows:
        code = str(row["code"])
        if code in result:
            raise ValueError(f"categories.yaml lists {code!r} twice")
        result[code] = Category(
            code=code,
            agency=AgencyCode(row["agency"]),
            fa=str(row["fa"]),
            en=str(row["en"]),
            keywords=tuple(str(k) for k in row.get("keywords", ())),
        )
    return result


def category(code: str) -> Category | None:
    return categories().get(code)
