"""Tracking as its own process on the real Kafka and FerretDB, with its own database and consumer group."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient, MongoClient

from contracts.events import CONTENT_TYPE, Envelope, new_id
from services.common.auth import Role
from tests.support import identity
from tests.support.processes import ServiceProcess, free_port, log_dir
from tests.support.stack import KAFKA, MONGO


@pytest.fixture(scope="module")
def tracking_db() -> Iterator[str]:
    name = f"samad_tracking_test_{new_id()[:10]}"
    yield name
    with MongoClient(MONGO, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


@pytest.fixture(scope="module")
def tracking(tracking_db: str) -> Iterator[ServiceProcess]:
    tag = tracking_db.rsplit("_", 1)[-1]
    proc = ServiceProcess(
        "tracking",
        free_port(),
        {
            "SAMAD_DB_NAME": tracking_db,
            "SAMAD_CONSUMER_GROUP_PREFIX": f"test.tracking.{tag}",
            "SAMAD_CONSUMER_OFFSET_RESET": "latest",
            "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
            "SAMAD_SWEEP_INTERVAL_SECONDS": "0",
            # The tests stand in for the ingress (peer 127.0.0.1) and each names its own client in
            # X-Forwarded-For, so the clients' limits do not leak between tests.
            "SAMAD_TRUSTED_PROXIES": '["127.0.0.1/32"]',
            "SAMAD_STATUS_CLIENT_ATTEMPTS": "5",
        },
        log_dir(),
    ).start(timeout=120)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def mongo() -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO, tz_aware=True)
    try:
        yield client
    finally:
        await client.close()


async def publish(events: Sequence[Envelope]) -> None:
    """Produce in the given order (per partition order is kept: idempotent producer, awaited sends)."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(
                e.topic, e.to_json(), key=e.key, headers=[("content-type", CONTENT_TYPE.encode())]
            )
            for e in events
        ]
        await producer.flush()
        for f in futures:
            await f
    finally:
        await producer.stop()


def bearer(role: Role, agency: Any = None, sub: str = "tester") -> dict[str, str]:
    return identity.bearer(role, agency, sub)
