"""Open311 GeoReport v2 over HTTP under /open311/v2/: JSON and XML, errors in the spec's array format.

Read endpoints are public, as the spec says, so they show only requests that came in through Open311
and never the citizen's phone, name or national id (numbers in descriptions are masked as in logs).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from pymongo.errors import PyMongoError

from contracts import tracking_code
from contracts.events import Channel, new_id
from services.common.logs import mask_text
from services.common.problems import field_errors
from services.intake.adapters.bus import BusUnavailable
from services.intake.adapters.store import CaseQuery, IntakeStore
from services.intake.adapters.tracking import TrackingDirectory, TrackingUnavailable
from services.intake.domain import open311 as o
from services.intake.domain.ids import valid_key
from services.intake.domain.requests import CaseIn
from services.intake.service import IntakeService, KeyConflict
from services.intake.settings import IntakeSettings

log = logging.getLogger("samad.intake.open311")

PREFIX = "/open311/v2"
FORMATS = ("json", "xml")
# Element names for the items of each XML list (the spec's Spark-convention mapping).
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def _xml_value(parent: ET.Element, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        parent.text = "true" if value else "false"
    elif isinstance(value, dict):
        for k, v in value.items():
            _xml_value(ET.SubElement(parent, k), v)
    elif isinstance(value, list):
        item = ITEM_NAMES.get(parent.tag, "item")
        for v in value:
            _xml_value(ET.SubElement(parent, item), v)
    else:
        parent.text = str(value)


def to_xml(root: str, value: Any) -> bytes:
    element = ET.Element(root)
    _xml_value(element, value)
    body: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def render(
    fmt: str, root: str, value: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    if fmt == "xml":
        return Response(
            to_xml(root, value), status_code=status, media_type="text/xml; charset=utf-8", headers=headers
        )
    return JSONResponse(
        value, status_code=status, headers=headers, media_type="application/json; charset=utf-8"
    )


def render_error(fmt: str, exc: o.Open311Error, headers: dict[str, str] | None = None) -> Response:
    body = [{"code": code, "description": description} for code, description in exc.errors]
    return render(fmt if fmt in FORMATS else "json", "errors", body, exc.status, headers)


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise o.error(404, f"format {fmt!r} not supported: use .json or .xml", "قالب پشتیبانی نمی‌شود")
    return fmt


Handler = Callable[..., Coroutine[Any, Any, Response]]


def install(
    app: FastAPI,
    service: IntakeService,
    store: IntakeStore,
    tracking: TrackingDirectory,
    settings: IntakeSettings,
) -> None:
    served = settings.province

    def guarded(handler: Handler) -> Handler:
        # The handler reads its own path and query parameters so that every error, even a bad
        # format suffix, is answered in the spec's format; _openapi_extra documents them.
        async def wrapper(request: Request) -> Response:
            params = dict(request.path_params)
            fmt = str(params.pop("fmt", "json"))
            try:
                _format(fmt)
                o.check_jurisdiction(request.query_params.get("jurisdiction_id"), served)
                return await handler(request, fmt, **params)
            except o.Open311Error as exc:
                return render_error(fmt, exc)
            except (BusUnavailable, PyMongoError) as exc:
                log.warning("Open311 request failed: %r", exc)
                # The spec would say 400 ("CRM is down"); 503 with Retry-After tells clients to retry.
                return render_error(
                    fmt,
                    o.error(
                        503,
                        "temporarily unavailable; nothing was recorded, try again",
                        "موقتاً در دسترس نیست؛ دوباره بفرستید",
                    ),
                    headers={"Retry-After": str(settings.retry_after_seconds)},
                )

        wrapper.__name__ = f"open311_{handler.__name__}"
        wrapper.__doc__ = handler.__doc__
        return wrapper

    tags: list[str | Enum] = ["open311"]

    async def discovery(request: Request, fmt: str) -> Response:
        """GeoReport service discovery."""
        base = str(request.base_url).rstrip("/") + PREFIX
        return render(
            fmt,
            "discovery",
            {
                "changeset": "2018-03-01T00:00:00Z",
                "contact": settings.open311_contact,
                "key_service": "کلید API را از مرکز سامد استانداری دریافت کنید (api_key)",
                "endpoints": [
                    {
                        "specification": o.SPECIFICATION,
                        "url": base,
                        "changeset": "2018-03-01T00:00:00Z",
                        "type": "production",
                        "formats": ["application/json", "text/xml"],
                    }
                ],
            },
        )

    async def services(request: Request, fmt: str) -> Response:
        """The service list: SAMAD's case categories, grouped by the agency that answers them."""
        return render(fmt, "services", o.service_list())

    async def service_definition(request: Request, fmt: str, service_code: str) -> Response:
        """A service definition (no extra attributes: every category needs only the standard fields)."""
        return render(fmt, "service_definition", o.service_definition(service_code))

    async def post_request(request: Request, fmt: str) -> Response:
        """Submit a request (form-encoded, api_key required). The answer's service_request_id is the
        case's tracking code; a repeat of an open request answers with that request's code."""
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            raise o.error(
                400,
                "send the request form-encoded (application/x-www-form-urlencoded)",
                "قالب فرم نادرست است",
            )
        form = await request.form()
        fields: dict[str, list[str]] = {}
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, []).append(value)
        api_key = (fields.get("api_key") or [""])[-1]
        if api_key not in settings.open311_api_keys:
            raise o.error(403, "Missing or invalid api_key", "کلید API نامعتبر است یا فرستاده نشده است")
        o.check_jurisdiction(next(iter(fields.get("jurisdiction_id", [])[-1:]), None), served)
        submission = o.parse_submission(fields, served)
        try:
            case = CaseIn.model_validate(submission.case_fields)
        except ValidationError as exc:
            errors = tuple(
                (400, f"{o.FORM_FIELD.get(e['field'], e['field'])}: {e['message']} — {e['message_en']}")
                for e in field_errors(list(exc.errors()))
            )
            raise o.Open311Error(400, errors) from exc
        given_key = request.headers.get("idempotency-key")
        key = given_key if given_key and valid_key(given_key) else new_id()
        try:
            answer = await service.register_case(
                case, key=key, operator_id=None, scope="open311", channel=Channel.open311
            )
        except KeyConflict as exc:
            raise o.error(
                409,
                "Idempotency-Key already used for another request",
                "این کلید برای درخواست دیگری به کار رفته است",
            ) from exc
        code = str(answer.body["tracking_code"])
        persian_code = code.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
        if answer.body.get("duplicate_of"):
            notice = f"این گزارش به درخواست باز قبلی شما با کد پیگیری {persian_code} پیوست شد"
        else:
            notice = f"درخواست شما ثبت شد. کد پیگیری: {persian_code}. وضعیت با پیامک اطلاع داده می‌شود"
        body = [{"service_request_id": code, "service_notice": notice, "account_id": None}]
        return render(fmt, "service_requests", body)

    async def get_requests(request: Request, fmt: str) -> Response:
        """Requests submitted through Open311, newest first (default and maximum span 90 days, 1000 results)."""
        q = o.parse_query(dict(request.query_params), service.clock.now())
        views = await store.find_cases(
            CaseQuery(
                tracking_codes=q.tracking_codes,
                categories=q.service_codes,
                open=q.open,
                start=q.start,
                end=q.end,
                channel=Channel.open311.value,
                limit=o.MAX_RESULTS,
            )
        )
        body = [o.request(v, description=mask_text(v.description)) for v in views]
        return render(fmt, "service_requests", body)

    async def get_request(request: Request, fmt: str, service_request_id: str) -> Response:
        """One request by its id (the tracking code); its status comes from tracking when it answers."""
        code = tracking_code.clean(service_request_id)
        view = await store.case_by_tracking_code(code) if tracking_code.is_valid(code) else None
        if view is None or view.channel != Channel.open311.value:
            raise o.error(
                404, f"service_request_id {service_request_id!r} not found", "درخواستی با این شناسه پیدا نشد"
            )
        try:
            tracked = await tracking.status(view.case_id)
        except TrackingUnavailable as exc:
            # Intake's own view is rebuilt from the same events: a little behind, never wrong in kind.
            log.info("tracking unavailable, answering from intake's view: %s", exc)
            tracked = None
        body = o.request(
            view,
            status=tracked.status if tracked else None,
            agency_code=tracked.agency if tracked else None,
            notes=tracked.notes if tracked else None,
            updated_at=tracked.updated_at if tracked else None,
            description=mask_text(view.description),
        )
        return render(fmt, "service_requests", [body])

    async def token(request: Request, fmt: str, token_id: str) -> Response:
        """Requests are realtime: the POST answer already holds the id, so there are no tokens."""
        raise o.error(404, "tokens are not used: service requests are realtime", "این سرویس توکن ندارد")

    routes: list[tuple[str, str, Handler, str]] = [
        ("GET", "/discovery.{fmt}", discovery, "Service discovery"),
        ("GET", "/services.{fmt}", services, "GET Service List"),
        ("GET", "/services/{service_code}.{fmt}", service_definition, "GET Service Definition"),
        ("POST", "/requests.{fmt}", post_request, "POST Service Request"),
        ("GET", "/requests.{fmt}", get_requests, "GET Service Requests"),
        ("GET", "/requests/{service_request_id}.{fmt}", get_request, "GET Service Request"),
        ("GET", "/tokens/{token_id}.{fmt}", token, "GET service_request_id from a token"),
    ]
    for method, path, handler, summary in routes:
        app.add_api_route(
            PREFIX + path,
            guarded(handler),
            methods=[method],
            tags=tags,
            summary=summary,
            response_class=Response,
            openapi_extra=_openapi_extra(method, path),
        )


