"""The citizen's route: their case's status by tracking code and phone, limited per client and per code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from services.common.problems import ProblemError
from services.tracking.domain.lookup_limits import IPNetwork, client_address
from services.tracking.domain.views import unusable_digits
from services.tracking.entrypoints.deps import PROBLEM, Container

router = APIRouter(tags=["citizen"])


def client_of(request: Request, proxies: Sequence[IPNetwork]) -> str:
    """The client the limits count: the peer's address, or behind a trusted proxy the right-most
    X-Forwarded-For hop that is not one (``domain.lookup_limits.client_address``)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), proxies)


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
    return await c.citizen_status(tracking_code, phone, client_of(request, c.settings.trusted_proxies))
