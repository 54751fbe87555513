"""Open311 GeoReport v2 use cases: discover, list services, submit a request, list requests, read one.

A request is a case registered on the ``open311`` channel. Read endpoints are public, as the spec
says, so they show only requests that came in through Open311, never the citizen's phone, name or
national id, the description only when the submitter chose ``public=true`` (numbers in it masked as
in logs), and never a staff answer: status_notes is the Persian description of the status. Every
refusal is an ``Open311Error``, which the HTTP layer renders in the spec's error format.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from pydantic import ValidationError

from contracts import tracking_code
from contracts.events import Channel
from services.common.clock import Clock
from services.common.logs import mask_text
from services.common.problems import field_errors
from services.intake.adapters.store import CaseQuery, IntakeStore
from services.intake.adapters.tracking import TrackingDirectory, TrackingUnavailable
from services.intake.domain import open311 as o
from services.intake.domain.requests import CaseIn
from services.intake.service.idempotency import KeyConflict
from services.intake.service.register_case import RegisterCase

log = logging.getLogger("samad.intake.open311")

SCOPE = "open311"


class Open311:
    def __init__(
        self,
        register_case: RegisterCase,
        store: IntakeStore,
        tracking: TrackingDirectory,
        clock: Clock,
        *,
        province: str,
        api_keys: Iterable[str],
        contact: str,
    ) -> None:
        self.register_case = register_case
        self.store = store
        self.tracking = tracking
        self.clock = clock
        self.province = province
        self.api_keys = list(api_keys)
        self.contact = contact

    def check_jurisdiction(self, jurisdiction_id: str | None) -> None:
        """One jurisdiction per endpoint: the province this intake serves."""
        o.check_jurisdiction(jurisdiction_id, self.province)

    def discovery(self, base_url: str) -> dict[str, Any]:
        return o.discovery(base_url, self.contact)

    def services(self) -> list[dict[str, Any]]:
        return o.service_list()

    def service_definition(self, service_code: str) -> dict[str, Any]:
        return o.service_definition(service_code)

    async def submit(
        self, form: Mapping[str, list[str]], idempotency_key: str | None
    ) -> list[dict[str, Any]]:
        """Register the submitted request; its service_request_id is the case's tracking code, and a
        repeat of an open request answers with that request's code."""
        o.check_api_key(form, self.api_keys)
        o.check_jurisdiction(next(iter(form.get("jurisdiction_id", [])[-1:]), None), self.province)
        submission = o.parse_submission(form, self.province)
        try:
            case = CaseIn.model_validate(submission.case_fields)
        except ValidationError as exc:
            raise o.invalid_case(field_errors(list(exc.errors()))) from exc
        try:
            answer = await self.register_case(
                case,
                key=o.idempotency_key(idempotency_key),
                scope=SCOPE,
                channel=Channel.open311,
                public=submission.public,
            )
        except KeyConflict as exc:
            raise o.error(
                409,
                "Idempotency-Key already used for another request",
                "این کلید برای درخواست دیگری به کار رفته است",
            ) from exc
        code = str(answer.body["tracking_code"])
        notice = o.service_notice(code, repeat=bool(answer.body.get("duplicate_of")))
        return [{"service_request_id": code, "service_notice": notice, "account_id": None}]

    async def requests(self, params: Mapping[str, str | None]) -> list[dict[str, Any]]:
        """Requests submitted through Open311, newest first (default and maximum span 90 days, 1000 results)."""
        q = o.parse_query(params, self.clock.now())
        views = await self.store.find_cases(
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
        # A public description is sealed like any other; opened here (empty once erased).
        opened = [await self.register_case.opened(v) for v in views]
        return [o.request(v, description=mask_text(v.description)) for v in opened]

    async def request(self, service_request_id: str) -> dict[str, Any]:
        """One request by its id (the tracking code); its status comes from tracking when it answers."""
        code = tracking_code.clean(service_request_id)
        view = await self.store.case_by_tracking_code(code) if tracking_code.is_valid(code) else None
        if view is None or view.channel != Channel.open311.value:
            raise o.error(
                404, f"service_request_id {service_request_id!r} not found", "درخواستی با این شناسه پیدا نشد"
            )
        view = await self.register_case.opened(view)
        try:
            tracked = await self.tracking.status(view.case_id)
        except TrackingUnavailable as exc:
            # Intake's own view is rebuilt from the same events: a little behind, never wrong in kind.
            log.info("tracking unavailable, answering from intake's view: %s", exc)
            tracked = None
        return o.request(
            view,
            status=tracked.status if tracked else None,
            agency_code=tracked.agency if tracked else None,
            updated_at=tracked.updated_at if tracked else None,
            description=mask_text(view.description),
        )

    def token(self, token_id: str) -> NoReturn:
        """Requests are realtime: the POST answer already holds the id, so there are no tokens."""
        raise o.error(404, "tokens are not used: service requests are realtime", "این سرویس توکن ندارد")
