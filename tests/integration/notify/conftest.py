"""Fixtures for notify's integration tests: the independent test SMSC, and a notify on FerretDB."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest

from contracts.events import Envelope
from services.notify.adapters.providers.base import SmsProvider
from services.notify.adapters.store import Contacts, Ledger, OptOuts
from services.notify.adapters.template_files import load_templates
from services.notify.domain.policy import QuietHours, RetryPolicy
from services.notify.notifier import Notifier, NotifyConfig
from tests.support.processes import free_port
from tests.support.stack import ROOT

SMSC_DIR = ROOT / "tests" / "support" / "smsc"


@dataclass
class Smsc:
    port: int
    control: str

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.control}/state", timeout=5).json()

    def configure(self, **config: Any) -> None:
        httpx.post(f"{self.control}/config", json=config, timeout=5).raise_for_status()

    def mo(self, sender: str, text: str) -> None:
        httpx.post(f"{self.control}/mo", json={"from": sender, "text": text}, timeout=5).raise_for_status()

    def drop(self) -> None:
        httpx.post(f"{self.control}/drop", timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def smsc_installed() -> None:
    """A fresh machine has node and npm but not the SMSC's packages: install them from the lock file."""
    if not (SMSC_DIR / "node_modules" / "smpp").exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the test SMSC (tests/support/smsc)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SMSC_DIR, check=True, timeout=300)


@pytest.fixture
def smsc(smsc_installed: None) -> Iterator[Smsc]:
    node = shutil.which("node")
    assert node, "node is needed for the test SMSC"
    port, control = free_port(), free_port()
    proc = subprocess.Popen(
        [node, "smsc.js", str(port), str(control)],
        cwd=SMSC_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("READY"), line
        yield Smsc(port, f"http://127.0.0.1:{control}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Published:
    events: list[Envelope] = field(default_factory=list)

    async def __call__(self, events: list[Envelope]) -> None:
        self.events.extend(events)

    def of(self, kind: str) -> list[Envelope]:
        return [e for e in self.events if e.type == f"ir.samad.sms.{kind}"]


@dataclass
class NotifyOnDb:
    notifier: Notifier
    published: Published
    client: Any


def make_notifier(db: Any, provider: SmsProvider, published: Published, **config: Any) -> Notifier:
    defaults: dict[str, Any] = {
        "stale_after": timedelta(hours=24),
        "quiet": QuietHours(enabled=False),
        "retry": RetryPolicy(attempts=4, initial=0.05, max_delay=0.2, requeue_initial=0.5),
        "poll_seconds": 0.1,
        "reconcile_seconds": 0.3,
        "lease": timedelta(seconds=30),
    }
    defaults.update(config)
    return Notifier(
        ledger=Ledger(db),
        contacts=Contacts(db),
        optouts=OptOuts(db),
        provider=provider,
        templates=load_templates(),
        publish=published,
        config=NotifyConfig(**defaults),
    )


@pytest.fixture
def mongo_db(scratch_db: Any) -> Any:
    return scratch_db


async def settle(seconds: float = 0.5) -> None:
    await asyncio.sleep(seconds)
