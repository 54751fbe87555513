"""What the operator screen offers: the case categories and the counties of the province served."""

from __future__ import annotations

from contracts.catalogue import Province, provinces
from services.intake.domain.categories import Category, categories


class Catalogue:
    def __init__(self, province: str) -> None:
        self.province = province

    def categories(self) -> list[Category]:
        """Case categories with the agency that normally answers each (also the Open311 services)."""
        return list(categories().values())

    def served(self) -> Province:
        """The province this intake serves, with its counties."""
        return provinces()[self.province]
