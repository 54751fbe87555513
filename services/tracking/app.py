"""Tracking's entry points: the Kafka consumer, the staff, citizen and report HTTP API, AsyncAPI.

It translates Kafka and HTTP to services.tracking.service and back; it does not decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, Path, Query, Request, Response
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.catalogue import AgencyCode, provinces
from contracts.events import (
    CaseNoteAdded,
    CaseRerouteRequested,
    CaseSlaBreached,
    CaseStatus,
    CaseStatusChanged,
)
from contracts.topics import CALLS, CASES, NOTIFICATIONS
from contracts.tracking_code import clean, is_valid
from services.common.auth import Principal, Role, forbid_other_agency, require
from services.common.kafka import EventPublisher, Incoming, make_broker, subscribe_events
from services.common.mongo import make_client
from services.common.problems import ProblemError
from services.common.web import create_app as create_web_app
from services.tracking.adapters.data import load_policy
from services.tracking.adapters.ratelimit import TokenBucket
from services.tracking.adapters.store import MongoCallStore, MongoCaseStore, MongoClaims, QueueFilter
from services.tracking.domain.actions import (
    ACTION_ROLES,
    ActionKind,
    ActionRefused,
    ActionRequest,
    MissingText,
)
from services.tracking.domain.calendar import day_start, jalali, parse_day, tehran_day
from services.tracking.domain.reports import AGENCY_COLUMNS, COUNTY_COLUMNS, WEEK_COLUMNS
from services.tracking.domain.views import citizen_view, phone_matches, staff_view
from services.tracking.service import ActionConflict, TrackingService
from services.tracking.settings import TrackingSettings

log = logging.getLogger("samad.tracking.app")

TITLE = "SAMAD-111 tracking"
VERSION = "1.0.0"
DESCRIPTION = """The memory of every case: its lifecycle projected from the event log, and the views on it.

* Consumes every event of `samad.cases.v1` and `samad.notifications.v1`, and `call.received` from
  `samad.calls.v1` (for the funnel). Publishes staff actions (`case.status_changed`,
  `case.reroute_requested`, `case.note_added`), `case.sla_breached` and the closing of quiet cases.
