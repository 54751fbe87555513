"""The composition root of the operator tools: settings -> adapters -> use cases.

The CLI (entrypoints/cli.py) builds its container here, once per command; tests build it with fakes:
``bootstrap(settings, log=InMemoryLog(), store=InMemoryOpsStore(), targets={"tracking": ...},
projections=InMemoryProjections({...}), files=InMemoryFiles(), clock=FixedClock(), actor="t")``.
Nothing connects while the container is built: ``startup()`` connects to Kafka (MongoDB connects on
first use), ``shutdown()`` closes what was opened.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from services.common.auth import AuthSettings, TokenVerifier
from services.common.clock import Clock, SystemClock
from services.common.mongo import make_client
from services.common.sealing import Sealer, sealer_from_settings
from services.ops.adapters.catalog import EntryPointProjections, ProjectionCatalog
from services.ops.adapters.files import DumpFiles, LocalFiles
from services.ops.adapters.kafka import KafkaLog, client_options
from services.ops.adapters.log import EventLog
from services.ops.adapters.privacy import (
    CitizenCases,
    MongoCitizenCases,
    MongoPrivacyRequests,
    PrivacyRequests,
)
from services.ops.adapters.projection_store import MongoProjectionStore, ProjectionStore
from services.ops.adapters.store import MongoOpsStore, OpsStore
from services.ops.adapters.traces import JaegerTraces, TraceStore
from services.ops.domain.audit import Operator
from services.ops.service.audit import Auditor, AuditTrail
from services.ops.service.dump_events import DumpEvents
from services.ops.service.load_events import LoadEvents
from services.ops.service.offsets import Offsets
from services.ops.service.positions import Positions
from services.ops.service.privacy import Privacy
from services.ops.service.rebuild import Rebuild
from services.ops.service.redrive import Redrive
from services.ops.service.replay import Replay
from services.ops.service.tail_events import TailEvents
from services.ops.service.trace_case import TraceCase
from services.ops.settings import OpsSettings

Hook = Callable[[], Awaitable[None]]
# A bearer token -> (who it names, the realm roles it holds); raises when it is not valid.
TokenCheck = Callable[[str], Awaitable[tuple[str, frozenset[str]]]]


def _token_check(verifier: TokenVerifier) -> TokenCheck:
    async def check(token: str) -> tuple[str, frozenset[str]]:
        principal = await verifier.verify(token)
        return principal.subject, frozenset(str(r) for r in principal.roles | {principal.role})

    return check


@dataclass
class OpsContainer:
    settings: OpsSettings
    clock: Clock
    zone: ZoneInfo
    log: EventLog
    store: OpsStore
    targets: dict[str, ProjectionStore]
    projections: ProjectionCatalog
    files: DumpFiles
    auditor: Auditor
    tail_events: TailEvents
    dump_events: DumpEvents
    load_events: LoadEvents
    replay: Replay
    rebuild: Rebuild
    redrive: Redrive
    offsets: Offsets
    audit: AuditTrail
    trace_case: TraceCase
    privacy: Privacy
    # Who a token names and the roles it holds (the privacy commands' two people).
    verify_token: TokenCheck
    # Lifecycle: connecting to the log (not needed by the commands that only read MongoDB), and closing.
    connect_log: list[Hook] = field(default_factory=list)
    close: list[Hook] = field(default_factory=list)

    async def startup(self, *, log: bool = True) -> None:
        if log:
            for hook in self.connect_log:
                await hook()

    async def shutdown(self) -> None:
        for hook in self.close:
            await hook()


def default_actor() -> str:
    """The OS user, when the operator does not say who they are."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def current_operator(actor: str | None = None) -> Operator:
    os_user = default_actor()
    return Operator(actor=actor or os_user, os_user=os_user, host=socket.gethostname(), pid=os.getpid())


def bootstrap(
    settings: OpsSettings | None = None,
    *,
    actor: str | None = None,
    operator: Operator | None = None,
    log: EventLog | None = None,
    store: OpsStore | None = None,
    targets: dict[str, ProjectionStore] | None = None,
    projections: ProjectionCatalog | None = None,
    files: DumpFiles | None = None,
    traces: TraceStore | None = None,
    clock: Clock | None = None,
    privacy_requests: PrivacyRequests | None = None,
    citizen_cases: CitizenCases | None = None,
    sealer: Sealer | None = None,
    verify_token: TokenCheck | None = None,
) -> OpsContainer:
    settings = settings or OpsSettings()
    clock = clock or SystemClock()
    zone = ZoneInfo(settings.ops_timezone)
    connect_log: list[Hook] = []
    close: list[Hook] = []
    if log is None:
        kafka = KafkaLog(settings.kafka_bootstrap, options=client_options(settings))
        connect_log.append(kafka.start)
        close.append(kafka.stop)
        log = kafka
    if store is None:
        client = make_client(settings.mongo_url, "ops")
        close.append(client.close)
        store = MongoOpsStore(client[settings.db_name], clock)
    if targets is None:
        # Its own client, so the rebuild's bulk writes show up apart from the audit trail's.
        rebuild_client = make_client(settings.mongo_url, "ops-rebuild")
        close.append(rebuild_client.close)
        targets = {
            "tracking": MongoProjectionStore(
                rebuild_client[settings.tracking_db_name], settings.tracking_collection
            )
        }
    projections = projections or EntryPointProjections()
    if traces is None:
        jaeger = JaegerTraces(settings.jaeger_url)
        close.append(jaeger.close)
        traces = jaeger
    files = files or LocalFiles()
    auditor = Auditor(store, operator or current_operator(actor), clock)
    if privacy_requests is None or citizen_cases is None:
        privacy_client = make_client(settings.mongo_url, "ops-privacy")
        close.append(privacy_client.close)
        privacy_requests = privacy_requests or MongoPrivacyRequests(privacy_client[settings.db_name])
        citizen_cases = citizen_cases or MongoCitizenCases(
            privacy_client[settings.tracking_db_name], settings.tracking_collection
        )
    sealer = sealer or sealer_from_settings(settings, "ops")
    if verify_token is None:
        verifier = TokenVerifier(AuthSettings())
        close.append(verifier.close)
        verify_token = _token_check(verifier)
    positions = Positions(clock, zone)
    return OpsContainer(
        settings=settings,
        clock=clock,
        zone=zone,
        log=log,
        store=store,
        targets=targets,
        projections=projections,
        files=files,
        auditor=auditor,
        tail_events=TailEvents(log, auditor, positions, zone, bidi=settings.cli_bidi),
        dump_events=DumpEvents(log, files, auditor, positions, clock),
        load_events=LoadEvents(log, files, auditor),
        replay=Replay(log, auditor, positions),
        rebuild=Rebuild(log, store, targets, projections, auditor, positions, clock, settings),
        redrive=Redrive(log, store, auditor, positions, clock),
        offsets=Offsets(log, auditor, positions),
        audit=AuditTrail(store),
        trace_case=TraceCase(traces),
        privacy=Privacy(privacy_requests, citizen_cases, sealer, auditor, clock),
        verify_token=verify_token,
        connect_log=connect_log,
        close=close,
    )


@asynccontextmanager
async def opened(container: OpsContainer, *, log: bool = True) -> AsyncIterator[OpsContainer]:
    """The container started (with the log connected unless ``log`` is False), and shut down after."""
    try:
        await container.startup(log=log)
        yield container
    finally:
        await container.shutdown()
