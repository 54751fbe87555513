"""What an operator submits: a call to log and a case to register, validated and normalised on input.

Unknown fields are rejected, every bad field is reported at once, and each reason comes in English and
Persian (see services.common.problems). Values are stored in one form: E.164 phones, ten-digit national
ids, county codes, Persian letters and ASCII digits in free text.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from contracts.catalogue import DEFAULT_PROVINCE, AgencyCode, provinces
from contracts.events import CallOutcome
from services.intake.domain import validation as v
from services.intake.domain.categories import categories

MAX_DESCRIPTION = 4000
MAX_SUBJECT = 200
MAX_NAME = 100
MAX_CALL_SECONDS = 24 * 3600


def _error(exc: v.Invalid) -> PydanticCustomError:
    # Braces would be read as template fields by pydantic; operator input may contain them.
    en = exc.en.replace("{", "(").replace("}", ")")
    return PydanticCustomError(exc.code, en, {"fa": exc.fa})


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


# Fields whose text may run over several lines: tab and line breaks are allowed there, nowhere else.
MULTILINE = frozenset({"description"})


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_DESCRIPTION * 2)

    @field_validator("*", mode="before")
    @classmethod
    def _no_controls(cls, value: Any, info: ValidationInfo) -> Any:
        """No field, free text or not, takes a control character (C0, DEL, C1), so none can reach a
        feed, an SMS or a screen; each field's own rules come after."""
        if not isinstance(value, str):
            return value
        try:
            return v.refuse_controls(value, multiline=info.field_name in MULTILINE)
        except v.Invalid as exc:
            raise _error(exc) from exc


# Operators log phone calls and walk-in visits; Open311 requests arrive on their own channel.
CHANNELS = ("phone", "walk_in")


