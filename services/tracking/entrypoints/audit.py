"""The supervisors' route to the read audit: who read which case's personal data, when, from where, why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.common.auth import Principal, Role, services_only
from services.tracking.domain.audit import PURPOSE_MAX, ReadRecord, clean_screen
from services.tracking.domain.calendar import jalali
from services.tracking.entrypoints.deps import AUDIT, ERRORS, PROBLEM, Container

router = APIRouter(tags=["audit"])
SERVICES = services_only()


def record_view(r: ReadRecord) -> dict[str, Any]:
    return {
        "at": r.at.isoformat(),
        "at_jalali": jalali(r.at, with_time=True),
        "user": r.user,
        "role": r.role,
        "case_id": r.case_id,
        "client": r.client,
        "endpoint": r.endpoint,
        "screen": r.screen,
        "disclosure": r.disclosure,
    }


@router.get(
    "/v1/audit/reads",
    summary="The read audit: who read which case's personal data, when, from where, for which screen, "
    "and whether it was shown or masked; newest first, paged (supervisors)",
    responses={**ERRORS, 422: PROBLEM},
)
async def reads(
    c: Container,
    principal: Principal = AUDIT,
    case_id: Annotated[str | None, Query(max_length=100, description="One case (its id)")] = None,
    user: Annotated[str | None, Query(max_length=100, description="One reader (their username)")] = None,
    date_from: Annotated[
        str | None, Query(alias="from", description="First day: 1405-09-01 or 2026-11-22")
    ] = None,
    date_to: Annotated[str | None, Query(alias="to", description="Last day (included)")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    found = await c.query_reads(
        case_id=case_id, user=user, date_from=date_from, date_to=date_to, page=page, page_size=page_size
    )
    return {
        "page": page,
        "page_size": page_size,
        "total": found.total,
        "items": [record_view(r) for r in found.items],
    }


class ReadIn(BaseModel):
    """One read another service answered (notify's SMS ledger): the same record, no personal data."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    user: str = Field(min_length=1, max_length=100)
    role: Role
    case_id: str = Field(min_length=1, max_length=100)
    client: str | None = Field(default=None, max_length=100)
    endpoint: str = Field(min_length=1, max_length=200)
    screen: str | None = Field(default=None, max_length=PURPOSE_MAX)
    disclosure: Literal["shown", "masked"]

    def record(self) -> ReadRecord:
        at: datetime = self.at
        return ReadRecord(
            at,
            self.user,
            self.role.value,
            self.case_id,
            self.client,
            self.endpoint,
            clean_screen(self.screen),
            self.disclosure,
        )


class ReadsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[ReadIn] = Field(max_length=1000)


@router.post(
    "/v1/audit/reads",
    summary="Reads of personal data another service answered, for the read audit (the services' own "
    "client only)",
    status_code=202,
    responses={**ERRORS, 422: PROBLEM},
)
async def add_reads(body: ReadsIn, c: Container, _principal: Principal = SERVICES) -> dict[str, int]:
    c.audit_trail.add(r.record() for r in body.records)
    return {"accepted": len(body.records)}
