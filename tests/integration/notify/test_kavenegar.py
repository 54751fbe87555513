"""The Kavenegar provider and notify's ledger against a local server that follows the documented API:
send with a localid, status polling, permanent and transient errors, and a timeout after submitting
resolved by a status lookup instead of a second send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.kafka import Incoming
from services.notify.adapters.providers.kavenegar import KavenegarProvider
from services.notify.bootstrap import NotifyContainer
from services.notify.domain.ledger import SmsState
from tests.integration.notify.conftest import Published, make_notify
from tests.integration.notify.helpers import phone_for, registered
from tests.integration.notify.kavenegar_server import API_KEY, KavenegarServer
from tests.support.kafka import wait_for


@pytest.fixture
def gateway() -> Any:
    with KavenegarServer() as server:
        yield server


@pytest.fixture
async def notify(gateway: KavenegarServer, mongo_db: Any) -> AsyncIterator[tuple[NotifyContainer, Published]]:
    published = Published()
    provider = KavenegarProvider(API_KEY, base_url=gateway.url, sender="10004346", timeout=1.0)
    container = make_notify(mongo_db, provider, published, sms_status_poll_seconds=0.3)
    await container.startup()
    await container.start()
    try:
        yield container, published
    finally:
        await container.stop()


async def register(notify: NotifyContainer, unique: str, phone: str) -> str:
    case_id = f"case-{unique}"
    await notify.recorder.handle([Incoming(registered(case_id, phone), "samad.cases.v1", 0, 0, {})])
    return case_id


async def test_sent_with_localid_then_delivered_by_status_polling(
    notify, gateway: KavenegarServer, unique: str
) -> None:
    container, published = notify
    phone = phone_for(unique)
    case_id = await register(container, unique, phone)
    await wait_for(lambda: len(published.of("delivered")) == 1, timeout=20)
    [message] = gateway.gateway.messages
    assert message["receptor"] == "0" + phone[3:]
    [record] = await container.ledger.list(case_id=case_id)
    assert record.state is SmsState.delivered
    assert record.message_ids == (str(message["messageid"]),)
    assert gateway.gateway.by_localid[str(record.local_id)] is message


async def test_bad_receptor_is_a_permanent_failure_tried_once(
    notify, gateway: KavenegarServer, unique: str
) -> None:
    container, published = notify
    case_id = await register(container, unique, "+9891212345")  # too short: the gateway answers 411
    await wait_for(lambda: len(published.of("failed")) == 1, timeout=20)
    assert gateway.gateway.send_calls == 1
    failed = published.of("failed")[0].data
    assert failed.permanent and "411" in failed.error  # type: ignore[attr-defined]
    [record] = await container.ledger.list(case_id=case_id)
    assert record.state is SmsState.failed


async def test_transient_errors_are_retried_and_send_one_message(
    notify, gateway: KavenegarServer, unique: str
) -> None:
    container, published = notify
    gateway.gateway.fail_next = [409, 418]
    await register(container, unique, phone_for(unique))
    await wait_for(lambda: len(published.of("sent")) == 1, timeout=20)
    assert gateway.gateway.send_calls == 3
    assert len(gateway.gateway.messages) == 1


async def test_timeout_after_submit_is_reconciled_by_lookup_not_resent(
    notify, gateway: KavenegarServer, unique: str
) -> None:
    container, published = notify
    gateway.gateway.delay_next_send = 2.0  # stored by the gateway, answered after the client gave up
    case_id = await register(container, unique, phone_for(unique))
    await wait_for(lambda: len(published.of("delivered")) == 1, timeout=30)
    assert gateway.gateway.send_calls == 1
    assert len(gateway.gateway.messages) == 1
    [record] = await container.ledger.list(case_id=case_id)
    states = [h.to for h in record.history]
    assert "unknown" in states and states[-1] == "delivered"
    assert states.count("sending") == 1
