"""Routing's entry points: the Kafka consumer of case events, the triage and roster HTTP API, AsyncAPI.

It translates Kafka and HTTP to services.routing.service and back; it does not decide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field, field_validator

from contracts.catalogue import AgencyCode, agency, provinces
from contracts.events import (
    ActorKind,
    CaseRegistered,
    CaseRerouteRequested,
    CaseRouted,
    CaseTriageRequired,
    Envelope,
    decode,
    new_id,
)
from contracts.topics import CASES
from services.common.auth import Principal, Role, require
from services.common.bounded import run_all
from services.common.kafka import EventPublisher, Incoming, make_broker, subscribe_events
from services.common.mongo import make_client
from services.common.problems import ProblemError, invalid, validation_problem
from services.common.web import create_app as create_web_app
from services.routing.adapters.rule_files import load_rulebook
from services.routing.adapters.store import MongoRoutingStore
from services.routing.domain.classifier import Classifier
from services.routing.domain.feeds import entry_document, icalendar, json_feed
from services.routing.domain.roster import (
    DEFAULT_LOCATION,
    DutyHours,
    RosterEntry,
    conflicts,
    parse_day,
    session_at,
    sort_entries,
    validate,
)
from services.routing.service import CaseNotFound, NotInTriage, RoutingService, actor_of
from services.routing.settings import RoutingSettings

log = logging.getLogger("samad.routing.app")

TITLE = "SAMAD-111 routing"
VERSION = "1.0.0"
# Cases routed at once within a fetched batch; each case's own events stay strictly in order.
CASE_CONCURRENCY = 64
DESCRIPTION = """Decides which of the fourteen agencies answers a case, and says why.

* Consumes `case.registered` and `case.reroute_requested` from `samad.cases.v1`; publishes
  `case.routed` (reason operator, classifier, reroute or manual) or `case.triage_required`.
