"""Intake's entry points: the operators' HTTP API, Open311, and the consumer that keeps the case view.

It translates HTTP and Kafka to the use cases in services.intake.service and back; it does not decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field
from pymongo.errors import PyMongoError

from contracts.catalogue import agencies, provinces
from contracts.events import CallOutcome, CallReceived, CaseRegistered, CaseRepeatCall, new_id
from contracts.topics import CASES
from services.common.auth import Principal, Role, issue_token, require
from services.common.kafka import EventPublisher, consumers_positioned, make_broker, subscribe_events
from services.common.mongo import make_client
from services.common.problems import ProblemError
from services.common.web import ReadinessCheck
from services.common.web import create_app as create_web_app
from services.intake import open311
from services.intake.adapters.bus import BusUnavailable, KafkaEventBus
from services.intake.adapters.clock import SystemClock
from services.intake.adapters.store import MongoIntakeStore
from services.intake.adapters.tracking import HttpTrackingDirectory
from services.intake.domain.cases import RELEVANT_TYPES
from services.intake.domain.categories import categories
from services.intake.domain.ids import valid_key
from services.intake.domain.requests import CallIn, CaseIn
from services.intake.service import Answer, IntakeService, KeyConflict, Rejected
from services.intake.settings import IntakeSettings

log = logging.getLogger("samad.intake.app")

TITLE = "SAMAD-111 intake"
VERSION = "1.0.0"
DESCRIPTION = """Where every call and case enters SAMAD-111.

* `POST /v1/calls` logs a call to line 111 (answered, missed or abandoned) → `call.received`.
* `POST /v1/cases` registers a citizen's case → `case.registered`, or links a repeat call to the open
  case → `case.repeat_call`.
* Every POST takes an `Idempotency-Key`: a retry gets the same answer and publishes nothing new.
* Errors are RFC 9457 problem documents naming each bad field, in Persian and English.
* Open311 GeoReport v2 under `/open311/v2/`.
"""


PRODUCES = (CallReceived, CaseRegistered, CaseRepeatCall)


class CallAccepted(BaseModel):
    call_id: str
    event_id: str
    status: str = Field(examples=["received"])


class CaseAccepted(BaseModel):
    status: str = Field(description="`registered`, or `repeat_call` when linked to an open case")
    case_id: str
    tracking_code: str = Field(description="Ten digits with a Verhoeff check digit; read out to the citizen")
    status_url: str
    duplicate_of: str | None = Field(description="The open case this report repeats, if any")
    similarity: float | None = None
    event_id: str


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


PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid bearer token", **PROBLEM},
    403: {"description": "The token's role may not do this", **PROBLEM},
    409: {"description": "The Idempotency-Key was used for a different request, or is in use", **PROBLEM},
    413: {"description": "The body is too large", **PROBLEM},
    422: {"description": "Invalid fields, each named with its reason in Persian and English", **PROBLEM},
    503: {"description": "Kafka or the database is unreachable; retry with the same key", **PROBLEM},
}

OPERATOR = require(Role.operator, Role.supervisor)
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="A unique key per logical request (a UUID): a retry with the same key returns the "
        "same answer and publishes nothing new; the same key with another body is a 409.",
    ),
]


def _key(given: str | None) -> str:
    if given is None:
        return new_id()
    if not valid_key(given):
        raise ProblemError(
            422,
            "validation",
            "درخواست نامعتبر است",
            "The request is invalid",
            "Idempotency-Key باید ۱ تا ۲۵۵ نویسهٔ ASCII بدون فاصله باشد",
            "Idempotency-Key must be 1-255 printable ASCII characters without spaces",
            errors=[
                {
                    "field": "Idempotency-Key",
                    "code": "idempotency_key_format",
                    "message": "کلید تکرارناپذیری باید ۱ تا ۲۵۵ نویسهٔ ASCII بدون فاصله باشد",
                    "message_en": "must be 1-255 printable ASCII characters without spaces",
                }
            ],
        )
    return given


def _operator(principal: Principal, given: str | None) -> str:
    """Operators act as themselves; a supervisor may log on behalf of a named operator."""
    if principal.role != Role.operator:
        return given or principal.subject
    if given is not None and given != principal.subject:
        raise ProblemError(
            403,
            "forbidden",
            "دسترسی مجاز نیست",
            "Forbidden",
            "اپراتور فقط با شناسهٔ خودش ثبت می‌کند",
            "An operator can only log calls and cases as themselves",
        )
    return principal.subject


def _respond(answer: Answer, location: str | None = None) -> JSONResponse:
    headers: dict[str, str] = {}
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    if location and answer.status_code == 201:
        headers["Location"] = location
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


def unavailable(settings: IntakeSettings, what: str) -> ProblemError:
    return ProblemError(
        503,
        "unavailable",
        "سرویس موقتاً در دسترس نیست",
        "Service unavailable",
        f"{what} در دسترس نیست؛ چیزی ثبت نشد. با همان Idempotency-Key دوباره بفرستید",
        f"{what} is unreachable; nothing was recorded. Retry with the same Idempotency-Key",
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


async def run_use_case(settings: IntakeSettings, call: Any) -> Answer:
    """Map the use cases' failures to problem documents."""
    try:
        answer: Answer = await call
        return answer
    except BusUnavailable as exc:
        raise unavailable(settings, "Kafka") from exc
    except PyMongoError as exc:
        log.warning("database unavailable: %r", exc)
        raise unavailable(settings, "MongoDB") from exc
    except KeyConflict as exc:
        if exc.in_progress:
            raise ProblemError(
                409,
                "idempotency-key-in-use",
                "درخواستی با همین Idempotency-Key در حال انجام است",
                "A request with this Idempotency-Key is still being processed",
                "چند لحظه بعد دوباره بفرستید",
                "Retry in a moment",
                headers={"Retry-After": "1"},
            ) from exc
        raise ProblemError(
            409,
            "idempotency-key-reused",
            "این Idempotency-Key پیش‌تر برای درخواست دیگری به کار رفته است",
            "This Idempotency-Key was already used for a different request",
            "برای درخواست تازه کلید تازه بسازید",
            "Use a new key for a new request",
        ) from exc
    except Rejected as exc:
        raise _rejection(exc) from exc