* Staff (bearer token): the agency queue, a case with its timeline, actions on a case.
* Citizens: `GET /v1/status/{tracking_code}?phone=...` (the phone or its last four digits).
* Reports: the funnel, per agency, per county, per week; JSON or CSV.
* Errors are RFC 9457 problem documents in Persian and English.
"""

READ_CASE = require(Role.operator, Role.agency_staff, Role.supervisor, Role.ops)
READ_QUEUE = require(Role.agency_staff, Role.supervisor, Role.ops)
ACT = require(Role.operator, Role.agency_staff, Role.supervisor)
FUNNEL = require(Role.operator, Role.supervisor, Role.ops)
AGENCY_REPORT = require(Role.agency_staff, Role.supervisor, Role.ops)
OVERVIEW = require(Role.supervisor, Role.ops)
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM}


PRODUCES = (CaseStatusChanged, CaseRerouteRequested, CaseNoteAdded, CaseSlaBreached)


@dataclass
class Wiring:
    settings: TrackingSettings
    broker: KafkaBroker
    publisher: EventPublisher
    service: TrackingService


def wire(settings: TrackingSettings | None = None) -> Wiring:
    settings = settings or TrackingSettings()
    broker = make_broker(settings, "tracking")
    publisher = EventPublisher(broker, "tracking", PRODUCES)
    client = make_client(settings.mongo_url, "tracking")
    db = client[settings.db_name]
    service = TrackingService(
        MongoCaseStore(db),
        MongoCallStore(db),
        MongoClaims(db),
        publisher,
        load_policy(settings.tracking_data_dir),
        lease=timedelta(seconds=settings.claim_lease_seconds),
        cache_size=settings.projection_cache_size,
    )

    async def handle(batch: Sequence[Incoming]) -> None:
        # One write per case per batch; the offsets are committed after every write is acknowledged.
        await service.handle(batch)

    subscribe_events(
        broker,
        publisher,
        settings,
        topics=[CASES, NOTIFICATIONS, CALLS],
        group=settings.group("tracking"),
        handler=handle,
        description="Projects every case and SMS event onto its case document; keeps calls for the funnel",
    )
    return Wiring(settings, broker, publisher, service)


def asyncapi() -> FastStream:
    w = wire()
    return FastStream(w.broker, specification=AsyncAPI(title=TITLE, version=VERSION, description=DESCRIPTION))


# --- HTTP models ---------------------------------------------------------------------------------


class ActionIn(BaseModel):
    """One staff action. ``answer`` for resolve; ``reason`` for reject, reroute (and optionally reopen);
    ``text`` for note."""

    model_config = ConfigDict(extra="forbid")

    action: ActionKind
    answer: str | None = Field(default=None, max_length=2000, description="The public answer to the citizen")
    reason: str | None = Field(default=None, max_length=2000)
    text: str | None = Field(default=None, max_length=4000, description="An internal note")

    @model_validator(mode="after")
    def _needs(self) -> ActionIn:
        need = {
            ActionKind.resolve: ("answer", "پاسخ به شهروند لازم است", "resolve needs the answer"),
            ActionKind.reject: ("reason", "دلیل رد پرونده لازم است", "reject needs a reason"),
            ActionKind.reroute: ("reason", "دلیل ارجاع مجدد لازم است", "reroute needs a reason"),
            ActionKind.note: ("text", "متن یادداشت لازم است", "note needs a text"),
        }.get(self.action)
        if need is not None and not (getattr(self, need[0]) or "").strip():
            raise ProblemError(
                422,
                "validation",
                "درخواست نامعتبر است",
                "The request is invalid",
                f"فیلد نادرست: {need[0]}",
                f"Invalid field: {need[0]}",
                errors=[{"field": need[0], "code": "missing", "message": need[1], "message_en": need[2]}],
            )
        return self

    def request(self) -> ActionRequest:
        text = {ActionKind.resolve: self.answer, ActionKind.note: self.text}.get(self.action, self.reason)
        return ActionRequest(self.action, text)


class ActionOut(BaseModel):
    case_id: str
    action: ActionKind
    event_id: str
    event_type: str
    status_after: CaseStatus | None
    repeated: bool = Field(description="True when this Idempotency-Key was already applied")


def _bad_field(field: str, fa: str, en: str) -> ProblemError:
    return ProblemError(
        422,
        "validation",
        "درخواست نامعتبر است",
        "The request is invalid",
        f"فیلد نادرست: {field}",
        f"Invalid field: {field}",
        errors=[{"field": field, "code": "invalid", "message": fa, "message_en": en}],
    )


def _day(value: str | None, field: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return parse_day(value)
    except (ValueError, TypeError, IndexError):
        raise _bad_field(
            field,
            "تاریخ معتبر نیست؛ نمونه: ۱۴۰۵-۰۹-۰۱ یا 2026-11-22",
            "Not a date: use 1405-09-01 (Solar Hijri) or 2026-11-22 (Gregorian)",
        ) from None


def _period(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime, date, date]:
    """Whole Tehran days, both ends included; the last 30 days by default."""
    last = _day(end, "to") or tehran_day(now)
    first = _day(start, "from") or last - timedelta(days=29)
    if first > last:
        raise _bad_field("from", "تاریخ شروع پس از تاریخ پایان است", "from is after to")
    return day_start(first), day_start(last + timedelta(days=1)), first, last


def _period_doc(first: date, last: date) -> dict[str, Any]:
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "from_jalali": jalali(first),
        "to_jalali": jalali(last),
    }


def _csv(rows: list[dict[str, Any]], columns: Sequence[str], name: str) -> Response:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    # A byte-order mark so spreadsheet programs read the Persian names as UTF-8.
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


FROM = Annotated[str | None, Query(alias="from", description="First day: 1405-09-01 or 2026-11-22")]
TO = Annotated[str | None, Query(alias="to", description="Last day (included)")]
SESSION = Annotated[str | None, Query(max_length=200, description="A duty session instead of a period")]
PROVINCE = Annotated[str | None, Query(max_length=100)]
AGENCY = Annotated[AgencyCode | None, Query(description="One agency only")]

NOT_FOUND = ProblemError(404, "not-found", "پرونده پیدا نشد", "Case not found")
STATUS_NOT_FOUND = ProblemError(
    404,
    "not-found",
    "پرونده‌ای با این کد پیگیری و شماره تلفن پیدا نشد",
    "No case with this tracking code and phone number",
)

# --- the app -------------------------------------------------------------------------------------


def create_app(settings: TrackingSettings | None = None) -> FastAPI:
    w = wire(settings)
    s = w.settings
    service = w.service
    limiter = TokenBucket(s.status_rate_per_minute, s.status_burst)
    timers: list[asyncio.Task[None]] = []

    async def sweeping() -> None:
        while True:
            await asyncio.sleep(s.sweep_interval_seconds)
            try:
                await service.sweep(s.sweep_batch_size)
            except Exception:
                log.exception("timer sweep failed; trying again at the next interval")

    async def on_startup() -> None:
        await service.ensure_indexes()

    async def start_timers() -> None:
        # The timers publish events: they start once the broker is connected, and stop before it.
        if s.sweep_interval_seconds > 0:
            timers.append(asyncio.create_task(sweeping(), name="tracking-timers"))

    async def stop_timers() -> None:
        for task in timers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def on_shutdown() -> None:
        await service.cases.db.client.close()

    async def mongo_ready() -> bool:
        await service.cases.db.command("ping")
        return True

    app = create_web_app(
        title=TITLE,
        description=DESCRIPTION,
        version=VERSION,
        broker=w.broker,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        after_startup=start_timers,
        before_shutdown=stop_timers,
        readiness={"mongodb": mongo_ready},
        require_assignment=s.ready_requires_assignment,
    )
    app.state.wiring = w

    def now() -> datetime:
        return service.clock()

    async def case_for(ref: str, principal: Principal) -> Any:
        case = await service.find(ref)
        if case is None:
            raise NOT_FOUND
        forbid_other_agency(principal, case.agency)
        return case

    @app.get(
        "/v1/agencies/{code}/cases",
        tags=["staff"],
        summary="An agency's queue: its cases, newest first, filtered and paged",
        responses={**ERRORS, 422: PROBLEM},
    )
    async def agency_queue(
        code: Annotated[AgencyCode, Path(description="Agency code")],
        principal: Principal = READ_QUEUE,
        status: Annotated[CaseStatus | None, Query()] = None,
        overdue: Annotated[
            bool | None, Query(description="Only overdue (true) or not overdue (false)")
        ] = None,
        county: Annotated[str | None, Query(max_length=100)] = None,
        date_from: Annotated[
            str | None, Query(alias="from", description="Registered on or after (1405-09-01 or 2026-11-22)")
        ] = None,
        date_to: Annotated[str | None, Query(alias="to", description="Registered on or before")] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        forbid_other_agency(principal, code.value)
        first, last = _day(date_from, "from"), _day(date_to, "to")
        f = QueueFilter(
            agency=code.value,
            status=status.value if status else None,
            overdue=overdue,
            county=county,
            registered_from=day_start(first) if first else None,
            registered_to=day_start(last + timedelta(days=1)) if last else None,
        )
        at = now()
        result = await service.cases.queue(f, at, (page - 1) * page_size, page_size)
        return {
            "agency": code.value,
            "page": page,
            "page_size": page_size,
            "total": result.total,
            "items": [staff_view(c, at, with_timeline=False) for c in result.items],
        }

    @app.get(
        "/v1/cases/{ref}",
        tags=["staff"],
        summary="A case by id or tracking code, with its whole timeline",
        responses=ERRORS,
    )
    async def get_case(
        ref: Annotated[str, Path(max_length=100, description="Case id or tracking code")],
        principal: Principal = READ_CASE,
    ) -> dict[str, Any]:
        case = await case_for(ref, principal)
        return staff_view(case, now())

    @app.post(
        "/v1/cases/{ref}/actions",
        tags=["staff"],
        summary="Act on a case: acknowledge, resolve, reject, reroute, note, reopen",
        status_code=202,
        responses={**ERRORS, 409: PROBLEM, 422: PROBLEM},
        response_model=ActionOut,
    )
    async def act(
        ref: Annotated[str, Path(max_length=100, description="Case id or tracking code")],
        body: ActionIn,
        principal: Principal = ACT,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> ActionOut:
        if principal.role.value not in ACTION_ROLES[body.action]:
            allowed = ", ".join(sorted(ACTION_ROLES[body.action]))
            raise ProblemError(
                403,
                "forbidden",
                "دسترسی مجاز نیست",
                "Forbidden",
                f"این کار فقط برای نقش‌های {allowed} مجاز است",
                f"Only these roles may {body.action.value}: {allowed}",
            )
        case = await case_for(ref, principal)
        try:
            outcome = await service.act(
                case,
                body.request(),
                principal.role.value,
                principal.subject,
                principal.agency.value if principal.agency else None,
                idempotency_key,
            )
        except MissingText:
            raise _bad_field("text", "متن لازم است", "A text is required") from None
        except (ActionRefused, ActionConflict) as exc:
            r = exc.rejection
            raise ProblemError(
                409,
                "conflict",
                "با وضعیت فعلی پرونده سازگار نیست",
                "Conflicts with the case's state",
                r.fa,
                r.en,
                code=r.code,
                status_now=case.status,
            ) from None
        data = outcome.event.data
        return ActionOut(
            case_id=case.id,
            action=body.action,
            event_id=outcome.event.id,
            event_type=outcome.event.type,
            status_after=getattr(data, "status", None)
            or (CaseStatus.registered if body.action == ActionKind.reroute else case.status),
            repeated=outcome.repeated,
        )

    @app.get(
        "/v1/status/{tracking_code}",
        tags=["citizen"],
        summary="A citizen's view of their case: the tracking code and the phone (or its last 4 digits)",
        responses={404: PROBLEM, 422: PROBLEM, 429: PROBLEM},
    )
    async def citizen_status(
        request: Request,
        tracking_code: Annotated[str, Path(max_length=40)],
        phone: Annotated[str, Query(min_length=4, max_length=40, description="Phone, or its last 4 digits")],
    ) -> dict[str, Any]:
        client = request.client.host if request.client else "unknown"
        if s.trust_forwarded_for and request.headers.get("x-forwarded-for"):
            client = request.headers["x-forwarded-for"].split(",")[0].strip()
        wait = limiter.take(client)
        if wait > 0:
            raise ProblemError(
                429,
                "rate-limited",
                "تعداد درخواست‌ها بیش از حد مجاز است؛ کمی بعد دوباره تلاش کنید",
                "Too many lookups; try again later",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )
        code = clean(tracking_code)
        case = await service.cases.by_tracking_code(code) if is_valid(code) else None
        # One answer for a wrong code and a wrong phone: a lookup never tells which was wrong.
        if case is None or not phone_matches(case.citizen.phone if case.citizen else None, phone):
            raise STATUS_NOT_FOUND
        return citizen_view(case)

    # --- reports -----------------------------------------------------------------------------

    async def funnel_doc(
        date_from: str | None, date_to: str | None, duty_session_id: str | None, province: str | None
    ) -> dict[str, Any]:
        if province is not None and province not in provinces():
            raise _bad_field("province", "کد استان شناخته نیست", "Unknown province code")
        if duty_session_id:
            funnel = await service.funnel(duty_session_id=duty_session_id, province=province)
            return {"duty_session_id": duty_session_id, "province": province, **funnel.as_dict()}
        start, end, first, last = _period(date_from, date_to, now())
        funnel = await service.funnel(start, end, province=province)
        return {"period": _period_doc(first, last), "province": province, **funnel.as_dict()}

    @app.get(
        "/v1/reports/funnel",
        tags=["reports"],
        summary="Calls received → answered → registered → referred",
        responses={**ERRORS, 422: PROBLEM},
    )
    async def report_funnel(
        date_from: FROM = None,
        date_to: TO = None,
        duty_session_id: SESSION = None,
        province: PROVINCE = None,
        principal: Principal = FUNNEL,
    ) -> dict[str, Any]:
        return await funnel_doc(date_from, date_to, duty_session_id, province)

    @app.get(
        "/v1/reports/funnel.csv",
        tags=["reports"],
        summary="The funnel as CSV",
        responses={**ERRORS, 422: PROBLEM},
    )
    async def report_funnel_csv(
        date_from: FROM = None,
        date_to: TO = None,
        duty_session_id: SESSION = None,
        province: PROVINCE = None,
        principal: Principal = FUNNEL,
    ) -> Response:
        doc = await funnel_doc(date_from, date_to, duty_session_id, province)
        period = doc.pop("period", {})
        row = {**period, **doc}
        return _csv([row], list(row), "funnel")

    async def agencies_doc(
        date_from: str | None, date_to: str | None, agency: AgencyCode | None, principal: Principal
    ) -> dict[str, Any]:
        only = agency.value if agency else None
        if principal.role == Role.agency_staff:
            forbid_other_agency(principal, only or (principal.agency.value if principal.agency else None))
            only = principal.agency.value if principal.agency else None
        start, end, first, last = _period(date_from, date_to, now())
        rows = await service.agencies(start, end, only)
        return {"period": _period_doc(first, last), "agencies": rows}

    @app.get(
        "/v1/reports/agencies",
        tags=["reports"],
        summary="Per agency: received, acknowledged within SLA, resolved, time to resolve, overdue",
        responses={**ERRORS, 422: PROBLEM},
    )
    async def report_agencies(
        date_from: FROM = None,
        date_to: TO = None,
        agency: AGENCY = None,
        principal: Principal = AGENCY_REPORT,
    ) -> dict[str, Any]:
        return await agencies_doc(date_from, date_to, agency, principal)

    @app.get(
        "/v1/reports/agencies.csv",
        tags=["reports"],
        summary="Per agency, as CSV",
        responses={**ERRORS, 422: PROBLEM},
    )
    async def report_agencies_csv(
        date_from: FROM = None,
        date_to: TO = None,
        agency: AGENCY = None,
        principal: Principal = AGENCY_REPORT,
    ) -> Response:
        doc = await agencies_doc(date_from, date_to, agency, principal)
        return _csv(doc["agencies"], AGENCY_COLUMNS, "agencies")

    @app.get(
        "/v1/reports/counties",
        tags=["reports"],
        summary="Per county, over the cases registered in the period",
        responses={**ERRORS, 422: PROBLEM},
    )
    async def report_counties(
        date_from: FROM = None, date_to: TO = None, principal: Principal = OVERVIEW
    ) -> dict[str, Any]:
        start, end, first, last = _period(date_from, date_to, now())
        return {"period": _period_doc(first, last), "counties": await service.counties(start, end)}

    @app.get(
        "/v1/reports/counties.csv",
        tags=["reports"],
        summary="Per county, as CSV",
        responses={**ERRORS, 422: PROBLEM},
    )
    async def report_counties_csv(
        date_from: FROM = None, date_to: TO = None, principal: Principal = OVERVIEW
    ) -> Response:
        start, end, _first, _last = _period(date_from, date_to, now())
        return _csv(await service.counties(start, end), COUNTY_COLUMNS, "counties")

    @app.get(
        "/v1/reports/weeks",
        tags=["reports"],
        summary="Per Iranian week (Saturday to Friday)",
        responses={**ERRORS, 422: PROBLEM},
    )
    async def report_weeks(
        date_from: FROM = None, date_to: TO = None, principal: Principal = OVERVIEW
    ) -> dict[str, Any]:
        start, end, first, last = _period(date_from, date_to, now())
        return {"period": _period_doc(first, last), "weeks": await service.weeks(start, end)}

    @app.get(
        "/v1/reports/weeks.csv",
        tags=["reports"],
        summary="Per week, as CSV",
        responses={**ERRORS, 422: PROBLEM},
    )
    async def report_weeks_csv(
        date_from: FROM = None, date_to: TO = None, principal: Principal = OVERVIEW
    ) -> Response:
        start, end, _first, _last = _period(date_from, date_to, now())
        return _csv(await service.weeks(start, end), WEEK_COLUMNS, "weeks")

    return app
