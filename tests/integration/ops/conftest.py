"""Fixtures for the operator tools against the real Kafka and FerretDB: private topics and databases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.ops.adapters.kafka import KafkaLog
from services.ops.adapters.store import MongoOpsStore
from tests.support.stack import KAFKA, MONGO

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def ops_db(unique: str) -> str:
    return f"samad_ops_test_{unique}"


@pytest.fixture
async def log() -> AsyncIterator[KafkaLog]:
    async with KafkaLog(KAFKA, client_id="samad-ops-test") as kafka_log:
        yield kafka_log


@pytest.fixture
async def mongo() -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
async def store(mongo: AsyncMongoClient[dict[str, Any]], ops_db: str) -> AsyncIterator[MongoOpsStore]:
    yield MongoOpsStore(mongo[ops_db])
    await mongo.drop_database(ops_db)


@pytest.fixture
async def make_topic(log: KafkaLog, unique: str) -> AsyncIterator[Any]:
    """Creates private topics (test.ops.<name>.<unique>) and deletes them afterwards."""
    created: list[str] = []

    async def make(name: str, partitions: int = 3) -> str:
        topic = f"test.ops.{name}.{unique}"
        await log.create_topic(topic, partitions)
        created.append(topic)
        return topic

    yield make
    if created:
        await log.delete_topics(created)


@pytest.fixture
def samad(ops_db: str) -> Iterator[Any]:
    """Runs the `samad` CLI as an operator would, against the test stack and a private ops database."""
    env = {
        **os.environ,
        "SAMAD_KAFKA_BOOTSTRAP": KAFKA,
        "SAMAD_MONGO_URL": MONGO,
        "SAMAD_DB_NAME": ops_db,
        "COLUMNS": "200",
    }

    def run(
        *args: str,
        stdout: Any = subprocess.PIPE,
        actor: str = "test-operator",
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "from services.cli import main; main()",
                *args,
                *(["--actor", actor] if args[0] != "audit" else []),
            ],
            cwd=ROOT,
            env={**env, **(extra_env or {})},
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )

    yield run
