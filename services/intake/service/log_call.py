"""Log a call to line 111 (answered, missed or abandoned): ``call.received``, once per Idempotency-Key."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from contracts.events import Envelope
from services.common.clock import Clock
from services.common.logs import mask_phone
from services.common.publishing import Publisher
from services.common.sealing import Sealer, seal_envelope
from services.intake.domain import events, ids
from services.intake.domain.operators import Acting, call_operator
from services.intake.domain.requests import CallIn
from services.intake.domain.validation import Invalid, check_not_future
from services.intake.service.idempotency import Answer, Idempotency

log = logging.getLogger("samad.intake")

CALLS_LOGGED = Counter("samad_intake_calls_total", "Calls logged", ["outcome"])


@dataclass(frozen=True)
class Rejected(Exception):
    """Input that passed the schema but breaks a rule needing context (the clock)."""

    errors: list[tuple[str, Invalid]] = field(default_factory=list)


@dataclass(frozen=True)
class CallToLog:
    """A call checked and given its ids, not yet published: what logging it alone and logging it with
    its case (service/log_call_with_case.py) share."""

    call: CallIn
    call_ids: ids.CallIds
    operator_id: str | None
    body: dict[str, Any]  # the request as its fingerprint takes it
    now: datetime
    sealer: Sealer | None

    async def event(self) -> Envelope:
        """``call.received``, sealed when the process seals (docs/privacy.md)."""
        event = events.call_received(self.call, self.call_ids, operator_id=self.operator_id, now=self.now)
        return await seal_envelope(self.sealer, event)

    def logged(self, event: Envelope) -> dict[str, Any]:
        """Count and log the call once its event is published; the answer's body."""
        CALLS_LOGGED.labels(self.call.outcome.value).inc()
        log.info(
            "call %s logged: %s from %s",
            self.call_ids.call_id,
            self.call.outcome.value,
            mask_phone(self.call.caller_phone),
        )
        return {"call_id": self.call_ids.call_id, "event_id": event.id, "status": "received"}


class LogCall:
    def __init__(
        self, idempotency: Idempotency, publisher: Publisher, clock: Clock, sealer: Sealer | None = None
    ) -> None:
        self.idempotency = idempotency
        self.publisher = publisher
        self.clock = clock
        self.sealer = sealer  # seals the caller's phone (docs/privacy.md); None: plain events

    def prepare(self, call: CallIn, *, key: str, by: Acting | None = None, scope: str = "calls") -> CallToLog:
        """The call checked (``Rejected`` naming the field) and given the ids its key makes."""
        operator_id = call_operator(call.operator_id, call.outcome, by)
        now = self.clock.now()
        problem = check_not_future(call.started_at, now)
        if problem is not None:
            raise Rejected([("started_at", problem)])
        body = call.model_dump(mode="json") | {"operator_id": operator_id}
        return CallToLog(call, ids.call_ids(f"{scope}:{key}"), operator_id, body, now, self.sealer)

    async def __call__(
        self, call: CallIn, *, key: str, by: Acting | None = None, scope: str = "calls"
    ) -> Answer:
        """Publish the call and answer 201 with its id. ``by``: who sends it (an operator acts only as
        themselves); without it (an import) the call keeps the operator it names."""
        to_log = self.prepare(call, key=key, by=by, scope=scope)

        async def produce() -> Answer:
            event = await to_log.event()
            await self.publisher.publish([event])
            return Answer(201, to_log.logged(event))

        return await self.idempotency.once(scope, key, ids.fingerprint(scope, to_log.body), produce)
