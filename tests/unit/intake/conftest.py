"""Intake built through its composition root on fakes: in-memory store, tracking and publisher, a fixed clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.clock import FixedClock
from services.common.publishing import InMemoryPublisher
from services.intake.adapters.store import InMemoryIntakeStore
from services.intake.adapters.tracking import InMemoryTrackingDirectory
from services.intake.bootstrap import IntakeContainer, bootstrap
from services.intake.domain.operators import Acting
from services.intake.domain.requests import CaseIn
from services.intake.settings import IntakeSettings

NOW = datetime(2018, 2, 27, 6, 0, tzinfo=UTC)
OP1 = Acting("op-1", "operator")
OP2 = Acting("op-2", "operator")
WATER = {
    "phone": "09151234567",
    "county": "mashhad",
    "subject": "قطعی آب",
    "description": "آب محلهٔ ما از دیروز قطع است و هیچ اطلاع‌رسانی نشده است",
}


def case(**changes: Any) -> CaseIn:
    return CaseIn.model_validate({**WATER, **changes})


def unit_settings(**overrides: Any) -> IntakeSettings:
    values: dict[str, Any] = {
        "public_base_url": "http://tracking.example/",
        "repeat_window_days": 30,
        "repeat_similarity": 0.85,
        "open311_api_keys": ["unit-key"],
        "ready_requires_assignment": False,
    }
    values.update(overrides)
    return IntakeSettings(**values)


@dataclass
class World:
    intake: IntakeContainer
    store: InMemoryIntakeStore
    publisher: InMemoryPublisher
    clock: FixedClock
    tracking: InMemoryTrackingDirectory


def build_world(**overrides: Any) -> World:
    store, publisher, clock = InMemoryIntakeStore(), InMemoryPublisher("intake"), FixedClock(NOW)
    tracking = InMemoryTrackingDirectory()
    intake = bootstrap(
        unit_settings(**overrides), store=store, tracking=tracking, publisher=publisher, clock=clock
    )
    return World(intake, store, publisher, clock, tracking)


@pytest.fixture
def world() -> World:
    return build_world()
