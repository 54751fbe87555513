"""HTTP: what routing would decide for a text, without any event."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.common.auth import Principal, Role, require
from services.routing.entrypoints.dependencies import Container

router = APIRouter(tags=["triage"])
STAFF = require(Role.supervisor, Role.operator)


class ClassifyIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    category: str | None = Field(default=None, max_length=100)


@router.post("/v1/classify", summary="What routing would decide for a text (no event)")
async def classify(body: ClassifyIn, c: Container, principal: Principal = STAFF) -> dict[str, Any]:
    out = c.classify(body.text, body.category)
    return {
        **out.result.to_json(),
        "candidates": [
            {"agency": x.agency.value, "score": x.score, "points": x.points} for x in out.candidates
        ],
    }
