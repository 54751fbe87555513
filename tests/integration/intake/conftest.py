"""Intake against the real Kafka and FerretDB: in process (ASGI) or as its own uvicorn process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from pymongo import AsyncMongoClient

from services.common.auth import Role, issue_token
from services.intake.settings import IntakeSettings
from tests.support.kafka import TopicReader, end_offsets, wait_for
from tests.support.stack import KAFKA, MONGO


def intake_settings(tag: str, **overrides: Any) -> IntakeSettings:
    values: dict[str, Any] = {
        "kafka_bootstrap": KAFKA,
        "mongo_url": MONGO,
        "db_name": f"samad_intake_test_{tag}",
        "consumer_group_prefix": f"test-intake-{tag}",
        "consumer_offset_reset": "latest",
        "ready_requires_assignment": True,
        "public_base_url": "http://tracking.test",
        "publish_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return IntakeSettings(**values)


def bearer(role: Role = Role.operator, subject: str = "op-test") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject, role)}"}


async def drop_database(name: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


async def read_to_end(reader: TopicReader, timeout: float = 20.0) -> list[Any]:
    """Everything on the topic up to its end now: an event published before an answer is in it."""
    ends = await end_offsets(reader.topic)

    def reached(records: list[Any]) -> bool:
        last: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            last[tp] = max(last.get(tp, -1), r.offset)
        return all(end <= reader.start.get(tp, 0) or last.get(tp, -1) >= end - 1 for tp, end in ends.items())

    if reached(reader.records):
        return reader.records  # nothing new since the reader started
    return await reader.collect(reached, timeout=timeout)


@pytest.fixture(scope="module")
async def intake_app() -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """One intake app per test module, its lifespan running (broker, consumer, MongoDB)."""
    from services.intake.app import create_app

    tag = uuid.uuid4().hex[:10]
    settings = intake_settings(tag)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_for(ready, timeout=60)
            yield client, app
    await drop_database(settings.db_name)
