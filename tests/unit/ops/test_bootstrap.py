"""The composition root: real adapters unless fakes are given, and nothing connects until startup."""

from __future__ import annotations

from services.ops.adapters.catalog import EntryPointProjections
from services.ops.adapters.files import LocalFiles
from services.ops.adapters.kafka import KafkaLog
from services.ops.adapters.projection_store import MongoProjectionStore
from services.ops.adapters.store import MongoOpsStore
from services.ops.bootstrap import bootstrap, opened
from services.ops.settings import OpsSettings


async def test_bootstrap_builds_the_real_adapters_without_connecting() -> None:
    # Nothing listens on port 1: building, starting without the log and shutting down must not touch it.
    settings = OpsSettings(
        kafka_bootstrap="127.0.0.1:1",
        mongo_url="mongodb://127.0.0.1:1/",
        tracking_db_name="samad_tracking_x",
        tracking_collection="cases_x",
    )
    container = bootstrap(settings, actor="maryam")
    assert isinstance(container.log, KafkaLog) and isinstance(container.store, MongoOpsStore)
    target = container.targets["tracking"]
    assert isinstance(target, MongoProjectionStore)
    assert (target.database, target.live) == ("samad_tracking_x", "cases_x")
    assert isinstance(container.projections, EntryPointProjections)
    assert "tracking" in container.projections.available()  # tracking publishes its projection
    assert isinstance(container.files, LocalFiles)
    assert container.auditor.actor == "maryam" and container.auditor.operator.pid > 0
    async with opened(container, log=False) as running:
        assert running is container
