"""Open311 GeoReport v2 in SAMAD's words: services are case categories, a request is a case.

Pure mapping both ways: a submitted form to a case, a case view to a GeoReport request, the query
filters with the spec's limits, who may submit, and what a submitter is told. Rendering (JSON, XML)
and HTTP live in services/intake/entrypoints/open311.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.catalogue import County, agency, provinces
from contracts.events import new_id
from contracts.persian import to_persian_digits
from services.intake.domain.cases import CaseView
from services.intake.domain.categories import Category, categories
from services.intake.domain.ids import valid_key
from services.intake.domain.validation import Invalid, find_county_in, refuse_controls, resolve_county

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2018-03-01T00:00:00Z"
MAX_SPAN = timedelta(days=90)
MAX_RESULTS = 1000

# SAMAD's extension of POST requests: the submitter's choice to publish the description in the public
# feed (GET requests). Absent or false: the feed shows the request without its description.
PUBLIC = "public"
TRUE_VALUES = frozenset({"true", "1", "yes", "on"})
FALSE_VALUES = frozenset({"false", "0", "no", "off"})

# Fields a client may send to POST requests (the spec's list and `public`); attribute[...] keys too.
REQUEST_FIELDS = frozenset(
    {
        "api_key",
        "jurisdiction_id",
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
        PUBLIC,
    }
)

STATUS_NOTES = {
    "registered": "ثبت شد و در انتظار ارجاع به دستگاه مسئول است",
    "routed": "به دستگاه مسئول ارجاع شد",
    "triage": "کارشناس سامد در حال تعیین دستگاه مسئول است",
    "in_progress": "دستگاه مسئول در حال رسیدگی است",
    "waiting_for_citizen": "دستگاه مسئول در انتظار اطلاعات بیشتر از شهروند است",
    "resolved": "رسیدگی شد",
    "rejected": "رد شد",
    "reopened": "دوباره باز شد و در حال رسیدگی است",
    "closed": "بسته شد",
}
CLOSED = frozenset({"resolved", "rejected", "closed"})


@dataclass(frozen=True)
class Open311Error(Exception):
    """One or more errors in the spec's format: HTTP status plus (code, description) pairs."""

    status: int
    errors: tuple[tuple[int | str, str], ...]


def error(status: int, en: str, fa: str, code: int | str | None = None) -> Open311Error:
    return Open311Error(status, ((code if code is not None else status, f"{fa} — {en}"),))


def service(c: Category) -> dict[str, Any]:
    a = agency(c.agency)
    return {
        "service_code": c.code,
        "service_name": c.fa,
        "description": f"{c.en}. پاسخ‌گو: {a.fa} ({a.en})",
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join((*c.keywords, a.fa, c.agency.value)),
        "group": a.fa,
    }


def service_list() -> list[dict[str, Any]]:
    return [service(c) for c in categories().values()]


def service_definition(code: str) -> dict[str, Any]:
    if code not in categories():
        raise error(404, f"service_code {code!r} not found", "این نوع خدمت وجود ندارد")
    return {"service_code": code, "attributes": []}


def check_jurisdiction(jurisdiction_id: str | None, served: str) -> None:
    if jurisdiction_id and jurisdiction_id != served:
        raise error(
            404,
            f"jurisdiction_id {jurisdiction_id!r} not found; this endpoint serves {served!r}",
            "این حوزه (استان) در این نشانی پشتیبانی نمی‌شود",
        )


def discovery(base_url: str, contact: str) -> dict[str, Any]:
    """GeoReport service discovery: the one production endpoint at ``base_url``."""
    return {
        "changeset": CHANGESET,
        "contact": contact,
        "key_service": "کلید API را از مرکز سامد استانداری دریافت کنید (api_key)",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }


# A form's text is UTF-8: what browsers send for a UTF-8 page and what `curl -d` sends from a UTF-8
# terminal. ASCII is a part of it; any other declared charset is refused rather than guessed at.
FORM_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def check_charset(charset: str | None) -> None:
    if charset is not None and charset.strip().strip('"').lower() not in FORM_CHARSETS:
        raise error(
            400,
            f"charset {charset!r} is not supported: send the form in UTF-8",
            "نویسه‌گذاری فرم باید UTF-8 باشد",
        )