QUERY_FILTERS = {
    "service_request_id": "Tracking codes, comma separated (overrides the other filters)",
    "service_code": "Service codes, comma separated",
    "start_date": "Earliest requested_datetime (w3 format with a zone); default 90 days before end_date",
    "end_date": "Latest requested_datetime; the span may not exceed 90 days",
    "status": "open, closed, or both (comma separated)",
}


def _openapi_extra(method: str, path: str) -> dict[str, Any]:
    """Document the spec's parameters (the handlers read them themselves, to answer in the spec's format)."""
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": "fmt", "required": True, "schema": {"type": "string", "enum": list(FORMATS)}}
    ]
    for name in ("service_code", "service_request_id", "token_id"):
        if "{" + name + "}" in path:
            parameters.append({"in": "path", "name": name, "required": True, "schema": {"type": "string"}})
    if method == "GET":
        parameters.append(
            {
                "in": "query",
                "name": "jurisdiction_id",
                "required": False,
                "schema": {"type": "string"},
                "description": "The province code; optional (one jurisdiction per endpoint)",
            }
        )
    if method == "GET" and path == "/requests.{fmt}":
        parameters += [
            {"in": "query", "name": k, "required": False, "schema": {"type": "string"}, "description": d}
            for k, d in QUERY_FILTERS.items()
        ]
    extra: dict[str, Any] = {
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "JSON or XML per the format suffix",
                "content": {"application/json": {}, "text/xml": {}},
            },
            "400": {"description": "Errors in the GeoReport array format"},
            "404": {"description": "Not found (errors array)"},
        },
    }
    if method == "POST":
        props = {name: {"type": "string"} for name in sorted(o.REQUEST_FIELDS)}
        extra["requestBody"] = {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": props, "required": ["api_key", "service_code"]}
                }
            },
        }
        extra["responses"]["403"] = {"description": "Missing or invalid api_key"}
        extra["responses"]["503"] = {"description": "Kafka or the database unreachable; retry"}
    return extra
