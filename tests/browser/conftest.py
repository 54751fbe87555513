"""The whole platform for the browser tests of the console: the five services as processes against the
test stack's Kafka, FerretDB and Keycloak, each module with databases and consumer groups of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.browser.helpers import CONSOLE_PORT, SERVICES
from tests.support.processes import ServiceProcess, free_port, log_dir


@pytest.fixture(scope="module")
def platform(
    real_stack: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    run = f"web{int(time.time() * 1000) % 10**9}"
    outbox = tmp_path_factory.mktemp("sms") / "outbox.jsonl"
    ports = {name: free_port() for name in SERVICES} | {"console": CONSOLE_PORT}
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
        name: ServiceProcess(name, ports[name], {**common, "SAMAD_DB_NAME": f"{run}_{name}"}, log_dir())
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
