"""HTTP: the triage queue, a person's routing decision, and the routing history of a case."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from contracts.catalogue import AgencyCode
from contracts.events import Actor, ActorKind, CaseRouted, Envelope
from services.common.auth import Principal, Role, require
from services.common.problems import ProblemError
from services.routing.entrypoints.dependencies import PROBLEM, Container
from services.routing.service.triage import CaseNotFound, DecisionOwed, NotInTriage, Waiting

router = APIRouter(tags=["triage"])
STAFF = require(Role.supervisor, Role.operator)
READERS = require(Role.supervisor, Role.operator, Role.ops)


class TriageIn(BaseModel):
    agency: AgencyCode = Field(description="The agency that answers the case")
    note: str | None = Field(default=None, max_length=1000, description="Why (shown in the timeline)")


class RoutedOut(BaseModel):
    case_id: str
    agency: AgencyCode
    reason: str
    event_id: str
    live_session: bool
    duty_session_id: str | None


def _not_found(case_id: str) -> ProblemError:
    return ProblemError(
        404,
        "not-found",
        "پرونده پیدا نشد",
        "Case not found",
        f"پرونده‌ای با شناسهٔ {case_id} به سامانهٔ مسیریابی نرسیده است",
        f"Routing has no case {case_id}",
    )


def _not_in_triage(exc: NotInTriage) -> ProblemError:
    return ProblemError(
        409,
        "not-in-triage",
        "پرونده در انتظار تعیین دستگاه نیست",
        "The case is not waiting for triage",
        f"وضعیت فعلی: {exc.record.status}",
        f"Current status: {exc.record.status}",
        case_status=exc.record.status,
        agency=exc.record.agency.value if exc.record.agency else None,
    )


def _decision_owed(exc: DecisionOwed, retry_after: float) -> ProblemError:
    data = exc.envelope.data
    assert isinstance(data, CaseRouted)
    return ProblemError(
        503,
        "decision-owed",
        "تصمیم ثبت شد ولی هنوز اعلام نشده است",
        "The decision is stored but not yet published",
        "صف رویدادها (Kafka) تصمیم را نپذیرفت. تصمیم نگه داشته شده و به‌محض در دسترس شدن صف، "
        "خودکار اعلام می‌شود؛ لازم نیست دوباره تصمیم بگیرید. فرستادن دوبارهٔ همین درخواست همین "
        "تصمیم را برمی‌گرداند.",
        "Kafka did not take the decision. The decision is kept and will be published automatically "
        "once Kafka is back; there is no need to decide again. Sending this request again returns "
        "this decision.",
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        case_id=exc.envelope.subject,
        agency=data.agency.value,
        event_id=exc.envelope.id,
    )


def _actor(principal: Principal) -> Actor:
    kind = ActorKind.supervisor if principal.role == Role.supervisor else ActorKind.operator
    return Actor(kind=kind, id=principal.subject)


@router.post(
    "/v1/triage/{case_id}",
    summary="Route a case waiting in triage (case.routed, reason manual)",
    status_code=201,
    response_model=RoutedOut,
    responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM, 401: PROBLEM, 403: PROBLEM, 503: PROBLEM},
)
async def decide(case_id: str, body: TriageIn, c: Container, principal: Principal = STAFF) -> JSONResponse:
    try:
        envelope, new = await c.decide_triage(case_id, body.agency, _actor(principal), body.note)
    except CaseNotFound:
        raise _not_found(case_id) from None
    except NotInTriage as exc:
        raise _not_in_triage(exc) from None
    except DecisionOwed as exc:
        raise _decision_owed(exc, c.settings.routing_republish_grace_seconds) from None
    data = envelope.data
    assert isinstance(data, CaseRouted)
    out = RoutedOut(
        case_id=case_id,
        agency=data.agency,
        reason=data.reason.value,
        event_id=envelope.id,
        live_session=data.live_session,
        duty_session_id=data.duty_session_id,
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if new else 200)


def _waiting(w: Waiting) -> dict[str, Any]:
    r = w.record
    return {
        "case_id": r.case_id,
        "province": r.province,
        "subject": r.subject,
        "registered_at": r.registered_at.isoformat(),
        "declined_agencies": [a.value for a in r.declined],
        "reason": w.why.reason.value if w.why else None,
        "candidates": [c.model_dump(mode="json") for c in w.why.candidates] if w.why else [],
        "explanation": w.why.explanation if w.why else [],
    }


@router.get("/v1/triage", summary="Cases waiting for a person to choose the agency")
async def triage_queue(
    c: Container,
    principal: Principal = STAFF,
    province: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return {"items": [_waiting(w) for w in await c.triage_queue(province, limit)]}


def _hop(cause_id: str, event: Envelope) -> dict[str, Any]:
    return {"cause_id": cause_id, "event": event.model_dump(mode="json", serialize_as_any=True)}


@router.get("/v1/routing/cases/{case_id}", summary="Every routing hop of a case and why")
async def routing_history(case_id: str, c: Container, principal: Principal = READERS) -> dict[str, Any]:
    try:
        record, hops = await c.routing_history(case_id)
    except CaseNotFound:
        raise ProblemError(404, "not-found", "پرونده پیدا نشد", "Case not found") from None
    return {
        "case_id": record.case_id,
        "status": record.status,
        "agency": record.agency.value if record.agency else None,
        "declined_agencies": [a.value for a in record.declined],
        "hops": [_hop(cause_id, event) for cause_id, event in hops],
    }
