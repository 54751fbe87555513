"""What the operators' routers share: the container, the sender, the Idempotency-Key header, and the use
cases' answers and refusals as HTTP (RFC 9457 problem documents, in Persian and English)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from contracts.events import new_id
from services.common.auth import Principal, Role, require
from services.common.problems import ProblemError
from services.common.publishing import BusUnavailable
from services.intake.adapters.store import StoreError
from services.intake.bootstrap import IntakeContainer
from services.intake.domain.ids import valid_key
from services.intake.domain.operators import Acting, ActingAsAnother
from services.intake.service.idempotency import Answer, KeyConflict
from services.intake.service.log_call import Rejected

log = logging.getLogger("samad.intake.app")


def container(request: Request) -> IntakeContainer:
    intake: IntakeContainer = request.app.state.container
    return intake


Intake = Annotated[IntakeContainer, Depends(container)]

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
Operator = Annotated[Principal, OPERATOR]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="A unique key per logical request (a UUID): a retry with the same key returns the "
        "same answer and publishes nothing new; the same key with another body is a 409.",
    ),
]


def acting(principal: Principal) -> Acting:
    return Acting(subject=principal.subject, role=principal.role.value)


def key(given: str | None) -> str:
    """The request's Idempotency-Key: a fresh one when none is sent; a malformed one is a 422."""
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


def respond(answer: Answer, location: str | None = None) -> JSONResponse:
    headers: dict[str, str] = {}
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    if location and answer.status_code == 201:
        headers["Location"] = location
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


def unavailable(retry_after: int, what: str) -> ProblemError:
    return ProblemError(
        503,
        "unavailable",
        "سرویس موقتاً در دسترس نیست",
        "Service unavailable",
        f"{what} در دسترس نیست؛ چیزی ثبت نشد. با همان Idempotency-Key دوباره بفرستید",
        f"{what} is unreachable; nothing was recorded. Retry with the same Idempotency-Key",
        headers={"Retry-After": str(retry_after)},
    )


async def run_use_case(intake: IntakeContainer, call: Awaitable[Answer]) -> Answer:
    """Await the use case, its refusals and outages turned into problem documents."""
    try:
        return await call
    except BusUnavailable as exc:
        raise unavailable(intake.settings.retry_after_seconds, "Kafka") from exc
    except StoreError as exc:
        log.warning("database unavailable: %r", exc)
        raise unavailable(intake.settings.retry_after_seconds, "MongoDB") from exc
    except ActingAsAnother as exc:
        raise ProblemError(
            403,
            "forbidden",
            "دسترسی مجاز نیست",
            "Forbidden",
            "اپراتور فقط با شناسهٔ خودش ثبت می‌کند",
            "An operator can only log calls and cases as themselves",
        ) from exc
    except KeyConflict as exc:
        raise _conflict(exc) from exc
    except Rejected as exc:
        raise _rejection(exc) from exc


def _conflict(exc: KeyConflict) -> ProblemError:
    if exc.in_progress:
        return ProblemError(
            409,
            "idempotency-key-in-use",
            "درخواستی با همین Idempotency-Key در حال انجام است",
            "A request with this Idempotency-Key is still being processed",
            "چند لحظه بعد دوباره بفرستید",
            "Retry in a moment",
            headers={"Retry-After": "1"},
        )
    return ProblemError(
        409,
        "idempotency-key-reused",
        "این Idempotency-Key پیش‌تر برای درخواست دیگری به کار رفته است",
        "This Idempotency-Key was already used for a different request",
        "برای درخواست تازه کلید تازه بسازید",
        "Use a new key for a new request",
    )


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
