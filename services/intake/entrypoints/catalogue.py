"""`GET /v1/categories` and `GET /v1/counties`: the catalogues of the operator screen."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from services.intake.entrypoints.api import Intake

router = APIRouter(tags=["catalogue"])


class CategoryOut(BaseModel):
    code: str
    name: str
    name_en: str
    agency: str
    agency_name: str
    keywords: list[str]


class CountyOut(BaseModel):
    code: str
    name: str
    name_en: str
    province: str


@router.get("/v1/categories", response_model=list[CategoryOut])
async def get_categories(intake: Intake) -> list[CategoryOut]:
    """Case categories with the agency that normally answers each (also the Open311 services)."""
    return [
        CategoryOut(
            code=c.code,
            name=c.fa,
            name_en=c.en,
            agency=c.agency.value,
            agency_name=c.agency_fa,
            keywords=list(c.keywords),
        )
        for c in intake.catalogue.categories()
    ]


@router.get("/v1/counties", response_model=list[CountyOut])
async def get_counties(intake: Intake) -> list[CountyOut]:
    """Counties of the province this intake serves (a case's `county` takes the code or the name)."""
    p = intake.catalogue.served()
    return [CountyOut(code=c.code, name=c.fa, name_en=c.en, province=p.code) for c in p.counties]
