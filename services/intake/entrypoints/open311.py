"""Open311 GeoReport v2 over HTTP under /open311/v2/: JSON and XML, errors in the spec's array format.

Each handler reads its own path and query parameters so that every error, even a bad format suffix,
is answered in the spec's format; ``_openapi_extra`` documents those parameters.
"""

from __future__ import annotations

import io
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from python_multipart import parse_form
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import Field, File, parse_options_header

from services.common.publishing import BusUnavailable
from services.intake.adapters.store import StoreError
from services.intake.domain import open311 as o
from services.intake.entrypoints.api import container

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


def guarded(handler: Handler) -> Handler:
    """The handler behind the format and jurisdiction checks, every failure in the spec's format."""

    async def wrapper(request: Request) -> Response:
        params = dict(request.path_params)
        fmt = str(params.pop("fmt", "json"))
        intake = container(request)
        try:
            _format(fmt)
            intake.open311.check_jurisdiction(request.query_params.get("jurisdiction_id"))
            return await handler(request, fmt, **params)
        except o.Open311Error as exc:
            return render_error(fmt, exc)
        except (BusUnavailable, StoreError) as exc:
            log.warning("Open311 request failed: %r", exc)
            # The spec would say 400 ("CRM is down"); 503 with Retry-After tells clients to retry.
            return render_error(
                fmt,
                o.error(
                    503,
                    "temporarily unavailable; nothing was recorded, try again",
                    "موقتاً در دسترس نیست؛ دوباره بفرستید",
                ),
                headers={"Retry-After": str(intake.settings.retry_after_seconds)},
            )

    wrapper.__name__ = f"open311_{handler.__name__}"
    wrapper.__doc__ = handler.__doc__
    return wrapper


async def discovery(request: Request, fmt: str) -> Response:
    """GeoReport service discovery."""
    base = str(request.base_url).rstrip("/") + PREFIX
    return render(fmt, "discovery", container(request).open311.discovery(base))


async def services(request: Request, fmt: str) -> Response:
    """The service list: SAMAD's case categories, grouped by the agency that answers them."""
    return render(fmt, "services", container(request).open311.services())


async def service_definition(request: Request, fmt: str, service_code: str) -> Response:
    """A service definition (no extra attributes: every category needs only the standard fields)."""
    return render(fmt, "service_definition", container(request).open311.service_definition(service_code))


async def post_request(request: Request, fmt: str) -> Response:
    """Submit a request (form-encoded, api_key required). The answer's service_request_id is the
    case's tracking code; a repeat of an open request answers with that request's code."""
    fields = read_form(request.headers.get("content-type", ""), await request.body())
    body = await container(request).open311.submit(fields, request.headers.get("idempotency-key"))
    return render(fmt, "service_requests", body)


URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def read_form(content_type: str, body: bytes) -> dict[str, list[str]]:
    """The submitted form's fields, read as UTF-8 whether percent-encoded or sent as raw bytes.

    Starlette's own form parser reads raw bytes of a urlencoded body as Latin-1 (and a multipart field
    that is not UTF-8 too), so Persian sent by `curl -d` became mojibake; the fields' bytes are split
    here and decoded strictly (domain/open311.py: decode_form). File parts are not fields: ignored."""
    kind, params = parse_options_header(content_type)
    media_type = kind.decode("latin-1").lower()
    if media_type not in (URLENCODED, MULTIPART):
        raise o.error(400, f"send the request form-encoded ({URLENCODED})", "قالب فرم نادرست است")
    charset = params.get(b"charset")
    o.check_charset(charset.decode("latin-1") if charset is not None else None)
    if media_type == URLENCODED:
        return o.decode_form(_urlencoded_pairs(body))
    return o.decode_form(_multipart_pairs(content_type, body))


def _urlencoded_pairs(body: bytes) -> list[tuple[bytes, bytes]]:
    pairs = []
    for item in body.split(b"&"):
        if item:
            name, _, value = item.partition(b"=")
            pairs.append(
                (unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" ")))
            )
    return pairs


def _multipart_pairs(content_type: str, body: bytes) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []

    def on_field(field: Field) -> None:
        if field.field_name is not None:
            pairs.append((field.field_name, field.value or b""))

    def on_file(file: File) -> None:
        file.close()

    headers = {"Content-Type": content_type.encode("latin-1"), "Content-Length": str(len(body)).encode()}
    try:
        parse_form(headers, io.BytesIO(body), on_field, on_file)
    except (FormParserError, ValueError) as exc:
        log.info("unreadable multipart form: %r", exc)
        raise o.error(400, "the multipart form cannot be read", "فرم چندبخشی خوانا نیست") from exc
    return pairs


async def get_requests(request: Request, fmt: str) -> Response:
    """Requests submitted through Open311, newest first (default and maximum span 90 days, 1000 results)."""
    body = await container(request).open311.requests(dict(request.query_params))
    return render(fmt, "service_requests", body)


async def get_request(request: Request, fmt: str, service_request_id: str) -> Response:
    """One request by its id (the tracking code); its status comes from tracking when it answers."""
    body = await container(request).open311.request(service_request_id)
    return render(fmt, "service_requests", [body])


async def token(request: Request, fmt: str, token_id: str) -> Response:
    """Requests are realtime: the POST answer already holds the id, so there are no tokens."""
    container(request).open311.token(token_id)


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
        props: dict[str, Any] = {name: {"type": "string"} for name in sorted(o.REQUEST_FIELDS)}
        props[o.PUBLIC] = {
            "type": "boolean",
            "default": False,
            "description": "SAMAD's extension: true publishes the description (phone numbers and ids "
            "in it masked) in the public GET requests feed; absent or false, the feed shows the request "
            "without it",
        }
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


ROUTES: list[tuple[str, str, Handler, str]] = [
    ("GET", "/discovery.{fmt}", discovery, "Service discovery"),
    ("GET", "/services.{fmt}", services, "GET Service List"),
    ("GET", "/services/{service_code}.{fmt}", service_definition, "GET Service Definition"),
    ("POST", "/requests.{fmt}", post_request, "POST Service Request"),
    ("GET", "/requests.{fmt}", get_requests, "GET Service Requests"),
    ("GET", "/requests/{service_request_id}.{fmt}", get_request, "GET Service Request"),
    ("GET", "/tokens/{token_id}.{fmt}", token, "GET service_request_id from a token"),
]
TAGS: list[str | Enum] = ["open311"]

router = APIRouter(prefix=PREFIX)
for _method, _path, _handler, _summary in ROUTES:
    router.add_api_route(
        _path,
        guarded(_handler),
        methods=[_method],
        tags=TAGS,
        summary=_summary,
        response_class=Response,
        openapi_extra=_openapi_extra(_method, _path),
    )
