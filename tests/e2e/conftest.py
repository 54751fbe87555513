"""Every test here talks to the real Kafka and FerretDB of the test profile."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _real_stack(real_stack: None) -> None:
    return real_stack
