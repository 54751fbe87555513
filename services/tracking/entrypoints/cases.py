"""Staff routes on one case: read it with its timeline, act on it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.events import CaseStatus
from services.common.auth import Principal
from services.tracking.domain.actions import NEEDS_TEXT, TEXT_FIELD, ActionKind, ActionRequest
from services.tracking.domain.citizens import NotACitizenKey, national_id_key, phone_key
from services.tracking.entrypoints.deps import ACT, ERRORS, PROBLEM, READ_CASE, Container, Reading, staff
from services.tracking.entrypoints.problems import bad_field

router = APIRouter(tags=["staff"])

REF = Annotated[str, Path(max_length=100, description="Case id or tracking code")]

# What the 422 says when an action comes without its text.
_MISSING: dict[ActionKind, tuple[str, str]] = {
    ActionKind.resolve: ("پاسخ به شهروند لازم است", "resolve needs the answer"),
    ActionKind.reject: ("دلیل رد پرونده لازم است", "reject needs a reason"),
    ActionKind.reroute: ("دلیل ارجاع مجدد لازم است", "reroute needs a reason"),
    ActionKind.note: ("متن یادداشت لازم است", "note needs a text"),
    ActionKind.ask: ("پرسش از شهروند لازم است", "ask needs the question to the citizen"),
}


class ActionIn(BaseModel):
    """One staff action. ``answer`` for resolve; ``question`` for ask (the citizen gets it by SMS);
    ``reason`` for reject, reroute (and optionally reopen, resume); ``text`` for note; ``assignee`` for
    assign (a username of the agency's staff; none gives the case back to the agency)."""

    model_config = ConfigDict(extra="forbid")

    action: ActionKind
    answer: str | None = Field(default=None, max_length=2000, description="The public answer to the citizen")
    question: str | None = Field(
        default=None, max_length=500, description="What the citizen is asked (by SMS), for ask"
    )
    reason: str | None = Field(default=None, max_length=2000)
    text: str | None = Field(default=None, max_length=4000, description="An internal note")
    assignee: str | None = Field(
        default=None, max_length=100, description="The colleague's username, for assign (none: nobody)"
    )

    @model_validator(mode="after")
    def _needs(self) -> ActionIn:
        field = TEXT_FIELD[self.action]
        if self.action in NEEDS_TEXT and not (getattr(self, field) or "").strip():
            fa, en = _MISSING[self.action]
            raise bad_field(field, fa, en, code="missing")
        return self

    def request(self) -> ActionRequest:
        if self.action == ActionKind.assign:
            return ActionRequest(self.action, assignee=(self.assignee or "").strip() or None)
        return ActionRequest(self.action, getattr(self, TEXT_FIELD[self.action]))


class ActionOut(BaseModel):
    case_id: str
    action: ActionKind
    event_id: str
    event_type: str
    status_after: CaseStatus | None
    repeated: bool = Field(description="True when this Idempotency-Key was already applied")


@router.get(
    "/v1/cases",
    summary="A citizen's cases by phone or national id, newest first (the operator's screen-pop)",
    responses={**ERRORS, 422: PROBLEM},
)
async def find_cases(
    c: Container,
    reading: Reading,
    principal: Principal = READ_CASE,
    phone: Annotated[
        str | None, Query(max_length=40, description="Any common form; Persian digits allowed")
    ] = None,
    national_id: Annotated[str | None, Query(max_length=20)] = None,
    open_only: Annotated[bool, Query(alias="open", description="Only cases still being handled")] = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    if not (phone or "").strip() and not (national_id or "").strip():
        raise bad_field(
            "phone", "شماره تلفن یا کد ملی را وارد کنید", "give a phone or a national id", code="missing"
        )
    try:
        items = await c.find_citizen_cases(
            staff(principal),
            phone=(phone or "").strip() or None,
            national_id=(national_id or "").strip() or None,
            open_only=open_only,
            limit=limit,
            ctx=reading,
        )
    except NotACitizenKey as exc:
        raise bad_field(exc.field, exc.fa, exc.en) from exc
    return {"items": items}


@router.get(
    "/v1/cases/{ref}",
    summary="A case by id or tracking code, with its whole timeline; the citizen's personal data masked "
    "unless the caller may see it (docs/privacy.md)",
    responses={**ERRORS, 422: PROBLEM},
)
async def get_case(
    ref: REF,
    c: Container,
    reading: Reading,
    principal: Principal = READ_CASE,
    caller_phone: Annotated[
        str | None,
        Query(
            max_length=40, description="Operators: the phone of the caller being handled (shows their cases)"
        ),
    ] = None,
    caller_national_id: Annotated[
        str | None, Query(max_length=20, description="Operators: the caller's national id")
    ] = None,
) -> dict[str, Any]:
    looked_up: list[str] = []
    try:
        if (caller_phone or "").strip():
            looked_up.append(phone_key(caller_phone or ""))
        if (caller_national_id or "").strip():
            looked_up.append(national_id_key(caller_national_id or ""))
    except NotACitizenKey as exc:
        raise bad_field("caller_" + exc.field, exc.fa, exc.en) from exc
    return await c.look_up(ref, staff(principal), reading, looked_up)


@router.post(
    "/v1/cases/{ref}/actions",
    summary="Act on a case: acknowledge, assign, ask the citizen, resume, resolve, reject, reroute (not ours), "
    "note, reopen",
    status_code=202,
    responses={**ERRORS, 409: PROBLEM, 422: PROBLEM},
    response_model=ActionOut,
)
async def act(
    ref: REF,
    body: ActionIn,
    c: Container,
    principal: Principal = ACT,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> ActionOut:
    outcome = await c.act_on_case(ref, body.request(), staff(principal), idempotency_key)
    return ActionOut(
        case_id=outcome.case_id,
        action=outcome.action,
        event_id=outcome.event.id,
        event_type=outcome.event.type,
        status_after=outcome.status_after,
        repeated=outcome.repeated,
    )
