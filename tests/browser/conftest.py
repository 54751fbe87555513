"""What the browser test modules share: the five services as processes against the test stack, with
the console on a fixed port the realm lets receive sign-ins (each module its own port, so modules can
run beside each other), and the SMS outbox they write."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess, free_port, log_dir

SERVICES = ("intake", "routing", "tracking", "notify")


@contextmanager
def running_platform(
    console_port: int,
    tmp_path_factory: pytest.TempPathFactory,
    extra: dict[str, dict[str, str]] | None = None,
    prefix: str = "web",
) -> Iterator[dict[str, ServiceProcess]]:
    """Start intake, routing, tracking, notify and the console (on ``console_port``), each with a
    database and consumer groups of this run's own; ``extra`` adds settings per service."""
    run = f"{prefix}{int(time.time() * 1000) % 10**9}"
    outbox = tmp_path_factory.mktemp("sms") / "outbox.jsonl"
    ports = {name: free_port() for name in SERVICES} | {"console": console_port}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    common = {
        "SAMAD_CONSUMER_GROUP_PREFIX": run,
        "SAMAD_CONSUMER_OFFSET_RESET": "latest",
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        "SAMAD_SMS_FILE_PATH": str(outbox),
        "SAMAD_SMS_INBOX_PATH": str(outbox.with_name("inbox.jsonl")),
        "SAMAD_INTAKE_URL": urls["intake"],
        "SAMAD_TRACKING_URL": urls["tracking"],
        "SAMAD_ROUTING_URL": urls["routing"],
        "SAMAD_NOTIFY_URL": urls["notify"],
        "SAMAD_CONSOLE_URL": urls["console"],
        # The console forwards each citizen's address to tracking from 127.0.0.1.
        "SAMAD_TRUSTED_PROXIES": '["127.0.0.1/32"]',
    }
    procs = {
        name: ServiceProcess(
            name,
            ports[name],
            {**common, "SAMAD_DB_NAME": f"{run}_{name}", **(extra or {}).get(name, {})},
            log_dir(),
        )
        for name in (*SERVICES, "console")
    }
    try:
        for proc in procs.values():
            proc.start(wait_ready=False)
        for proc in procs.values():
            proc.wait_ready(timeout=120)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def read_outbox(procs: dict[str, ServiceProcess]) -> list[dict[str, str]]:
    """Every SMS the file gateway wrote, in the order it sent them."""
    path = Path(procs["notify"].env["SAMAD_SMS_FILE_PATH"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def platform(
    real_stack: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    """The platform for a module that needs nothing special (a module may define its own)."""
    from tests.browser.helpers import CONSOLE_PORT

    with running_platform(CONSOLE_PORT, tmp_path_factory) as procs:
        yield procs
