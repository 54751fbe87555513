"""Tracking's composition root: settings -> adapters -> use cases, with the lifecycle hooks.

The HTTP app, the Kafka consumer, the CLI and the tests all build tracking here. Every port takes an
override (a fake in unit tests); what is not given is built for real from the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from faststream.kafka import KafkaBroker

from contracts.events import (
    CaseAssigned,
    CaseEscalated,
    CaseNoteAdded,
    CaseRerouteRequested,
    CaseResumed,
    CaseSlaBreached,
    CaseStatusChanged,
)
from services.common.auth import AuthSettings, InsecureConfiguration, ServiceTokens
from services.common.clock import Clock, OffsetClock, SystemClock
from services.common.kafka import EventPublisher, make_broker
from services.common.publishing import Publisher
from services.common.sealing import Sealer, sealer_from_settings
from services.tracking.adapters.audit import MongoReadAudit, ReadAudit
from services.tracking.adapters.calls import CallStore, MongoCallStore
from services.tracking.adapters.cases import CaseStore, MongoCaseStore
from services.tracking.adapters.claims import Claims, MongoClaims
from services.tracking.adapters.data import load_policy
from services.tracking.adapters.directory import Directory, KeycloakDirectory
from services.tracking.adapters.mongo import TrackingDatabase
from services.tracking.adapters.ratelimit import Attempts, MongoAttempts
from services.tracking.adapters.rollups import MongoRollupStore, RollupStore
from services.tracking.domain.sla import SlaPolicy
from services.tracking.service.act_on_case import ActOnCase
from services.tracking.service.agency_queue import AgencyQueue, AgencyStaff, EscalationQueue
from services.tracking.service.citizen_status import CitizenStatus
from services.tracking.service.lookup import FindCitizenCases, LookUpCase
from services.tracking.service.opening import CaseOpener
from services.tracking.service.project_events import ProjectEvents
from services.tracking.service.read_audit import AuditTrail, QueryReads
from services.tracking.service.report_cases import ReportCases
from services.tracking.service.reports import Reports
from services.tracking.service.rollups import DailyRollups
from services.tracking.service.sweep_timers import SweepTimers, default_owner
from services.tracking.settings import TrackingSettings

# Every event type tracking publishes: staff actions, SLA breaches and escalation steps, the closing of
# quiet cases.
PRODUCES = (
    CaseStatusChanged,
    CaseRerouteRequested,
    CaseNoteAdded,
    CaseAssigned,
    CaseResumed,
    CaseSlaBreached,
    CaseEscalated,
)

ReadinessCheck = Callable[[], Awaitable[bool]]
log = logging.getLogger("samad.tracking")


async def every(interval_seconds: float, work: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``work`` every ``interval_seconds`` until cancelled; a failure is logged and retried at the
    next interval."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await work()
        except Exception:
            log.exception("%s failed; trying again at the next interval", what)


@dataclass
class TrackingContainer:
    """Tracking assembled: its ports, its use cases, and the hooks the HTTP app runs at start and stop
    (indexes and the database before the broker; the timers once it is connected)."""

    settings: TrackingSettings
    broker: KafkaBroker
    # The declared publishers: they publish (unless a fake publisher is given), dead-letter for the
    # consumer and describe the events in the AsyncAPI document.
    events: EventPublisher
    publisher: Publisher
    clock: Clock
    policy: SlaPolicy
    cases: CaseStore
    calls: CallStore
    claims: Claims
    attempts: Attempts
    project_events: ProjectEvents
    look_up: LookUpCase
    find_citizen_cases: FindCitizenCases
    citizen_status: CitizenStatus
    agency_queue: AgencyQueue
    escalation_queue: EscalationQueue
    agency_staff: AgencyStaff
    directory: Directory
    act_on_case: ActOnCase
    sweep_timers: SweepTimers
    reports: Reports
    report_cases: ReportCases
    read_audit: ReadAudit
    audit_trail: AuditTrail
    query_reads: QueryReads
    rollups: DailyRollups | None = None
    database: TrackingDatabase | None = None
    # Opens sealed personal fields for the staff a case is shown to (docs/privacy.md).
    opener: CaseOpener = field(default_factory=lambda: CaseOpener(None))
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _timers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def readiness(self) -> dict[str, ReadinessCheck]:
        return {"mongodb": self.database.ping} if self.database is not None else {}

    async def ensure_indexes(self) -> None:
        await self.cases.ensure_indexes()
        await self.calls.ensure_indexes()
        await self.claims.ensure_indexes()
        await self.attempts.ensure_indexes()
        await self.read_audit.ensure_indexes()
        if self.rollups is not None:
            await self.rollups.ensure()

    async def startup(self) -> None:
        await self.ensure_indexes()
        await self.audit_trail.start()

    async def shutdown(self) -> None:
        # The read audit's queue is written before the database closes: a clean stop loses no record.
        await self.audit_trail.stop()
        for hook in self.on_shutdown:
            await hook()
        if self.database is not None:
            await self.database.close()

    async def start_timers(self) -> None:
        # The timers publish events: they start once the broker is connected, and stop before it.
        s = self.settings
        if s.sweep_interval_seconds > 0:
            task = asyncio.create_task(
                self.sweep_timers.every(s.sweep_interval_seconds, s.sweep_batch_size), name="tracking-timers"
            )
            self._timers.append(task)
            forget = asyncio.create_task(
                every(
                    s.sweep_interval_seconds, self.citizen_status.forget_expired, "forgetting lookup attempts"
                ),
                name="tracking-lookup-attempts",
            )
            self._timers.append(forget)
        if self.rollups is not None and s.rollup_interval_seconds > 0:
            # Every replica recomputes dirty days: the work is idempotent, so a day done twice costs
            # only the time (see service.rollups).
            task = asyncio.create_task(
                every(
                    s.rollup_interval_seconds,
                    partial(self.rollups.recompute_dirty, settle_seconds=s.rollup_settle_seconds),
                    "recomputing report rollups",
                ),
                name="tracking-rollups",
            )
            self._timers.append(task)

    async def stop_timers(self) -> None:
        while self._timers:
            task = self._timers.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def bootstrap(
    settings: TrackingSettings | None = None,
    *,
    cases: CaseStore | None = None,
    calls: CallStore | None = None,
    claims: Claims | None = None,
    attempts: Attempts | None = None,
    read_audit: ReadAudit | None = None,
    publisher: Publisher | None = None,
    clock: Clock | None = None,
    broker: KafkaBroker | None = None,
    policy: SlaPolicy | None = None,
    directory: Directory | None = None,
    rollups: RollupStore | None = None,
    owner: str | None = None,
    name: str = "tracking",
    sealer: Sealer | None = None,
) -> TrackingContainer:
    """Build tracking. ``name`` names this process to Kafka and MongoDB (the CLI is ``tracking-cli``);
    ``owner`` names it in timer claims (host, pid and a random tag by default). The reports read daily
    rollups when a rollup store is given, or when tracking builds its own case and call stores and
    ``report_rollups`` is on (the default)."""
    s = settings or TrackingSettings()
    broker = broker or make_broker(s, name)
    events = EventPublisher(broker, "tracking", PRODUCES)
    publisher = publisher or events
    auth = AuthSettings()
    if s.test_clock_file and auth.production:
        raise InsecureConfiguration("SAMAD_TEST_CLOCK_FILE moves the clock: test only, refused in production")
    clock = clock or (OffsetClock(s.test_clock_file) if s.test_clock_file else SystemClock())
    policy = policy or load_policy(s.tracking_data_dir)
    on_shutdown: list[Callable[[], Awaitable[None]]] = []
    if directory is None:
        tokens = ServiceTokens(auth)
        keycloak = KeycloakDirectory(
            s.directory_url or auth.issuer.replace("/realms/", "/admin/realms/", 1),
            tokens.token,
            s.directory_cache_seconds,
            auth.http_timeout_seconds,
        )
        on_shutdown += [keycloak.close, tokens.close]
        directory = keycloak
    database = None
    # The rollups of a real store: with fakes for the cases or calls, the reports count them directly.
    own_stores = cases is None and calls is None
    if cases is None or calls is None or claims is None or attempts is None or read_audit is None:
        database = TrackingDatabase(s.mongo_url, s.db_name, name)
        if cases is None:
            store = MongoCaseStore(database.db)
            on_shutdown.append(store.rows.close)  # a slot's compaction still running
            cases = store
        calls = calls or MongoCallStore(database.db)
        claims = claims or MongoClaims(database.db)
        attempts = attempts or MongoAttempts(database.db)
        read_audit = read_audit or MongoReadAudit(database.db)
        if rollups is None and s.report_rollups and own_stores:
            rollups = MongoRollupStore(database.db)
    daily = (
        DailyRollups(rollups, cases, calls, clock, claims, owner or default_owner())
        if rollups is not None
        else None
    )
    trail = AuditTrail(
        read_audit, clock, batch_size=s.read_audit_batch_size, interval_seconds=s.read_audit_interval_seconds
    )
    # Personal fields are stored sealed and opened for staff when the keys are configured (docs/privacy.md).
    sealer = sealer or sealer_from_settings(s, name)
    opener = CaseOpener(sealer)
    return TrackingContainer(
        settings=s,
        broker=broker,
        events=events,
        publisher=publisher,
        clock=clock,
        policy=policy,
        cases=cases,
        calls=calls,
        claims=claims,
        attempts=attempts,
        project_events=ProjectEvents(cases, calls, policy, s.projection_cache_size, daily),
        look_up=LookUpCase(cases, clock, policy.calendar, trail, opener),
        find_citizen_cases=FindCitizenCases(cases, clock, trail, sealer),
        citizen_status=CitizenStatus(cases, attempts, clock, s.lookup_limits, opener),
        agency_queue=AgencyQueue(cases, clock, policy, trail, opener),
        escalation_queue=EscalationQueue(cases, clock, policy, trail, opener),
        agency_staff=AgencyStaff(directory),
        directory=directory,
        act_on_case=ActOnCase(cases, publisher, policy, clock, directory, sealer),
        sweep_timers=SweepTimers(
            cases,
            claims,
            publisher,
            clock,
            owner,
            timedelta(seconds=s.claim_lease_seconds),
            policy=policy,
            directory=directory,
            province=s.province,
        ),
        reports=Reports(cases, calls, clock, s.report_max_days, daily),
        rollups=daily,
        report_cases=ReportCases(cases, clock, trail, opener),
        read_audit=read_audit,
        audit_trail=trail,
        query_reads=QueryReads(read_audit),
        database=database,
        opener=opener,
        on_shutdown=on_shutdown,
    )
