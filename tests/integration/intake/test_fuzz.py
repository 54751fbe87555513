"""Fuzzing the running intake from its own OpenAPI document: no input, valid or not, yields a 5xx.

Schemathesis generates requests for every operation (schema-conforming and deliberately broken ones);
the server runs as its own process on the real Kafka and FerretDB. Bounded: a few hundred requests.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.openapi import from_dict

from services.common.auth import Role
from tests.integration.intake.conftest import bearer
from tests.support.processes import ServiceProcess

EXAMPLES_PER_OPERATION_AND_MODE = 25


def test_no_generated_request_makes_intake_fail(intake_process: ServiceProcess) -> None:
    document = httpx.get(f"{intake_process.url}/openapi.json").json()
    schema = from_dict(document)
    auth = bearer(Role.operator, "op-fuzz")
    session = requests.Session()
    failures: list[str] = []
    sent = 0
    statuses: dict[int, int] = {}
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation fails the test here
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Case[Any]) -> None:
                nonlocal sent
                headers = dict(case.headers or {})
                headers.update(auth)
                try:
                    response = case.call(
                        base_url=intake_process.url, headers=headers, session=session, timeout=30
                    )
                except (requests.exceptions.InvalidHeader, UnicodeEncodeError, ValueError):
                    return  # the client could not even send it (e.g. a header outside latin-1)
                sent += 1
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
                    )

            try:
                run()
            except Unsatisfiable:
                continue  # nothing to break in this operation (no parameters, no body)
    print(f"fuzz: {sent} requests in {time.monotonic() - started:.1f}s, statuses {sorted(statuses.items())}")
    assert sent > 100
    assert failures == []
