"""The HTTP answer to each refusal of tracking's use cases and domain: RFC 9457 problem documents in
Persian and English, installed once as exception handlers so the routes only call the use cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from contracts.persian import to_persian_digits
from services.common.problems import ProblemError
from services.tracking.adapters.directory import DirectoryUnavailable
from services.tracking.domain.access import ActionForbidden, OtherAgency
from services.tracking.domain.actions import MissingText
from services.tracking.domain.periods import BadDate, PeriodTooLong, ReversedPeriod
from services.tracking.service.errors import (
    ActionConflict,
    CaseNotFound,
    NoSuchCase,
    NotAColleague,
    NotAHead,
    RateLimited,
)


def bad_field(field: str, fa: str, en: str, code: str = "invalid") -> ProblemError:
    return ProblemError(
        422,
        "validation",
        "درخواست نامعتبر است",
        "The request is invalid",
        f"فیلد نادرست: {field}",
        f"Invalid field: {field}",
        errors=[{"field": field, "code": code, "message": fa, "message_en": en}],
    )


def _other_agency(_exc: OtherAgency) -> ProblemError:
    return ProblemError(
        403, "forbidden", "این پرونده متعلق به دستگاه شما نیست", "This case belongs to another agency"
    )


def _forbidden(exc: ActionForbidden) -> ProblemError:
    allowed = ", ".join(exc.allowed)
    return ProblemError(
        403,
        "forbidden",
        "دسترسی مجاز نیست",
        "Forbidden",
        f"این کار فقط برای نقش‌های {allowed} مجاز است",
        f"Only these roles may {exc.kind.value}: {allowed}",
    )


def _not_found(_exc: CaseNotFound) -> ProblemError:
    return ProblemError(404, "not-found", "پرونده پیدا نشد", "Case not found")


def _no_such_case(_exc: NoSuchCase) -> ProblemError:
    return ProblemError(
        404,
        "not-found",
        "پرونده‌ای با این کد پیگیری و شماره تلفن پیدا نشد",
        "No case with this tracking code and phone number",
    )


def _rate_limited(exc: RateLimited) -> ProblemError:
    return ProblemError(
        429,
        "rate-limited",
        "تعداد درخواست‌ها بیش از حد مجاز است؛ کمی بعد دوباره تلاش کنید",
        "Too many lookups; try again later",
        headers={"Retry-After": str(max(1, int(exc.wait + 0.999)))},
    )


def _conflict(exc: ActionConflict) -> ProblemError:
    r = exc.rejection
    return ProblemError(
        409,
        "conflict",
        "با وضعیت فعلی پرونده سازگار نیست",
        "Conflicts with the case's state",
        r.fa,
        r.en,
        code=r.code,
        status_now=exc.status_now,
    )


def _missing_text(_exc: MissingText) -> ProblemError:
    return bad_field("text", "متن لازم است", "A text is required")


def _bad_date(exc: BadDate) -> ProblemError:
    return bad_field(
        exc.field,
        "تاریخ معتبر نیست؛ نمونه: ۱۴۰۵-۰۹-۰۱ یا 2026-11-22",
        "Not a date: use 1405-09-01 (Solar Hijri) or 2026-11-22 (Gregorian)",
    )


def _reversed(_exc: ReversedPeriod) -> ProblemError:
    return bad_field("from", "تاریخ شروع پس از تاریخ پایان است", "from is after to")


def _too_long(exc: PeriodTooLong) -> ProblemError:
    return bad_field(
        exc.field,
        f"بازهٔ گزارش حداکثر {to_persian_digits(str(exc.max_days))} روز است؛ تاریخ شروع را نزدیک‌تر انتخاب کنید",
        f"A report covers at most {exc.max_days} days: choose a later from",
        code="period_too_long",
    )


def _not_a_colleague(_exc: NotAColleague) -> ProblemError:
    return bad_field(
        "assignee",
        "این شخص در فهرست کارکنان دستگاه مسئول پرونده نیست؛ یکی از همکاران همین دستگاه را انتخاب کنید",
        "Not on the staff of the agency holding the case: choose a colleague of that agency",
        code="not_a_colleague",
    )


def _not_a_head(_exc: NotAHead) -> ProblemError:
    return ProblemError(
        403,
        "forbidden",
        "کارتابل پیگیری دیرکردها ویژهٔ رئیس دستگاه و ناظر استان است",
        "Only agency heads and supervisors have an escalation queue",
    )


def _directory_down(_exc: DirectoryUnavailable) -> ProblemError:
    return ProblemError(
        503,
        "directory-unavailable",
        "فهرست کارکنان اکنون در دسترس نیست؛ چند لحظه بعد دوباره تلاش کنید",
        "The staff directory is unavailable; try again shortly",
        headers={"Retry-After": "10"},
    )


PROBLEMS: dict[type[Exception], Callable[[Any], ProblemError]] = {
    OtherAgency: _other_agency,
    ActionForbidden: _forbidden,
    CaseNotFound: _not_found,
    NoSuchCase: _no_such_case,
    RateLimited: _rate_limited,
    ActionConflict: _conflict,
    MissingText: _missing_text,
    BadDate: _bad_date,
    ReversedPeriod: _reversed,
    PeriodTooLong: _too_long,
    NotAColleague: _not_a_colleague,
    NotAHead: _not_a_head,
    DirectoryUnavailable: _directory_down,
}


def install(app: FastAPI) -> None:
    async def answer(_request: Request, exc: Exception) -> JSONResponse:
        translate = next(PROBLEMS[k] for k in type(exc).__mro__ if k in PROBLEMS)
        return translate(exc).response()

    for kind in PROBLEMS:
        app.add_exception_handler(kind, answer)
