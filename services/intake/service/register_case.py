"""Register a citizen's case, or link a repeat call to the open case it repeats, once per Idempotency-Key.

A case is ``case.registered`` with a tracking code no other case holds; a new report from the same
phone about the same open problem is ``case.repeat_call`` on that case instead (domain/cases.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from prometheus_client import Counter

from contracts import tracking_code
from contracts.events import Channel
from services.common.clock import Clock
from services.common.logs import mask_phone
from services.common.publishing import Publisher
from services.intake.adapters.store import IntakeStore
from services.intake.domain import events, ids
from services.intake.domain.cases import Repeat, RepeatPolicy, find_repeat
from services.intake.domain.operators import Acting, case_operator
from services.intake.domain.requests import CaseIn
from services.intake.service.idempotency import Answer, Idempotency

# Tries of the next hashed candidate when a tracking code is already another case's.
MAX_CODE_ATTEMPTS = 20

log = logging.getLogger("samad.intake")

CASES_REGISTERED = Counter("samad_intake_cases_registered_total", "Cases registered", ["channel"])
REPEAT_CALLS = Counter("samad_intake_repeat_calls_total", "Reports linked to an open case")


class RegisterCase:
    def __init__(
        self,
        idempotency: Idempotency,
        store: IntakeStore,
        publisher: Publisher,
        clock: Clock,
        *,
        repeat_policy: RepeatPolicy,
        status_base_url: str,
    ) -> None:
        self.idempotency = idempotency
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.repeat_policy = repeat_policy
        self.status_base_url = status_base_url.rstrip("/")

    def status_url(self, tracking_code: str) -> str:
        return f"{self.status_base_url}/v1/status/{tracking_code}"

    async def __call__(
        self,
        case: CaseIn,
        *,
        key: str,
        by: Acting | None = None,
        scope: str = "cases",
        channel: Channel | None = None,
    ) -> Answer:
        """201 with the new case, or 200 with the open case a repeat call was linked to. ``by``: who
        sends it (an operator acts only as themselves); without it the case keeps the operator it names."""
        operator_id = case_operator(case.operator_id, by)
        body = case.model_dump(mode="json") | {
            "operator_id": operator_id,
            "channel": (channel or Channel(case.channel)).value,
        }

        async def produce() -> Answer:
            return await self._register(case, f"{scope}:{key}", operator_id, channel)

        return await self.idempotency.once(scope, key, ids.fingerprint(scope, body), produce)

    async def _register(
        self, case: CaseIn, key: str, operator_id: str | None, channel: Channel | None
    ) -> Answer:
        now = self.clock.now()
        case_ids = ids.case_ids(key)
        already = await self.store.get_case(case_ids.case_id)
        repeat = None if already is not None else await self._repeat_of(case, case_ids.case_id, now)
        if repeat is not None:
            return await self._link(case, case_ids, repeat, operator_id, now)
        # A retry whose first attempt got as far as Kafka (the view has the case) republishes the same
        # event: same id, so consumers see it once.
        registered_at = already.registered_at if already is not None else now
        case_ids = await self._unique_code(case_ids, already.tracking_code if already is not None else None)
        event = events.case_registered(
            case, case_ids, operator_id=operator_id, now=registered_at, channel=channel
        )
        await self.publisher.publish([event])
        # Write-through: a repeat call a second later must already see this case.
        await self.store.apply_event(event, new=already is None)
        CASES_REGISTERED.labels((channel or Channel(case.channel)).value).inc()
        log.info("case %s registered (%s)", case_ids.case_id, case_ids.tracking_code)
        return Answer(
            201,
            {
                "status": "registered",
                "case_id": case_ids.case_id,
                "tracking_code": case_ids.tracking_code,
                "status_url": self.status_url(case_ids.tracking_code),
                "duplicate_of": None,
                "event_id": event.id,
            },
        )

    async def _repeat_of(self, case: CaseIn, case_id: str, now: datetime) -> Repeat | None:
        """The open case this report repeats, if any (never the case itself, on a retry)."""
        candidates = await self.store.open_cases_for_phone(case.phone, now - self.repeat_policy.window)
        return find_repeat(
            phone=case.phone,
            agency=case.agency,
            description=case.description,
            candidates=candidates,
            now=now,
            policy=self.repeat_policy,
            exclude_case_id=case_id,
        )

    async def _link(
        self, case: CaseIn, case_ids: ids.CaseIds, repeat: Repeat, operator_id: str | None, now: datetime
    ) -> Answer:
        event = events.repeat_call(case, case_ids, repeat, operator_id=operator_id, now=now)
        await self.publisher.publish([event])
        REPEAT_CALLS.inc()
        log.info(
            "repeat call from %s linked to case %s (similarity %.2f)",
            mask_phone(case.phone),
            repeat.case.case_id,
            repeat.similarity,
        )
        return Answer(
            200,
            {
                "status": "repeat_call",
                "case_id": repeat.case.case_id,
                "tracking_code": repeat.case.tracking_code,
                "status_url": self.status_url(repeat.case.tracking_code),
                "duplicate_of": repeat.case.case_id,
                "similarity": repeat.similarity,
                "event_id": event.id,
            },
        )

    async def _unique_code(self, case_ids: ids.CaseIds, known: str | None) -> ids.CaseIds:
        """The case's tracking code, never another case's: a hashed code that is taken yields the next.

        Codes come from the case id (so a retry gets the same one); two case ids can hash to the
        same code, so each code is claimed once, atomically, before it is published.
        """
        if known is not None:
            return replace(case_ids, tracking_code=known)
        for attempt in range(MAX_CODE_ATTEMPTS):
            code = tracking_code.from_seed(case_ids.case_id, attempt)
            if await self.store.claim_tracking_code(code, case_ids.case_id):
                return replace(case_ids, tracking_code=code)
        raise RuntimeError(
            f"no free tracking code for case {case_ids.case_id} in {MAX_CODE_ATTEMPTS} attempts"
        )
