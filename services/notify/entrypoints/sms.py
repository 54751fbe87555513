"""``/v1/sms``: the SMS ledger for supervisors and ops: what was sent, to whom, and how it ended.

Supervisors read it whole; ``ops`` runs the gateway and reads it with the recipients and texts masked
(least privilege, docs/privacy.md); operators read one case's messages, the number masked."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.common.addresses import client_address
from services.common.auth import PURPOSE_HEADER, Principal, Role, require
from services.common.logs import mask_phone
from services.common.problems import ProblemError
from services.notify.domain.ledger import SmsState
from services.notify.domain.records import KeptReceipt, SmsRecord
from services.notify.entrypoints.deps import Container

router = APIRouter(tags=["ledger"])
managers = require(Role.supervisor, Role.ops)
# Operators follow the SMS of the case in front of them (one case at a time, the number masked).
readers = require(Role.supervisor, Role.ops, Role.operator)


def sms_view(r: SmsRecord) -> dict[str, Any]:
    return {
        "sms_id": r.sms_id,
        "case_id": r.case_id,
        "source_event_id": r.source_event_id,
        "source_event_type": r.source_event_type,
        "template": r.template,
        "recipient": r.recipient,
        "text": r.text,
        "parts": r.segments,
        "state": r.state.value,
        "provider": r.provider,
        "provider_message_ids": list(r.message_ids),
        "part_states": [
            {"number": p.number, "message_id": p.message_id, "state": r.part_state(p).value} for p in r.parts
        ],
        "claims": r.claims,
        "not_before": r.not_before,
        "error": r.error,
        "replay_run": r.replay_run,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "history": [{"at": h.at, "to": h.to.value, "note": h.note} for h in r.history],
    }


@router.get("/v1/sms", summary="The SMS ledger: what was sent, to whom, and how it ended")
async def ledger(
    request: Request,
    c: Container,
    principal: Principal = readers,
    case_id: Annotated[str | None, Query(max_length=100)] = None,
    state: Annotated[SmsState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    if principal.role is Role.operator and not case_id:
        raise ProblemError(
            422,
            "validation",
            "درخواست نامعتبر است",
            "The request is invalid",
            "فیلد نادرست: case_id",
            "Invalid field: case_id",
            errors=[
                {
                    "field": "case_id",
                    "code": "missing",
                    "message": "شناسهٔ پرونده لازم است",
                    "message_en": "operators read the SMS of one case",
                }
            ],
        )
    records = await c.lookup.records(case_id=case_id, state=state, limit=limit)
    shown = principal.role is Role.supervisor
    # Each case whose messages were read goes to the read audit (tracking's), once per request.
    peer = request.client.host if request.client else None
    c.read_audit.record(
        user=principal.subject,
        role=principal.role.value,
        client=client_address(peer, request.headers.getlist("x-forwarded-for"), c.settings.trusted_proxies),
        endpoint="GET /v1/sms",
        screen=request.headers.get(PURPOSE_HEADER),
        reads=[(case, "shown" if shown else "masked") for case in dict.fromkeys(r.case_id for r in records)],
    )
    if principal.role is Role.operator:
        return {"items": [operator_view(r) for r in records]}
    if principal.role is Role.ops:
        return {"items": [masked_view(r) for r in records]}
    return {"items": [sms_view(r) for r in records]}


# What a masked SMS text reads as.
MASKED = "***"


def masked_view(r: SmsRecord) -> dict[str, Any]:
    """The ledger as ops read it: everything about the delivery, nothing of the citizen."""
    return sms_view(r) | {
        "recipient": mask_phone(r.recipient),
        "text": MASKED if r.text else r.text,
        "personal": "masked",
    }


def operator_view(r: SmsRecord) -> dict[str, Any]:
    """What the operator's desk shows: which message, its state and when, the number masked."""
    return {
        "sms_id": r.sms_id,
        "case_id": r.case_id,
        "template": r.template,
        "recipient": r.recipient[:6] + "***" + r.recipient[-4:] if r.recipient else None,
        "parts": r.segments,
        "state": r.state.value,
        "updated_at": r.updated_at,
    }


def receipt_view(k: KeptReceipt) -> dict[str, Any]:
    return {
        "provider": k.provider,
        "message_id": k.message_id,
        "outcome": k.outcome.value,
        "error": k.error,
        "received_at": k.received_at,
        "reported_at": k.reported_at,
    }


@router.get(
    "/v1/sms/receipts/unmatched",
    summary="Delivery receipts naming a message id no SMS part has (yet); reported_at once reported",
)
async def unmatched_receipts(
    c: Container,
    _principal: Principal = managers,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {"items": [receipt_view(k) for k in await c.receipts.unmatched(limit)]}
