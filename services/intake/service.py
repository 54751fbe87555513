"""Intake's use cases: log a call, register a case (or link a repeat call), keep the case view current.

The HTTP API, the CSV import and Open311 all come through here, so one Idempotency-Key rule, one
repeat-call rule and one publishing rule hold for every way a call or a case enters SAMAD.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from prometheus_client import Counter

from contracts import tracking_code
from contracts.events import Channel, Envelope
from services.common.kafka import Incoming
from services.common.logs import mask_phone
from services.intake.adapters.bus import EventBus
from services.intake.adapters.clock import Clock
from services.intake.adapters.store import IntakeStore, KeyRecord
from services.intake.domain import events, ids
from services.intake.domain.cases import RELEVANT_TYPES, RepeatPolicy, find_repeat
from services.intake.domain.requests import CallIn, CaseIn
from services.intake.domain.validation import Invalid, check_not_future

# Tries of the next hashed candidate when a tracking code is already another case's.
MAX_CODE_ATTEMPTS = 20

log = logging.getLogger("samad.intake")

CALLS_LOGGED = Counter("samad_intake_calls_total", "Calls logged", ["outcome"])
CASES_REGISTERED = Counter("samad_intake_cases_registered_total", "Cases registered", ["channel"])
REPEAT_CALLS = Counter("samad_intake_repeat_calls_total", "Reports linked to an open case")
IDEMPOTENT_REPLAYS = Counter("samad_intake_idempotent_replays_total", "Retries answered from the key record")


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


class KeyConflict(Exception):
    """The Idempotency-Key was used for a different request, or that request is still running."""

    def __init__(self, in_progress: bool) -> None:
        super().__init__("in progress" if in_progress else "reused")
        self.in_progress = in_progress


@dataclass(frozen=True)
class Rejected(Exception):
    """Input that passed the schema but breaks a rule needing context (the clock)."""

    errors: list[tuple[str, Invalid]] = field(default_factory=list)


class IntakeService:
    def __init__(
        self,
        store: IntakeStore,
        bus: EventBus,
        clock: Clock,
        *,
        repeat_policy: RepeatPolicy,
        status_base_url: str,
        pending_timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.repeat_policy = repeat_policy
        self.status_base_url = status_base_url.rstrip("/")
        self.pending_timeout = pending_timeout

    def status_url(self, tracking_code: str) -> str:
        return f"{self.status_base_url}/v1/status/{tracking_code}"

    # --- idempotency -----------------------------------------------------------------------------

    async def _once(
        self, scope: str, key: str, fingerprint: str, produce: Callable[[], Awaitable[Answer]]
    ) -> Answer:
        """Run ``produce`` once per key: a retry gets the stored answer; another body under the key, a 409."""
        record = KeyRecord(scope=scope, key=key, fingerprint=fingerprint, created_at=self.clock.now())
        existing = await self.store.reserve_key(record)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise KeyConflict(in_progress=False)
            if existing.completed and existing.status_code is not None and existing.body is not None:
                IDEMPOTENT_REPLAYS.inc()
                return Answer(existing.status_code, existing.body, replayed=True)
            abandoned = existing.created_at < record.created_at - self.pending_timeout
            if not abandoned or not await self.store.take_over_key(existing, record):
                raise KeyConflict(in_progress=True)
        try:
            answer = await produce()
        except BaseException:
            await self.store.release_key(record)
            raise
        await self.store.complete_key(record, answer.status_code, answer.body)
        return answer

    # --- calls -----------------------------------------------------------------------------------

    async def log_call(
        self, call: CallIn, *, key: str, operator_id: str | None, scope: str = "calls"
    ) -> Answer:
        now = self.clock.now()
        problem = check_not_future(call.started_at, now)
        if problem is not None:
            raise Rejected([("started_at", problem)])
        effective_operator = call.operator_id or operator_id
        body = call.model_dump(mode="json") | {"operator_id": effective_operator}
        call_ids = ids.call_ids(f"{scope}:{key}")

        async def produce() -> Answer:
            event = events.call_received(call, call_ids, operator_id=effective_operator, now=now)
            await self.bus.publish([event])
            CALLS_LOGGED.labels(call.outcome.value).inc()
            log.info(
                "call %s logged: %s from %s",
                call_ids.call_id,
                call.outcome.value,
                mask_phone(call.caller_phone),
            )
            return Answer(201, {"call_id": call_ids.call_id, "event_id": event.id, "status": "received"})

        return await self._once(scope, key, ids.fingerprint(scope, body), produce)

    # --- cases -----------------------------------------------------------------------------------

    async def register_case(
        self,
        case: CaseIn,
        *,
        key: str,
        operator_id: str | None,
        scope: str = "cases",
        channel: Channel | None = None,
    ) -> Answer:
        effective_operator = case.operator_id or operator_id
        body = case.model_dump(mode="json") | {
            "operator_id": effective_operator,
            "channel": (channel or Channel(case.channel)).value,
        }

        async def produce() -> Answer:
            return await self._register(case, f"{scope}:{key}", effective_operator, channel)

        return await self._once(scope, key, ids.fingerprint(scope, body), produce)

    async def _register(
        self, case: CaseIn, key: str, operator_id: str | None, channel: Channel | None
    ) -> Answer:
        now = self.clock.now()
        case_ids = ids.case_ids(key)
        already = await self.store.get_case(case_ids.case_id)
        repeat = None
        if already is None:
            candidates = await self.store.open_cases_for_phone(case.phone, now - self.repeat_policy.window)
            repeat = find_repeat(
                phone=case.phone,
                agency=case.agency,
                description=case.description,
                candidates=candidates,
                now=now,
                policy=self.repeat_policy,
                exclude_case_id=case_ids.case_id,
            )
        if repeat is not None:
            event = events.repeat_call(case, case_ids, repeat, operator_id=operator_id, now=now)
            await self.bus.publish([event])
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
        # A retry whose first attempt got as far as Kafka (the view has the case) republishes the same
        # event: same id, so consumers see it once.
        registered_at = already.registered_at if already is not None else now
        case_ids = await self._unique_code(case_ids, already.tracking_code if already is not None else None)
        event = events.case_registered(
            case, case_ids, operator_id=operator_id, now=registered_at, channel=channel
        )
        await self.bus.publish([event])
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

    # --- the case view ---------------------------------------------------------------------------

    async def apply(self, batch: Sequence[Incoming]) -> None:
        """Consumer handler: keep the view current. Idempotent by event id."""
        for item in batch:
            await self.apply_event(item.event)

    async def apply_event(self, event: Envelope) -> bool:
        if event.type not in RELEVANT_TYPES:
            return False
        return await self.store.apply_event(event)
