"""The Kafka consumer that keeps intake's case view current (repeat calls and Open311 read it)."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.topics import CASES
from services.common.kafka import Incoming, subscribe_events
from services.intake.bootstrap import IntakeContainer


def register(intake: IntakeContainer) -> None:
    """Subscribe the case view to the case events on the container's broker (started with the app)."""

    async def handle(batch: Sequence[Incoming]) -> None:
        await intake.case_view.apply_all(item.event for item in batch)

    subscribe_events(
        intake.broker,
        intake.kafka,
        intake.settings,
        topics=[CASES],
        group=intake.settings.group("intake"),
        handler=handle,
        wanted=intake.case_view.wants,
        description="Intake's case view: who called about what, which agency holds it, whether it is "
        "open. Used for repeat-call detection and Open311.",
        healthy=intake.readiness["mongodb"],
    )
