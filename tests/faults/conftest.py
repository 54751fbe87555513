"""The fault runs share one stack (profile ``faults``, wiped first): starting Kafka, FerretDB and
Keycloak takes about two minutes, longer than the SMPP run itself. Each run has its own services,
databases and consumer groups (bench.harness.Pipeline)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bench.harness import FAULTS, StackProfile


@pytest.fixture(scope="session")
def faults_stack() -> Iterator[StackProfile]:
    started = time.monotonic()
    FAULTS.start(fresh=True)
    print(f"[faults {time.strftime('%H:%M:%S')}] stack up in {time.monotonic() - started:.0f}s", flush=True)
    try:
        yield FAULTS
    finally:
        FAULTS.stop()
