"""The citizen's route: their case's status by tracking code and phone, limited per client."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from services.common.problems import ProblemError
from services.tracking.domain.views import unusable_digits
from services.tracking.entrypoints.deps import PROBLEM, Container

router = APIRouter(tags=["citizen"])


def client_of(request: Request, trust_forwarded_for: bool) -> str:
    """The client the limit counts: its address, or the first X-Forwarded-For hop behind a proxy that
    sets it."""
    client = request.client.host if request.client else "unknown"
    if trust_forwarded_for and request.headers.get("x-forwarded-for"):
        client = request.headers["x-forwarded-for"].split(",")[0].strip()
    return client


@router.get(
    "/v1/status/{tracking_code}",
    summary="A citizen's view of their case: the tracking code and the phone (or its last 4 digits)",
    responses={404: PROBLEM, 422: PROBLEM, 429: PROBLEM},
)
async def citizen_status(
    request: Request,
    c: Container,
    tracking_code: Annotated[str, Path(max_length=40)],
    phone: Annotated[str, Query(min_length=4, max_length=40, description="Phone, or its last 4 digits")],
) -> dict[str, Any]:
    for field, value in (("phone", phone), ("tracking_code", tracking_code)):
        if unusable_digits(value):
            raise ProblemError(
                422,
                "validation",
                "درخواست نامعتبر است",
                "The request is invalid",
                f"فیلد نادرست: {field}",
                f"Invalid field: {field}",
                errors=[
                    {
                        "field": field,
                        "code": "not_digits",
                        "message": "فقط رقم وارد کنید (رقم‌های فارسی، عربی یا لاتین)؛ نویسه‌هایی مانند ² رقم نیستند",
                        "message_en": "Use digits only (Persian, Arabic or Latin); characters such as ² are not digits",
                    }
                ],
            )
    return await c.citizen_status(tracking_code, phone, client_of(request, c.settings.trust_forwarded_for))
