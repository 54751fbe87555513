"""RFC 9457 problem details, in Persian first with English alongside, naming every bad field and why.

Domain validators raise ``invalid(code, en, fa)``: a pydantic error that carries its Persian text, so the
same message reaches the operator whether the check ran in a model or in the service.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://samad.ir/problems/"

# Persian texts for pydantic's own error types; anything else falls back to a generic sentence.
_FA: dict[str, str] = {
    "missing": "این فیلد الزامی است.",
    "extra_forbidden": "این فیلد شناخته‌شده نیست؛ فیلدهای ناشناخته پذیرفته نمی‌شوند.",
    "string_too_long": "طول متن بیش از حد مجاز است.",
    "string_too_short": "متن خالی یا کوتاه‌تر از حد مجاز است.",
    "string_type": "باید متن باشد.",
    "int_parsing": "باید عدد صحیح باشد.",
    "int_type": "باید عدد صحیح باشد.",
    "float_parsing": "باید عدد باشد.",
    "greater_than_equal": "مقدار کمتر از حد مجاز است.",
    "less_than_equal": "مقدار بیشتر از حد مجاز است.",
    "greater_than": "مقدار کمتر از حد مجاز است.",
    "enum": "مقدار از گزینه‌های مجاز نیست.",
    "literal_error": "مقدار از گزینه‌های مجاز نیست.",
    "datetime_parsing": "تاریخ و ساعت معتبر نیست.",
    "datetime_from_date_parsing": "تاریخ و ساعت معتبر نیست.",
    "timezone_aware": "تاریخ و ساعت باید منطقهٔ زمانی داشته باشد.",
    "json_invalid": "بدنهٔ درخواست JSON معتبر نیست.",
    "model_attributes_type": "بدنهٔ درخواست باید یک شیء JSON باشد.",
    "dict_type": "باید یک شیء JSON باشد.",
    "bool_parsing": "باید true یا false باشد.",
    "uuid_parsing": "شناسه معتبر نیست.",
}
_FA_FALLBACK = "مقدار این فیلد معتبر نیست."


def invalid(code: str, en: str, fa: str) -> PydanticCustomError:
    return PydanticCustomError(code, en, {"fa": fa})


def field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def field_errors(errors: list[Any]) -> list[dict[str, str]]:
    result = []
    for err in errors:
        ctx = err.get("ctx") or {}
        result.append(
            {
                "field": field_name(tuple(err.get("loc", ()))),
                "code": err.get("type", "invalid"),
                "message": str(ctx.get("fa") or _FA.get(err.get("type", ""), _FA_FALLBACK)),
                "message_en": str(err.get("msg", "invalid value")),
            }
        )
    return result


def problem(
    status: int,
    kind: str,
    title_fa: str,
    title_en: str,
    detail_fa: str = "",
    detail_en: str = "",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind,
        "title": title_fa,
        "title_en": title_en,
        "status": status,
    }
    if detail_fa or detail_en:
        body["detail"] = detail_fa or detail_en
        body["detail_en"] = detail_en or detail_fa
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def validation_problem(errors: list[dict[str, str]]) -> JSONResponse:
    fields = ", ".join(e["field"] for e in errors)
    return problem(
        422,
        "validation",
        "درخواست نامعتبر است",
        "The request is invalid",
        f"فیلدهای نادرست: {fields}",
        f"Invalid fields: {fields}",
        errors=errors,
    )


class ProblemError(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        kind: str,
        title_fa: str,
        title_en: str,
        detail_fa: str = "",
        detail_en: str = "",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(title_en)
        self.args_ = (status, kind, title_fa, title_en, detail_fa, detail_en)
        self.headers = headers
        self.extra = extra

    def response(self) -> JSONResponse:
        return problem(*self.args_, headers=self.headers, **self.extra)


_STATUS_TEXT = {
    400: ("درخواست نادرست است", "Bad request"),
    401: ("احراز هویت لازم است", "Authentication required"),
    403: ("دسترسی مجاز نیست", "Forbidden"),
    404: ("پیدا نشد", "Not found"),
    405: ("این روش برای این نشانی مجاز نیست", "Method not allowed"),
    409: ("با وضعیت فعلی ناسازگار است", "Conflict"),
    413: ("بدنهٔ درخواست بیش از حد بزرگ است", "Request body too large"),
    415: ("نوع محتوای درخواست پشتیبانی نمی‌شود", "Unsupported media type"),
    429: ("تعداد درخواست‌ها بیش از حد مجاز است", "Too many requests"),
    503: ("سرویس موقتاً در دسترس نیست", "Service unavailable"),
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(field_errors(list(exc.errors())))

    @app.exception_handler(ProblemError)
    async def _problem(_req: Request, exc: ProblemError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        fa, en = _STATUS_TEXT.get(exc.status_code, ("خطا", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) else ""
        return problem(
            exc.status_code,
            f"http-{exc.status_code}",
            fa,
            en,
            detail_en=detail,
            headers=getattr(exc, "headers", None),
        )