class CallIn(_Input):
    """A call to line 111 (or a walk-in visit), answered or not: every one counts in the funnel."""

    caller_phone: str | None = Field(
        default=None,
        description="Caller id, any common form (09…, +989…, 00989…, Persian digits); landlines accepted. "
        "Omitted when the caller id was withheld.",
        examples=["09151234567"],
    )
    channel: str = Field(default="phone", description="`phone` or `walk_in`", examples=["phone"])
    outcome: CallOutcome = Field(description="`answered`, `missed` or `abandoned`")
    started_at: AwareDatetime = Field(
        description="When the call started, with its time zone", examples=["2018-03-01T09:05:00+03:30"]
    )
    duration_seconds: int = Field(ge=0, le=MAX_CALL_SECONDS, description="Talk time (0 for a missed call)")
    operator_id: str | None = Field(
        default=None, description="The operator who answered; defaults to the caller of the API"
    )
    province: str = Field(default=DEFAULT_PROVINCE, description="Province code")
    county: str | None = Field(default=None, description="County code or Persian name", examples=["mashhad"])
    duty_session_id: str | None = Field(
        default=None, description="The director-general's duty session the call belongs to, if any"
    )

    _blank = field_validator("caller_phone", "operator_id", "county", "duty_session_id", mode="before")(
        _blank_to_none
    )

    @field_validator("caller_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        try:
            return None if value is None else v.normalize_phone(value)
        except v.Invalid as exc:
            raise _error(exc) from exc

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise PydanticCustomError(
                "channel_unknown",
                "channel must be 'phone' or 'walk_in'",
                {"fa": "کانال باید phone (تلفن) یا walk_in (مراجعهٔ حضوری) باشد"},
            )
        return value

    @field_validator("operator_id", "duty_session_id")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        try:
            return None if value is None else v.clean_reference(value)
        except v.Invalid as exc:
            raise _error(exc) from exc

    @field_validator("province")
    @classmethod
    def _province(cls, value: str) -> str:
        return _check_province(value)

    @field_validator("county")
    @classmethod
    def _county(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_county(value, info)

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, value: CallOutcome, info: ValidationInfo) -> CallOutcome:
        if info.data.get("channel") == "walk_in" and value == CallOutcome.missed:
            raise _error(
                v.Invalid(
                    "walk_in_missed",
                    "a walk-in visit cannot be missed; use 'abandoned' if the visitor left unserved",
                    "مراجعهٔ حضوری «بی‌پاسخ» نمی‌شود؛ اگر مراجعه‌کننده بدون پاسخ رفت abandoned بزنید",
                )
            )
        return value


def _check_province(value: str) -> str:
    if value not in provinces():
        raise PydanticCustomError(
            "province_unknown",
            "unknown province code, e.g. 'khorasan_razavi'",
            {"fa": "کد استان شناخته‌شده نیست؛ مثلاً khorasan_razavi"},
        )
    return value


def _check_county(value: str, info: ValidationInfo) -> str:
    province = info.data.get("province")
    if province is None:  # the province itself is wrong and is reported on its own
        return value
    try:
        return v.resolve_county(value, province).code
    except v.Invalid as exc:
        raise _error(exc) from exc


class CaseIn(_Input):
    """A citizen's problem, registered from an answered call or a walk-in visit."""

    call_id: str | None = Field(default=None, description="The call this case comes from, if any")
    channel: str = Field(
        default="phone",
        description="`phone`, `walk_in`, or `web` (the console's online form, phone verified)",
    )
    phone: str = Field(
        description="The citizen's mobile number, any common form; status SMS go to it",
        examples=["۰۹۱۵ ۱۲۳ ۴۵۶۷"],
    )
    name: str | None = Field(default=None, description="The citizen's name", examples=["زهرا احمدی"])
    national_id: str | None = Field(
        default=None, description="کد ملی (10 digits, checked by its check digit)", examples=["0499370899"]
    )
    province: str = Field(default=DEFAULT_PROVINCE, description="Province code")
    county: str = Field(description="County code or Persian name", examples=["mashhad", "نیشابور"])
    category: str | None = Field(
        default=None,
        description="A category code from GET /v1/categories (a hint for routing)",
        examples=["water_outage"],
    )
    subject: str = Field(description="A short title", examples=["قطعی آب"])
    description: str = Field(
        description="The problem in the citizen's words (Persian), up to 4000 characters",
        examples=["آب محله از دیروز قطع است و هیچ اطلاع‌رسانی نشده است"],
    )
    agency: AgencyCode | None = Field(
        default=None, description="The operator's choice of agency; routing follows it when given"
    )
    operator_id: str | None = Field(default=None, description="Defaults to the caller of the API")
    duty_session_id: str | None = Field(default=None)
    agency_reason: str | None = Field(
        default=None,
        description="Why the operator chose the agency: the suggestion accepted, or another agency and why",
    )
    repeat_of: str | None = Field(
        default=None,
        description="The open case of this caller that the operator says this call repeats: the call is "
        "linked to it (200, `repeat_call`) instead of registering a new case",
    )

    _blank = field_validator(
        "call_id",
        "name",
        "national_id",
        "category",
        "agency",
        "operator_id",
        "duty_session_id",
        "repeat_of",
        "agency_reason",
        mode="before",
    )(_blank_to_none)

    def as_sent(self) -> dict[str, Any]:
        """The request's fields as the idempotency fingerprint takes them (fields added later only when
        given, so keys stored before they existed keep their fingerprints)."""
        later = {name for name in ("repeat_of", "agency_reason") if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=later or None)

    @field_validator("phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        try:
            return v.normalize_mobile(value)
        except v.Invalid as exc:
            raise _error(exc) from exc

    @field_validator("national_id")
    @classmethod
    def _national_id(cls, value: str | None) -> str | None:
        try:
            return None if value is None else v.normalize_national_id(value)
        except v.Invalid as exc:
            raise _error(exc) from exc

    @field_validator("agency_reason")
    @classmethod
    def _agency_reason(cls, value: str | None) -> str | None:
        try:
            return None if value is None else v.clean_text(value, max_length=MAX_SUBJECT * 2)
        except v.Invalid as exc:
            raise _error(exc) from exc

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        try:
            return None if value is None else v.clean_text(value, max_length=MAX_NAME)
        except v.Invalid as exc:
            raise _error(exc) from exc

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        try:
            return v.clean_text(value, max_length=MAX_SUBJECT, min_length=2)
        except v.Invalid as exc:
            raise _error(exc) from exc

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        try:
            return v.clean_text(value, max_length=MAX_DESCRIPTION, min_length=5)
        except v.Invalid as exc:
            raise _error(exc) from exc

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value == "web":
            return value
        return CallIn._channel(value)

    @field_validator("category")
    @classmethod
    def _category(cls, value: str | None) -> str | None:
        if value is not None and value not in categories():
            raise PydanticCustomError(
                "category_unknown",
                "unknown category; see GET /v1/categories",
                {"fa": "دسته‌بندی شناخته‌شده نیست؛ فهرست در GET /v1/categories"},
            )
        return value

    @field_validator("call_id", "operator_id", "duty_session_id")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        try:
            return None if value is None else v.clean_reference(value)
        except v.Invalid as exc:
            raise _error(exc) from exc

    @field_validator("province")
    @classmethod
    def _province(cls, value: str) -> str:
        return _check_province(value)

    @field_validator("county")
    @classmethod
    def _county(cls, value: str, info: ValidationInfo) -> str:
        return _check_county(value, info)
