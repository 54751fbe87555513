"""Intake against the real Kafka and FerretDB: in process (ASGI) or as its own uvicorn process."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from pymongo import AsyncMongoClient

from services.common.auth import Role
from services.intake.settings import IntakeSettings
from tests.support import identity
from tests.support.kafka import TopicReader, end_offsets, wait_for
from tests.support.processes import ServiceProcess, free_port, log_dir
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
    return identity.bearer(role, sub=subject)


async def drop_database(name: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


async def read_to_end(reader: TopicReader, timeout: float = 60.0) -> list[Any]:
    """Everything on the topic up to its end now: an event published before an answer is in it."""
    ends = await end_offsets(reader.topic)

    def reached(records: list[Any]) -> bool:
        last: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            last[tp] = max(last.get(tp, -1), r.offset)
        return all(end <= reader.start.get(tp, 0) or last.get(tp, -1) >= end - 1 for tp, end in ends.items())

    if reached(reader.records):
        return reader.records  # nothing new since the last read
    await reader.collect(reached, timeout=timeout)
    # collect() reads again from the start offsets: keep one copy of each record.
    unique = {(r.partition, r.offset): r for r in reader.records}
    reader.records[:] = [unique[k] for k in sorted(unique)]
    return reader.records


@pytest.fixture(scope="module")
async def intake_app() -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """One intake app per test module, its lifespan running (broker, consumer, MongoDB)."""
    from services.intake.bootstrap import bootstrap
    from services.intake.entrypoints.http import create_app

    tag = uuid.uuid4().hex[:10]
    settings = intake_settings(tag)
    app = create_app(bootstrap(settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_for(ready, timeout=60)
            yield client, app
    await drop_database(settings.db_name)


class StubTracking:
    """A stand-in for tracking's staff API (GET /v1/cases/{ref}), on its own port, with an off switch."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        stub = self
        self.cases: dict[str, dict[str, Any]] = {}
        self.down = False
        self.authorizations: list[str] = []
        self.requested: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.authorizations.append(self.headers.get("Authorization", ""))
                ref = self.path.rsplit("/", 1)[-1]
                stub.requested.append(ref)
                if stub.down:
                    status, body = 503, {"title": "down"}
                elif ref in stub.cases:
                    status, body = 200, stub.cases[ref]
                else:
                    status, body = 404, {"title": "not found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


OPEN311_KEY = "test-open311-key"


@pytest.fixture(scope="package")
def tracking_stub() -> Iterator[StubTracking]:
    stub = StubTracking()
    yield stub
    stub.close()


@pytest.fixture(scope="package")
def intake_process(tracking_stub: StubTracking) -> Iterator[ServiceProcess]:
    """Intake as its own uvicorn process (python -m services.intake), as `make up` runs it."""
    tag = uuid.uuid4().hex[:10]
    env = {
        "SAMAD_DB_NAME": f"samad_intake_test_{tag}",
        "SAMAD_CONSUMER_GROUP_PREFIX": f"test-intake-{tag}",
        "SAMAD_CONSUMER_OFFSET_RESET": "latest",
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        "SAMAD_TRACKING_URL": tracking_stub.url,
        "SAMAD_OPEN311_API_KEYS": json.dumps([OPEN311_KEY]),
        "SAMAD_PUBLIC_BASE_URL": "http://tracking.test",
    }
    process = ServiceProcess("intake", free_port(), env, log_dir()).start(timeout=90)
    yield process
    process.stop()
    from pymongo import MongoClient

    with MongoClient[dict[str, Any]](MONGO) as client:
        client.drop_database(env["SAMAD_DB_NAME"])
