"""Fixtures for notify's integration tests: the independent test SMSC, and a notify on FerretDB."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contracts.events import Envelope
from services.common.publishing import InMemoryPublisher, Publisher
from services.notify.adapters.contacts import Contacts, MongoContacts
from services.notify.adapters.ledger import Ledger
from services.notify.adapters.ledger.mongo import MongoLedger
from services.notify.adapters.optouts import MongoOptOuts, OptOuts
from services.notify.adapters.providers.base import SmsProvider
from services.notify.adapters.rate_limit import Unlimited
from services.notify.bootstrap import NotifyContainer, bootstrap
from services.notify.settings import NotifySettings
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

    def cut(self) -> int:
        """Cut every session: the answers already sent get out, nothing after gets in. How many."""
        response = httpx.post(f"{self.control}/cut", timeout=5)
        response.raise_for_status()
        return int(response.json()["cut"])


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


class Published(InMemoryPublisher):
    """What notify published, by kind (``sent``, ``delivered``, ``failed``)."""

    def __init__(self) -> None:
        super().__init__("notify")

    def of(self, kind: str) -> list[Envelope]:
        return self.of_type(f"ir.samad.sms.{kind}")


def make_notify(
    db: Any,
    provider: SmsProvider,
    published: Publisher,
    *,
    ledger: Ledger | None = None,
    contacts: Contacts | None = None,
    optouts: OptOuts | None = None,
    **settings: Any,
) -> NotifyContainer:
    """Notify as bootstrap builds it, on this database and gateway, publishing into ``published``;
    short timings (``settings`` are NotifySettings fields and override them)."""
    values: dict[str, Any] = {
        "sms_stale_after_hours": 24,
        "sms_quiet_hours": False,
        "sms_retry_attempts": 4,
        "sms_retry_initial_seconds": 0.05,
        "sms_retry_max_seconds": 0.2,
        "sms_requeue_initial_seconds": 0.5,
        "sms_poll_seconds": 0.1,
        "sms_reconcile_seconds": 0.3,
        "sms_lease_seconds": 30,
    }
    values.update(settings)
    return bootstrap(
        NotifySettings(**values),
        ledger=ledger if ledger is not None else MongoLedger(db),
        contacts=contacts if contacts is not None else MongoContacts(db),
        optouts=optouts if optouts is not None else MongoOptOuts(db),
        provider=provider,
        limiter=Unlimited(),
        publisher=published,
    )


@pytest.fixture
def mongo_db(scratch_db: Any) -> Any:
    return scratch_db


async def settle(seconds: float = 0.5) -> None:
    await asyncio.sleep(seconds)
