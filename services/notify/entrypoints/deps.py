"""What every router needs from the request: the container the app was built with, and phone numbers
as staff type them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.common.problems import ProblemError
from services.notify.bootstrap import NotifyContainer
from services.notify.domain.phones import mobile_e164


def container_of(request: Request) -> NotifyContainer:
    container: NotifyContainer = request.app.state.container
    return container


Container = Annotated[NotifyContainer, Depends(container_of)]


def phone_or_422(raw: str) -> str:
    """The E.164 form of a path's phone number, or a 422 problem naming the field."""
    e164 = mobile_e164(raw)
    if e164 is None:
        raise ProblemError(
            422,
            "validation",
            "درخواست نامعتبر است",
            "The request is invalid",
            "فیلدهای نادرست: phone",
            "Invalid fields: phone",
            errors=[
                {
                    "field": "phone",
                    "code": "mobile",
                    "message": "شمارهٔ تلفن همراه معتبر نیست",
                    "message_en": "Not an Iranian mobile number",
                }
            ],
        )
    return e164