def decode_form(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """The form's fields as UTF-8 text, the field name with its values in the order sent.

    Bytes that are not UTF-8 (a legacy encoding, or a character cut in half) are never decoded by a
    guess, which would store mojibake: every such field is named in one 400."""
    fields: dict[str, list[str]] = {}
    bad: list[str] = []
    for raw_name, raw_value in pairs:
        try:
            name = raw_name.decode("utf-8")
            value = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(printable(raw_name.decode("utf-8", "replace")))
            continue
        fields.setdefault(name, []).append(value)
    if bad:
        raise Open311Error(
            400,
            tuple(
                (
                    400,
                    f"{name}: متن این فیلد با نویسه‌گذاری UTF-8 خوانا نیست؛ فرم را با UTF-8 بفرستید — "
                    f"{name} is not valid UTF-8 text; send the form in UTF-8",
                )
                for name in dict.fromkeys(bad)
            ),
        )
    return fields


def check_api_key(form: Mapping[str, list[str]], accepted: Iterable[str]) -> None:
    """A submission needs one of the accepted api_keys (the last one sent counts)."""
    api_key = (form.get("api_key") or [""])[-1]
    if api_key not in accepted:
        raise error(403, "Missing or invalid api_key", "کلید API نامعتبر است یا فرستاده نشده است")


def idempotency_key(given: str | None) -> str:
    """The key a submission is registered under: the client's when it sent a valid one, else a fresh
    one (Idempotency-Key is not part of GeoReport, so a bad one is ignored rather than refused)."""
    return given if given and valid_key(given) else new_id()


def service_notice(tracking_code: str, *, repeat: bool) -> str:
    """What the submitter is told: the tracking code, and whether the report joined an open request."""
    persian_code = to_persian_digits(tracking_code)
    if repeat:
        return f"این گزارش به درخواست باز قبلی شما با کد پیگیری {persian_code} پیوست شد"
    return f"درخواست شما ثبت شد. کد پیگیری: {persian_code}. وضعیت با پیامک اطلاع داده می‌شود"


@dataclass(frozen=True)
class Submission:
    """A POST requests form, checked against the spec; the case fields still go through CaseIn."""

    service_code: str
    county: County
    case_fields: dict[str, Any]
    public: bool = False


def _one(form: Mapping[str, list[str]], name: str) -> str | None:
    values = [v for v in form.get(name, []) if v.strip()]
    return values[-1].strip() if values else None


# Form fields a person may write over several lines: tab and line breaks are allowed there only.
MULTILINE_FIELDS = frozenset({"description", "address_string"})


def check_controls(form: Mapping[str, list[str]]) -> None:
    """No field of the form, stored or not, may hold a control character (nor may its name): each
    such field is named, so that no error or feed echoes one back."""
    problems: list[tuple[int | str, str]] = []
    for name, values in form.items():
        try:
            refuse_controls(name)
            for value in values:
                refuse_controls(value, multiline=name in MULTILINE_FIELDS)
        except Invalid as exc:
            problems.append((400, f"{printable(name)}: {exc.fa} — {exc.en}"))
    if problems:
        raise Open311Error(400, tuple(problems))


def printable(name: str) -> str:
    """A field name fit to quote in an error: characters that do not print shown as code points."""
    return "".join(c if c.isprintable() else f"U+{ord(c):04X}" for c in name)


def parse_submission(form: Mapping[str, list[str]], province: str) -> Submission:
    """Every problem with the form at once, as the spec's error list (400, or 404 for a service_code)."""
    check_controls(form)
    problems: list[tuple[int | str, str]] = []
    status = 400
    unknown = sorted(k for k in form if k not in REQUEST_FIELDS and not k.startswith("attribute["))
    for field in unknown:
        problems.append((400, f"{field}: این فیلد در Open311 تعریف نشده است — unknown field"))
    code = _one(form, "service_code")
    category: Category | None = None
    if code is None:
        problems.append((400, "service_code: نوع خدمت لازم است — service_code was not provided"))
    else:
        category = categories().get(code)
        if category is None:
            status = 404
            problems.append((404, f"service_code: این نوع خدمت وجود ندارد — service_code {code!r} not found"))
    county: County | None = None
    address = _one(form, "address_string")
    address_id = _one(form, "address_id")
    if address_id is not None:
        try:
            county = resolve_county(address_id, province)
        except Invalid as exc:
            problems.append((400, f"address_id: {exc.fa} — {exc.en}"))
    elif address is not None:
        county = find_county_in(address, province)
        if county is None:
            problems.append(
                (
                    400,
                    "address_string: نام شهرستان در نشانی پیدا نشد (مثلاً «خیابان امام، نیشابور») — "
                    "address_string must name a county of the province",
                )
            )
    else:
        lat_long = _one(form, "lat") is not None and _one(form, "long") is not None
        problems.append(
            (
                400,
                "address_string: نشانی با نام شهرستان لازم است — a location is required: "
                + (
                    "lat/long alone cannot be placed in a county; add address_string"
                    if lat_long
                    else "address_string (naming the county) or address_id (a county code)"
                ),
            )
        )
    if _one(form, "description") is None:
        problems.append((400, "description: شرح مشکل لازم است — description is required"))
    if _one(form, "phone") is None:
        problems.append(
            (400, "phone: شمارهٔ همراه لازم است (پیامک پیگیری) — a mobile phone is required for SMS updates")
        )
    public = _one(form, PUBLIC)
    if public is not None and public.lower() not in TRUE_VALUES | FALSE_VALUES:
        problems.append(
            (
                400,
                "public: باید true (انتشار شرح در فهرست عمومی) یا false باشد — "
                "public must be true (publish the description in the public feed) or false",
            )
        )
    if problems or category is None or county is None:
        raise Open311Error(status if status == 404 and len(problems) == 1 else 400, tuple(problems))
    name: str | None = " ".join(x for x in (_one(form, "first_name"), _one(form, "last_name")) if x) or None
    fields: dict[str, Any] = {
        "channel": "phone",
        "phone": _one(form, "phone"),
        "name": name,
        "province": province,
        "county": county.code,
        "category": category.code,
        "subject": category.fa,
        "description": _one(form, "description"),
    }
    return Submission(
        service_code=category.code,
        county=county,
        case_fields=fields,
        public=public is not None and public.lower() in TRUE_VALUES,
    )


# Which form field each CaseIn field came from, to name it in an error.
FORM_FIELD = {
    "phone": "phone",
    "name": "first_name",
    "county": "address_string",
    "description": "description",
    "subject": "service_code",
    "category": "service_code",
}


def invalid_case(errors: Iterable[Mapping[str, str]]) -> Open311Error:
    """CaseIn's field errors as the spec's error list, each named by the form field it came from."""
    return Open311Error(
        400,
        tuple(
            (400, f"{FORM_FIELD.get(e['field'], e['field'])}: {e['message']} — {e['message_en']}")
            for e in errors
        ),
    )


@dataclass(frozen=True)
class Query:
    tracking_codes: tuple[str, ...]
    service_codes: tuple[str, ...]
    open: bool | None
    start: datetime
    end: datetime


def _date(name: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise error(
            400, f"{name} must be a w3 date-time, e.g. 2018-03-01T00:00:00Z", f"{name} تاریخ معتبر نیست"
        ) from exc
    if value.tzinfo is None:
        raise error(
            400, f"{name} must include a time zone (Z or +03:30)", f"{name} باید منطقهٔ زمانی داشته باشد"
        )
    return value


def _csv(raw: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (raw or "").split(",") if x.strip())


def parse_query(params: Mapping[str, str | None], now: datetime) -> Query:
    """GET requests filters: the default and maximum span is 90 days, at most 1000 results."""
    start = _date("start_date", params.get("start_date"))
    end = _date("end_date", params.get("end_date"))
    if start is not None and end is not None and start > end:
        raise error(400, "start_date is after end_date", "تاریخ شروع پس از تاریخ پایان است")
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if end - start > MAX_SPAN:
        raise error(
            400, "start_date and end_date may not span more than 90 days", "بازهٔ تاریخ بیش از ۹۰ روز است"
        )
    statuses = set(_csv(params.get("status")))
    if statuses - {"open", "closed"}:
        raise error(
            400, "status must be open, closed or both (comma separated)", "وضعیت باید open یا closed باشد"
        )
    wanted_open = None if len(statuses) != 1 else statuses == {"open"}
    return Query(
        tracking_codes=_csv(params.get("service_request_id")),
        service_codes=_csv(params.get("service_code")),
        open=wanted_open,
        start=start,
        end=end,
    )


def _w3(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value is not None else None


def published(view: CaseView) -> bool:
    """Whether the feed may show the case's description: only when an Open311 submitter chose so."""
    return view.public and view.channel == "open311"


def request(
    view: CaseView,
    *,
    status: str | None = None,
    agency_code: str | None = None,
    updated_at: datetime | None = None,
    description: str,
) -> dict[str, Any]:
    """A case as a GeoReport request for the public feed. Personal data (phone, name, national id)
    never leaves; the (masked) description only when the submitter chose to publish it; status_notes
    only the Persian description of the status, never a staff answer (nothing reviews those yet)."""
    current = status or view.status
    holder = agency_code or (view.responsible_agency.value if view.responsible_agency else None)
    category = categories().get(view.category or "")
    county = next((c for c in provinces()[view.province].counties if c.code == view.county), None)
    province = provinces()[view.province]
    doc: dict[str, Any] = {
        "service_request_id": view.tracking_code,
        "status": "closed" if current in CLOSED else "open",
        "status_notes": STATUS_NOTES.get(current),
        "service_name": category.fa if category else None,
        "service_code": view.category or "",
        "description": description,
        "agency_responsible": agency(holder).fa if holder else None,
        "service_notice": f"کد پیگیری: {to_persian_digits(view.tracking_code)}",
        "requested_datetime": _w3(view.registered_at),
        "updated_datetime": _w3(updated_at or view.updated_at),
        "expected_datetime": None,
        "address": f"{county.fa if county else view.county}، {province.fa}",
        "address_id": view.county,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }
    if not published(view):
        del doc["description"]
    return doc