def _rejection(exc: Rejected) -> ProblemError:
    errors = [
        {"field": name, "code": inv.code, "message": inv.fa, "message_en": inv.en} for name, inv in exc.errors
    ]
    fields = ", ".join(e["field"] for e in errors)
    return ProblemError(
        422,
        "validation",
        "درخواست نامعتبر است",
        "The request is invalid",
        f"فیلدهای نادرست: {fields}",
        f"Invalid fields: {fields}",
        errors=errors,
    )


class Wiring:
    """Everything create_app and asyncapi share: settings, broker, store, service."""

    def __init__(self, settings: IntakeSettings | None = None) -> None:
        self.settings = settings or IntakeSettings()
        s = self.settings
        self.broker: KafkaBroker = make_broker(s, "intake")
        self.publisher = EventPublisher(self.broker, "intake", PRODUCES)
        self.mongo = make_client(s.mongo_url, "intake")
        self.store = MongoIntakeStore(self.mongo[s.db_name])
        self.service = IntakeService(
            self.store,
            KafkaEventBus(self.publisher, s.publish_timeout_seconds),
            SystemClock(),
            repeat_policy=s.repeat_policy,
            status_base_url=s.public_base_url,
            pending_timeout=timedelta(seconds=s.idempotency_pending_seconds),
        )
        fixed = s.tracking_token

        def token() -> str:
            if fixed:
                return fixed
            return issue_token("samad-intake", Role.supervisor, ttl_seconds=300, name="intake (Open311)")

        self.tracking = HttpTrackingDirectory(s.tracking_url, token, s.tracking_timeout_seconds)
        subscribe_events(
            self.broker,
            self.publisher,
            s,
            topics=[CASES],
            group=s.group("intake"),
            handler=self.service.apply,
            wanted=lambda e: e.type in RELEVANT_TYPES,
            description="Intake's case view: who called about what, which agency holds it, whether it is "
            "open. Used for repeat-call detection and Open311.",
        )
        self._connector: asyncio.Task[None] | None = None

    async def _connect_once(self) -> bool:
        try:
            await self.store.setup()
            await self.broker.start()
            return True
        except Exception as exc:
            log.warning("Kafka or MongoDB not reachable yet (%r); answering 503 until they are", exc)
            with contextlib.suppress(Exception):
                await self.broker.stop()
            return False

    async def _keep_connecting(self) -> None:
        connected = False
        while not connected:
            await asyncio.sleep(2.0)
            connected = await self._connect_once()
        log.info("connected to Kafka and MongoDB")

    async def startup(self) -> None:
        # Intake starts even when Kafka or MongoDB is down: it answers 503 with Retry-After meanwhile
        # (and /readyz says so) instead of refusing connections.
        if not await self._connect_once():
            self._connector = asyncio.create_task(self._keep_connecting())

    async def shutdown(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        await self.broker.stop()
        await self.tracking.close()
        await self.mongo.close()

    async def mongo_ready(self) -> bool:
        return await self.store.ping()


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    w = Wiring(settings)
    s = w.settings
    readiness: dict[str, ReadinessCheck] = {
        "kafka": lambda: w.broker.ping(timeout=2.0),
        "mongodb": w.mongo_ready,
    }
    if s.ready_requires_assignment:
        readiness["consumers_assigned"] = lambda: consumers_positioned(w.broker)
    app = create_web_app(
        title=TITLE,
        description=DESCRIPTION,
        version=VERSION,
        broker=None,  # started by Wiring.startup, which tolerates Kafka being down
        on_startup=w.startup,
        on_shutdown=w.shutdown,
        readiness=readiness,
        max_body_bytes=s.max_body_bytes,
    )
    app.state.intake = w

    @app.post(
        "/v1/calls",
        tags=["calls"],
        status_code=201,
        response_model=CallAccepted,
        responses=POST_RESPONSES,
        summary="Log a call to line 111 (answered, missed or abandoned)",
    )
    async def post_call(
        call: CallIn, principal: Annotated[Principal, OPERATOR], idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        key = _key(idempotency_key)
        operator_id: str | None = _operator(principal, call.operator_id)
        if call.outcome != CallOutcome.answered and call.operator_id is None:
            operator_id = None  # nobody answered a missed or abandoned call
        answer = await run_use_case(s, w.service.log_call(call, key=key, operator_id=operator_id))
        return _respond(answer)

    @app.post(
        "/v1/cases",
        tags=["cases"],
        status_code=201,
        response_model=CaseAccepted,
        responses={
            200: {"description": "A repeat call, linked to the open case", "model": CaseAccepted},
            **POST_RESPONSES,
        },
        summary="Register a case (or link a repeat call to the open case)",
    )
    async def post_case(
        case: CaseIn, principal: Annotated[Principal, OPERATOR], idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        key = _key(idempotency_key)
        operator_id = _operator(principal, case.operator_id)
        answer = await run_use_case(s, w.service.register_case(case, key=key, operator_id=operator_id))
        return _respond(answer, location=str(answer.body.get("status_url", "")))

    @app.get("/v1/categories", tags=["catalogue"], response_model=list[CategoryOut])
    async def get_categories() -> list[CategoryOut]:
        """Case categories with the agency that normally answers each (also the Open311 services)."""
        names = agencies()
        return [
            CategoryOut(
                code=c.code,
                name=c.fa,
                name_en=c.en,
                agency=c.agency.value,
                agency_name=names[c.agency].fa,
                keywords=list(c.keywords),
            )
            for c in categories().values()
        ]

    @app.get("/v1/counties", tags=["catalogue"], response_model=list[CountyOut])
    async def get_counties() -> list[CountyOut]:
        """Counties of the province this intake serves (a case's `county` takes the code or the name)."""
        p = provinces()[s.province]
        return [CountyOut(code=c.code, name=c.fa, name_en=c.en, province=p.code) for c in p.counties]

    open311.install(app, w.service, w.store, w.tracking, s)
    return app


def asyncapi() -> FastStream:
    """The AsyncAPI document: `faststream docs gen --factory services.intake.app:asyncapi`."""
    w = Wiring()
    return FastStream(w.broker, specification=AsyncAPI(title=TITLE, version=VERSION, description=DESCRIPTION))


__all__ = ["asyncapi", "create_app"]