* `POST /v1/triage/{case_id}`: a supervisor or operator routes a case waiting in triage.
* `/v1/roster`: the weekly duty roster of directors-general (JSON, JSON Feed and iCalendar).
* Errors are RFC 9457 problem documents in Persian and English.
"""
WANTED = {CaseRegistered.event_type, CaseRerouteRequested.event_type}
STAFF = require(Role.supervisor, Role.operator)
SUPERVISOR = require(Role.supervisor)
READERS = require(Role.supervisor, Role.operator, Role.ops)
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@dataclass
class Wiring:
    settings: RoutingSettings
    broker: KafkaBroker
    publisher: EventPublisher
    store: MongoRoutingStore
    service: RoutingService


def wire(settings: RoutingSettings | None = None) -> Wiring:
    settings = settings or RoutingSettings()
    broker = make_broker(settings, "routing")
    publisher = EventPublisher(broker, "routing", [CaseRouted, CaseTriageRequired])
    store = MongoRoutingStore(
        make_client(settings.mongo_url, "routing"), settings.db_name, settings.routing_roster_cache_seconds
    )
    service = RoutingService(store, Classifier(load_rulebook(settings.routing_rules_dir)), settings)

    async def handle(batch: Sequence[Incoming]) -> None:
        # A case's events one at a time, in order (its hops depend on the previous one, and each is
        # stored before it is published); different cases concurrently. The offset is committed
        # after the whole batch is published.
        by_case: dict[str, list[Incoming]] = {}
        for item in batch:
            by_case.setdefault(item.event.subject, []).append(item)

        async def one_case(items: list[Incoming]) -> list[Envelope]:
            out: list[Envelope] = []
            for item in items:
                out.extend(await service.on_event(item.event, replay=item.replay_run is not None))
            return out

        # When one case fails, the batch is retried: run_all leaves none of this attempt's cases running.
        results = await run_all(one_case, by_case.values(), CASE_CONCURRENCY)
        await publisher.publish([e for chain in results for e in chain])

    subscribe_events(
        broker,
        publisher,
        settings,
        topics=[CASES],
        group=settings.group("routing"),
        handler=handle,
        wanted=lambda e: e.type in WANTED,
        description="Routes registered cases and re-routes cases an agency declined",
    )
    return Wiring(settings, broker, publisher, store, service)


def asyncapi() -> FastStream:
    w = wire()
    return FastStream(w.broker, specification=AsyncAPI(title=TITLE, version=VERSION, description=DESCRIPTION))


# --- HTTP models ---------------------------------------------------------------------------------


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


class ClassifyIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    category: str | None = Field(default=None, max_length=100)


class HoursIn(BaseModel):
    date: str = Field(description="Gregorian (2025-03-22) or Solar Hijri (1404-01-02)")
    start: time
    end: time

    @field_validator("date")
    @classmethod
    def _date(cls, value: str) -> str:
        try:
            parse_day(value)
        except (ValueError, TypeError):
            raise invalid("date_invalid", "Not a valid date", "تاریخ معتبر نیست") from None
        return value


class RosterEntryIn(BaseModel):
    week_start: str = Field(description="The Saturday starting the week: 2025-03-22 or 1404-01-02")
    agency: AgencyCode
    director_name: str = Field(min_length=2, max_length=200)
    director_title: str | None = Field(default=None, max_length=100)
    province: str | None = Field(default=None, description="Defaults to the service's province")
    location: str | None = Field(default=None, max_length=300)
    hours: list[HoursIn] = Field(min_length=1, max_length=21)

    @field_validator("week_start")
    @classmethod
    def _week(cls, value: str) -> str:
        try:
            parse_day(value)
        except (ValueError, TypeError):
            raise invalid("date_invalid", "Not a valid date", "تاریخ معتبر نیست") from None
        return value

    @field_validator("province")
    @classmethod
    def _province(cls, value: str | None) -> str | None:
        if value is not None and value not in provinces():
            raise invalid("unknown_province", "Unknown province code", "کد استان شناخته نیست")
        return value


# --- the app -------------------------------------------------------------------------------------


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    w = wire(settings)
    s = w.settings
    service = w.service
    roster_lock = asyncio.Lock()

    async def on_startup() -> None:
        await w.store.ensure_indexes()

    async def on_shutdown() -> None:
        await w.store.client.close()

    app = create_web_app(
        title=TITLE,
        description=DESCRIPTION,
        version=VERSION,
        broker=w.broker,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        readiness={"mongodb": w.store.ping},
        require_assignment=s.ready_requires_assignment,
    )
    app.state.wiring = w

    # --- triage ------------------------------------------------------------------------------

    @app.post(
        "/v1/triage/{case_id}",
        tags=["triage"],
        summary="Route a case waiting in triage (case.routed, reason manual)",
        status_code=201,
        response_model=RoutedOut,
        responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM, 401: PROBLEM, 403: PROBLEM},
    )
    async def decide(case_id: str, body: TriageIn, principal: Principal = STAFF) -> JSONResponse:
        kind = ActorKind.supervisor if principal.role == Role.supervisor else ActorKind.operator
        try:
            envelope, new = await service.decide_triage(
                case_id, body.agency, actor_of(kind, principal.subject), body.note
            )
        except CaseNotFound:
            raise ProblemError(
                404,
                "not-found",
                "پرونده پیدا نشد",
                "Case not found",
                f"پرونده‌ای با شناسهٔ {case_id} به سامانهٔ مسیریابی نرسیده است",
                f"Routing has no case {case_id}",
            ) from None
        except NotInTriage as exc:
            current = exc.record.agency.value if exc.record.agency else None
            raise ProblemError(
                409,
                "not-in-triage",
                "پرونده در انتظار تعیین دستگاه نیست",
                "The case is not waiting for triage",
                f"وضعیت فعلی: {exc.record.status}",
                f"Current status: {exc.record.status}",
                case_status=exc.record.status,
                agency=current,
            ) from None
        await w.publisher.publish([envelope])
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

    @app.get("/v1/triage", tags=["triage"], summary="Cases waiting for a person to choose the agency")
    async def triage_queue(
        principal: Principal = STAFF,
        province: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        rows = await w.store.triage_queue(province, limit)
        items = []
        for r in rows:
            last = r.last_hop
            event = decode(last.event_json) if last else None
            data = event.data if event else None
            items.append(
                {
                    "case_id": r.case_id,
                    "province": r.province,
                    "subject": r.subject,
                    "registered_at": r.registered_at.isoformat(),
                    "declined_agencies": [a.value for a in r.declined],
                    "reason": data.reason.value if isinstance(data, CaseTriageRequired) else None,
                    "candidates": [c.model_dump(mode="json") for c in data.candidates]
                    if isinstance(data, CaseTriageRequired)
                    else [],
                    "explanation": data.explanation if isinstance(data, CaseTriageRequired) else [],
                }
            )
        return {"items": items}

    @app.get("/v1/routing/cases/{case_id}", tags=["triage"], summary="Every routing hop of a case and why")
    async def routing_history(case_id: str, principal: Principal = READERS) -> dict[str, Any]:
        record = await w.store.get_case(case_id)
        if record is None:
            raise ProblemError(404, "not-found", "پرونده پیدا نشد", "Case not found")
        hops = []
        for h in record.hops:
            event: Envelope = decode(h.event_json)
            hops.append(
                {"cause_id": h.cause_id, "event": event.model_dump(mode="json", serialize_as_any=True)}
            )
        return {
            "case_id": record.case_id,
            "status": record.status,
            "agency": record.agency.value if record.agency else None,
            "declined_agencies": [a.value for a in record.declined],
            "hops": hops,
        }

    @app.post("/v1/classify", tags=["triage"], summary="What routing would decide for a text (no event)")
    async def classify(body: ClassifyIn, principal: Principal = STAFF) -> dict[str, Any]:
        result = service.decide_text(body.text, body.category)
        c = service.classification(body.text, body.category)
        return {
            **result.to_json(),
            "candidates": [
                {"agency": x.agency.value, "score": x.confidence, "points": x.points} for x in c.candidates()
            ],
        }

    # --- roster ------------------------------------------------------------------------------

    def entry_out(e: RosterEntry) -> dict[str, Any]:
        return entry_document(e, service.tz)

    async def entries(province: str | None, start: date | None, end: date | None) -> list[RosterEntry]:
        rows = await w.store.roster_entries(province or s.province)
        return sort_entries(
            [
                e
                for e in rows
                if (start is None or e.week_end >= start) and (end is None or e.week_start <= end)
            ]
        )

    @app.get("/v1/roster", tags=["roster"], summary="The duty roster (public)")
    async def roster(
        province: str | None = None,
        from_: Annotated[date | None, Query(alias="from")] = None,
        to: date | None = None,
    ) -> dict[str, Any]:
        return {
            "province": province or s.province,
            "entries": [entry_out(e) for e in await entries(province, from_, to)],
        }

    @app.post(
        "/v1/roster",
        tags=["roster"],
        summary="Add a week to the roster (supervisor)",
        status_code=201,
        responses={409: PROBLEM, 422: PROBLEM, 401: PROBLEM, 403: PROBLEM},
    )
    async def add_entry(body: RosterEntryIn, principal: Principal = SUPERVISOR) -> JSONResponse:
        entry = RosterEntry(
            id=new_id(),
            province=body.province or s.province,
            week_start=parse_day(body.week_start),
            agency=body.agency,
            director_name=body.director_name.strip(),
            director_title=body.director_title,
            location=body.location or DEFAULT_LOCATION,
            hours=tuple(DutyHours(parse_day(h.date), h.start, h.end) for h in body.hours),
        )
        problems = validate(entry)
        if problems:
            return validation_problem(
                [{"field": p.field, "code": p.code, "message": p.fa, "message_en": p.en} for p in problems]
            )
        async with roster_lock:
            clash = conflicts(entry, await w.store.roster_entries(entry.province), service.tz)
            if clash:
                first = clash[0]
                raise ProblemError(
                    409,
                    "roster-overlap",
                    "برنامهٔ کشیک با برنامهٔ دیگری هم‌پوشانی دارد",
                    "The roster entry overlaps another entry",
                    f"{first.why_fa}: {agency(first.entry.agency).fa}، {first.entry.director_name}",
                    f"{first.why_en}: {first.entry.agency.value}, {first.entry.director_name}",
                    conflicts=[
                        {
                            "id": c.entry.id,
                            "agency": c.entry.agency.value,
                            "week_start": c.entry.week_start.isoformat(),
                            "director_name": c.entry.director_name,
                            "reason": c.why_en,
                            "reason_fa": c.why_fa,
                        }
                        for c in clash
                    ],
                )
            await w.store.add_roster_entry(entry)
        log.info("roster: %s week %s added by %s", entry.agency.value, entry.week_start, principal.subject)
        return JSONResponse(entry_out(entry), status_code=201, headers={"Location": f"/v1/roster/{entry.id}"})

    @app.get("/v1/roster/current", tags=["roster"], summary="Who is on duty at the centre now (public)")
    async def current(province: str | None = None) -> dict[str, Any]:
        now = service.clock()
        rows = await w.store.roster_entries(province or s.province)
        for a in AgencyCode:
            session = session_at(rows, a, province or s.province, now, service.tz)
            if session is not None:
                entry = next(e for e in rows if e.id == session.entry_id)
                return {
                    "on_duty": True,
                    "session_id": session.id,
                    "starts_at": session.starts_at.isoformat(),
                    "ends_at": session.ends_at.isoformat(),
                    "entry": entry_out(entry),
                }
        return {"on_duty": False}

    @app.get("/v1/roster/feed.json", tags=["roster"], summary="The roster as a JSON Feed 1.1 (public)")
    async def feed(request: Request, province: str | None = None) -> JSONResponse:
        rows = await entries(province, None, None)
        doc = json_feed(rows, service.tz, s.roster_public_url, str(request.url))
        return JSONResponse(doc, media_type="application/feed+json")

    @app.get("/v1/roster/calendar.ics", tags=["roster"], summary="The roster as an iCalendar feed (public)")
    async def calendar(province: str | None = None) -> Response:
        rows = await entries(province, None, None)
        return Response(
            icalendar(rows, service.tz, service.clock()),
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": 'inline; filename="samad-duty-roster.ics"'},
        )

    @app.get("/v1/roster/{entry_id}", tags=["roster"], summary="One roster entry (public)")
    async def one_entry(entry_id: str) -> dict[str, Any]:
        for e in await w.store.roster_entries(None):
            if e.id == entry_id:
                return entry_out(e)
        raise ProblemError(404, "not-found", "برنامهٔ کشیک پیدا نشد", "Roster entry not found")

    @app.delete(
        "/v1/roster/{entry_id}",
        tags=["roster"],
        summary="Remove a roster entry (supervisor)",
        status_code=204,
    )
    async def delete_entry(entry_id: str, principal: Principal = SUPERVISOR) -> Response:
        async with roster_lock:
            if not await w.store.delete_roster_entry(entry_id):
                raise ProblemError(404, "not-found", "برنامهٔ کشیک پیدا نشد", "Roster entry not found")
        return Response(status_code=204)

    return app
