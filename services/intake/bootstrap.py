"""Intake's composition root: settings -> adapters -> use cases, one container for every entry point.

The HTTP app, the Kafka consumer, the CLI and the tests all build intake here; a test passes fakes
(``bootstrap(settings, store=InMemoryIntakeStore(), publisher=InMemoryPublisher(), clock=FixedClock())``)
and gets the same use cases wired to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from faststream.kafka import KafkaBroker

from contracts.events import CallReceived, CaseRegistered, CaseRepeatCall, EventData
from services.common.auth import AuthSettings, ServiceTokens
from services.common.clock import Clock, SystemClock
from services.common.kafka import EventPublisher, consumers_positioned, make_broker
from services.common.publishing import BusUnavailable, Publisher
from services.common.sealing import Sealer, sealer_from_settings
from services.intake.adapters.store import IntakeStore, MongoIntakeStore
from services.intake.adapters.tracking import HttpTrackingDirectory, TrackingDirectory
from services.intake.service.case_view import KeepCaseView
from services.intake.service.catalogue import Catalogue
from services.intake.service.idempotency import Idempotency
from services.intake.service.import_calls import ImportCalls
from services.intake.service.log_call import LogCall
from services.intake.service.log_call_with_case import LogCallWithCase
from services.intake.service.open311 import Open311
from services.intake.service.register_case import RegisterCase
from services.intake.settings import IntakeSettings

log = logging.getLogger("samad.intake.app")

SERVICE = "intake"
# The events intake publishes: declared once with the broker, for publishing and the AsyncAPI document.
PRODUCES: tuple[type[EventData], ...] = (CallReceived, CaseRegistered, CaseRepeatCall)
RECONNECT_SECONDS = 2.0

ReadinessCheck = Callable[[], Awaitable[bool]]


@dataclass
class IntakeContainer:
    """Intake, wired: its adapters, its use cases, and how to start, stop and check them."""

    settings: IntakeSettings
    broker: KafkaBroker
    # The Kafka side of publishing: the declared publishers (AsyncAPI) and the consumer's dead letters.
    kafka: EventPublisher
    publisher: Publisher
    store: IntakeStore
    tracking: TrackingDirectory
    clock: Clock
    idempotency: Idempotency
    log_call: LogCall
    register_case: RegisterCase
    log_call_with_case: LogCallWithCase
    case_view: KeepCaseView
    import_calls: ImportCalls
    open311: Open311
    catalogue: Catalogue
    _connector: asyncio.Task[None] | None = None

    @property
    def readiness(self) -> dict[str, ReadinessCheck]:
        checks: dict[str, ReadinessCheck] = {
            "kafka": lambda: self.broker.ping(timeout=2.0),
            "mongodb": self.store.ping,
        }
        if self.settings.ready_requires_assignment:
            checks["consumers_assigned"] = lambda: consumers_positioned(self.broker)
        return checks

    async def _connect_once(self) -> bool:
        try:
            await self.store.setup()
            await self.broker.start()
            return True
        except Exception as exc:
            log.warning("Kafka or MongoDB not reachable yet (%r); answering 503 until they are", exc)
            with contextlib.suppress(Exception):
                await self.broker.stop()
            return False

    async def _keep_connecting(self) -> None:
        connected = False
        while not connected:
            await asyncio.sleep(RECONNECT_SECONDS)
            connected = await self._connect_once()
        log.info("connected to Kafka and MongoDB")

    async def startup(self) -> None:
        """Start serving even when Kafka or MongoDB is down: requests get 503 with Retry-After meanwhile
        (and /readyz says so) instead of refused connections, while this keeps reconnecting."""
        if not await self._connect_once():
            self._connector = asyncio.create_task(self._keep_connecting())

    async def connect(self) -> None:
        """Connect now or fail (the CLI): MongoDB errors as they are, Kafka's as ``BusUnavailable``."""
        await self.store.setup()
        try:
            await self.broker.start()
        except Exception as exc:
            raise BusUnavailable(repr(exc)) from exc

    async def shutdown(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        await self.broker.stop()
        await self.tracking.close()
        await self.store.close()


def bootstrap(
    settings: IntakeSettings | None = None,
    *,
    store: IntakeStore | None = None,
    tracking: TrackingDirectory | None = None,
    publisher: Publisher | None = None,
    clock: Clock | None = None,
    client: str = SERVICE,
    sealer: Sealer | None = None,
) -> IntakeContainer:
    """Build intake: real adapters unless a fake is passed. ``client`` names the Kafka and MongoDB
    connections (the CLI's import runs as ``intake-import``)."""
    s = settings or IntakeSettings()
    broker = make_broker(s, client)
    kafka = EventPublisher(broker, SERVICE, PRODUCES, timeout_seconds=s.publish_timeout_seconds)
    if store is None:
        store = MongoIntakeStore.open(s.mongo_url, s.db_name, client)
    if tracking is None:
        # Tracking's staff API with the services' client credentials from the identity provider.
        tracking = HttpTrackingDirectory(
            s.tracking_url, ServiceTokens(AuthSettings()).token, s.tracking_timeout_seconds
        )
    publisher = publisher or kafka
    clock = clock or SystemClock()
    idempotency = Idempotency(store, clock, timedelta(seconds=s.idempotency_pending_seconds))
    # Personal fields are sealed when the keys are configured (SAMAD_KEKS, SAMAD_INDEX_KEY).
    sealer = sealer or sealer_from_settings(s, client)
    log_call = LogCall(idempotency, publisher, clock, sealer)
    register_case = RegisterCase(
        idempotency,
        store,
        publisher,
        clock,
        repeat_policy=s.repeat_policy,
        status_base_url=s.public_base_url,
        sealer=sealer,
    )
    return IntakeContainer(
        settings=s,
        broker=broker,
        kafka=kafka,
        publisher=publisher,
        store=store,
        tracking=tracking,
        clock=clock,
        idempotency=idempotency,
        log_call=log_call,
        register_case=register_case,
        log_call_with_case=LogCallWithCase(log_call, register_case),
        case_view=KeepCaseView(store),
        import_calls=ImportCalls(log_call, register_case),
        open311=Open311(
            register_case,
            store,
            tracking,
            clock,
            province=s.province,
            api_keys=s.open311_api_keys,
            contact=s.open311_contact,
        ),
        catalogue=Catalogue(s.province),
    )
