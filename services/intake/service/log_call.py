"""Log a call to line 111 (answered, missed or abandoned): ``call.received``, once per Idempotency-Key."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from prometheus_client import Counter

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


class LogCall:
    def __init__(
        self, idempotency: Idempotency, publisher: Publisher, clock: Clock, sealer: Sealer | None = None
    ) -> None:
        self.idempotency = idempotency
        self.publisher = publisher
        self.clock = clock
        self.sealer = sealer  # seals the caller's phone (docs/privacy.md); None: plain events

    async def __call__(
        self, call: CallIn, *, key: str, by: Acting | None = None, scope: str = "calls"
    ) -> Answer:
        """Publish the call and answer 201 with its id. ``by``: who sends it (an operator acts only as
        themselves); without it (an import) the call keeps the operator it names."""
        operator_id = call_operator(call.operator_id, call.outcome, by)
        now = self.clock.now()
        problem = check_not_future(call.started_at, now)
        if problem is not None:
            raise Rejected([("started_at", problem)])
        body = call.model_dump(mode="json") | {"operator_id": operator_id}
        call_ids = ids.call_ids(f"{scope}:{key}")

        async def produce() -> Answer:
            event = events.call_received(call, call_ids, operator_id=operator_id, now=now)
            event = await seal_envelope(self.sealer, event)
            await self.publisher.publish([event])
            CALLS_LOGGED.labels(call.outcome.value).inc()
            log.info(
                "call %s logged: %s from %s",
                call_ids.call_id,
                call.outcome.value,
                mask_phone(call.caller_phone),
            )
            return Answer(201, {"call_id": call_ids.call_id, "event_id": event.id, "status": "received"})

        return await self.idempotency.once(scope, key, ids.fingerprint(scope, body), produce)
