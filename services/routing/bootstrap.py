"""Routing's composition root: settings -> adapters -> use cases, in one container.

The HTTP app, the Kafka consumer, the command line and the tests all build routing here. Every adapter
is the real one unless a replacement is passed (tests pass the in-memory fakes); MongoDB and Kafka
clients are made only for the adapters that need them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from faststream.kafka import KafkaBroker

from contracts.events import CaseRouted, CaseTriageRequired
from services.common.clock import Clock, SystemClock
from services.common.kafka import EventPublisher, make_broker
from services.common.mongo import make_client
from services.common.publishing import Publisher
from services.common.sealing import Sealer, sealer_from_settings
from services.routing.adapters.cases import MongoRoutingStore, RoutingStore
from services.routing.adapters.datasets import DatasetFiles, LabelledSets
from services.routing.adapters.roster import MongoRosterStore, RosterStore
from services.routing.adapters.rule_files import RulebookSource, RuleFiles
from services.routing.domain.classifier import Classifier
from services.routing.service.answer import Answers
from services.routing.service.case_events import HandleCaseEvents
from services.routing.service.classify import Classify
from services.routing.service.evaluate import BuildDatasets, Evaluate
from services.routing.service.republish import RepublishOwed
from services.routing.service.reroute import Reroute
from services.routing.service.roster import AddRosterEntry, MoveRosterEntry, RemoveRosterEntry, RosterViews
from services.routing.service.route_case import RouteCase
from services.routing.service.triage import DecideTriage, RoutingHistory, TriageQueue
from services.routing.settings import RoutingSettings

Hook = Callable[[], Awaitable[None]]
Check = Callable[[], Awaitable[bool]]
PRODUCES = (CaseRouted, CaseTriageRequired)


@dataclass
class RoutingContainer:
    settings: RoutingSettings
    clock: Clock
    tz: ZoneInfo
    # Kafka: the broker and the real publisher when routing talks to Kafka (None with a fake publisher).
    broker: KafkaBroker | None
    event_publisher: EventPublisher | None
    publisher: Publisher
    cases: RoutingStore
    roster: RosterStore
    classifier: Classifier
    case_events: HandleCaseEvents
    decide_triage: DecideTriage
    republish_owed: RepublishOwed
    triage_queue: TriageQueue
    routing_history: RoutingHistory
    classify: Classify
    add_roster_entry: AddRosterEntry
    remove_roster_entry: RemoveRosterEntry
    move_roster_entry: MoveRosterEntry
    roster_views: RosterViews
    evaluate: Evaluate
    build_datasets: BuildDatasets
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    # Background workers that publish: started once the broker is connected, stopped before it is.
    after_startup: list[Hook] = field(default_factory=list)
    before_shutdown: list[Hook] = field(default_factory=list)
    readiness: dict[str, Check] = field(default_factory=dict)

    async def startup(self) -> None:
        for hook in self.on_startup:
            await hook()

    async def shutdown(self) -> None:
        for hook in self.on_shutdown:
            await hook()

    async def start_workers(self) -> None:
        for hook in self.after_startup:
            await hook()

    async def stop_workers(self) -> None:
        for hook in self.before_shutdown:
            await hook()


def bootstrap(
    settings: RoutingSettings | None = None,
    *,
    cases: RoutingStore | None = None,
    roster: RosterStore | None = None,
    rules: RulebookSource | None = None,
    datasets: LabelledSets | None = None,
    publisher: Publisher | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock | None = None,
    sealer: Sealer | None = None,
) -> RoutingContainer:
    """Build routing. Without ``publisher``, routing publishes to Kafka through ``broker`` (made from the
    settings unless given: a test passes one to drive it with FastStream's TestKafkaBroker)."""
    settings = settings or RoutingSettings()
    clock = clock or SystemClock()
    tz = ZoneInfo(settings.roster_timezone)
    on_startup: list[Hook] = []
    on_shutdown: list[Hook] = []
    readiness: dict[str, Check] = {}

    if cases is None or roster is None:
        client = make_client(settings.mongo_url, "routing")
        if cases is None:
            mongo_cases = MongoRoutingStore(client, settings.db_name)
            on_startup.append(mongo_cases.ensure_indexes)
            cases = mongo_cases
        if roster is None:
            mongo_roster = MongoRosterStore(
                client,
                settings.db_name,
                cache_seconds=settings.routing_roster_cache_seconds,
                claim_lease_seconds=settings.routing_roster_claim_lease_seconds,
                clock=clock,
            )
            on_startup.append(mongo_roster.ensure_indexes)
            roster = mongo_roster
        on_shutdown.append(client.close)

        async def mongodb() -> bool:
            await client.admin.command("ping")
            return True

        readiness["mongodb"] = mongodb

    event_publisher: EventPublisher | None = None
    if publisher is None:
        broker = broker or make_broker(settings, "routing")
        event_publisher = EventPublisher(broker, "routing", PRODUCES)
        publisher = event_publisher
    elif isinstance(publisher, EventPublisher):
        event_publisher = publisher
        broker = broker or publisher.broker

    sets = datasets or DatasetFiles()
    classifier = Classifier((rules or RuleFiles(settings.routing_rules_dir)).load())
    answers = Answers(roster, clock, tz)
    classify = Classify(classifier, settings.routing_threshold)
    # Opens sealed descriptions when the keys are configured (docs/privacy.md).
    sealer = sealer or sealer_from_settings(settings, "routing")
    route = RouteCase(cases, classifier, answers, settings.routing_threshold, sealer)
    reroute = Reroute(
        cases,
        classifier,
        answers,
        province=settings.province,
        threshold=settings.routing_threshold,
        max_declines=settings.routing_max_declines,
        sealer=sealer,
    )
    republish_owed = RepublishOwed(
        cases,
        publisher,
        clock,
        grace=timedelta(seconds=settings.routing_republish_grace_seconds),
        every_seconds=settings.routing_republish_seconds,
    )
    return RoutingContainer(
        settings=settings,
        clock=clock,
        tz=tz,
        broker=broker,
        event_publisher=event_publisher,
        publisher=publisher,
        cases=cases,
        roster=roster,
        classifier=classifier,
        case_events=HandleCaseEvents(route, reroute, publisher),
        decide_triage=DecideTriage(cases, answers, publisher, settings.routing_triage_publish_seconds),
        republish_owed=republish_owed,
        triage_queue=TriageQueue(cases),
        routing_history=RoutingHistory(cases),
        classify=classify,
        add_roster_entry=AddRosterEntry(roster, tz, settings.province),
        remove_roster_entry=RemoveRosterEntry(roster, tz),
        move_roster_entry=MoveRosterEntry(roster, tz),
        roster_views=RosterViews(roster, clock, tz, settings.province, settings.roster_public_url),
        evaluate=Evaluate(classify, sets),
        build_datasets=BuildDatasets(sets),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        after_startup=[republish_owed.start],
        before_shutdown=[republish_owed.stop],
        readiness=readiness,
    )
