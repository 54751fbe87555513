"""Test session set-up: integration and e2e tests run against the real Kafka and FerretDB (test profile)."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support import identity
from tests.support import stack as test_stack

# Browser fixtures and checks (Playwright on the system chromium) for any test module.
pytest_plugins = ["tests.support.browser"]


@pytest.fixture(scope="session")
def real_stack() -> None:
    """Kafka and FerretDB of the test profile, started if they are not running.

    The fixture never stops them: `make test` starts the stack before pytest and stops it after, and a
    developer's stack stays up between runs (start is idempotent and waits for readiness).
    """
    if not test_stack.running():
        test_stack.stack("start")
    # In-process apps and the service processes the tests start verify tokens of the test stack's
    # Keycloak and call each other with its service client.
    os.environ.update(identity.service_env())


@pytest.fixture
def unique() -> str:
    """A short unique suffix, so tests sharing the stack never see each other's data."""
    return uuid.uuid4().hex[:10]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a failing test: the suite fails if anything was skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"{len(skipped)} test(s) skipped: skips count as failures here", red=True)


# `make test` runs the fault runs beside the suite; their busy first minutes (two stacks starting, the
# load with its outages) meet the integration tests, which mostly wait on the pipeline, while the
# browser tests, which keep both cores busy, come after. Within a folder the order is pytest's.
FOLDER_ORDER = ("integration", "e2e", "deploy", "browser", "unit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        parts = item.nodeid.split("/")
        folder = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
        return FOLDER_ORDER.index(folder) if folder in FOLDER_ORDER else len(FOLDER_ORDER)

    items.sort(key=rank)
