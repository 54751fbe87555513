"""The console's composition root: settings -> adapters -> use cases, in one container.

The HTTP app, its Kafka consumer and the tests build the console here; tests pass fakes for the
platform (the other services), the stores and the identity provider.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from faststream.kafka import KafkaBroker

from services.common.auth import AuthSettings, ServiceTokens, TokenVerifier
from services.common.clock import Clock, SystemClock
from services.common.kafka import make_broker
from services.common.mongo import make_client
from services.console.adapters.identity import IdentityProvider, OidcProvider
from services.console.adapters.platform import HttpPlatform, Platform
from services.console.adapters.responses import load_ready_answers
from services.console.adapters.stores import (
    Counters,
    MongoCounters,
    MongoSessionStore,
    SessionStore,
)
from services.console.domain.inbox import ReadyAnswers
from services.console.service.citizen import CitizenPages, OtpRules
from services.console.service.desk import Desk
from services.console.service.inbox import Inbox, InboxFeed
from services.console.service.live import Hub
from services.console.service.supervisor import Supervision
from services.console.settings import ConsoleSettings

Hook = Callable[[], Awaitable[None]]
Check = Callable[[], Awaitable[bool]]


@dataclass
class ConsoleContainer:
    settings: ConsoleSettings
    clock: Clock
    platform: Platform
    sessions: SessionStore
    identity: IdentityProvider
    verify_token: Callable[[str], Awaitable[Any]]
    desk: Desk
    citizen: CitizenPages
    supervision: Supervision
    hub: Hub
    inbox: Inbox
    inbox_feed: InboxFeed
    broker: KafkaBroker | None
    consumer_group: str
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    readiness: dict[str, Check] = field(default_factory=dict)

    async def startup(self) -> None:
        for hook in self.on_startup:
            await hook()

    async def shutdown(self) -> None:
        for hook in self.on_shutdown:
            await hook()


def bootstrap(
    settings: ConsoleSettings | None = None,
    *,
    platform: Platform | None = None,
    sessions: SessionStore | None = None,
    counters: Counters | None = None,
    identity: IdentityProvider | None = None,
    verify_token: Callable[[str], Awaitable[Any]] | None = None,
    service_token: Callable[[], Awaitable[str]] | None = None,
    broker: KafkaBroker | None = None,
    with_broker: bool = True,
    clock: Clock | None = None,
    answers: ReadyAnswers | None = None,
) -> ConsoleContainer:
    settings = settings or ConsoleSettings()
    clock = clock or SystemClock()
    auth = AuthSettings()
    on_startup: list[Hook] = []
    on_shutdown: list[Hook] = []
    readiness: dict[str, Check] = {}

    if sessions is None or counters is None:
        client = make_client(settings.mongo_url, "console")
        db = client[settings.db_name]
        if sessions is None:
            mongo_sessions = MongoSessionStore(db)
            on_startup.append(mongo_sessions.ensure_indexes)
            sessions = mongo_sessions
        if counters is None:
            mongo_counters = MongoCounters(db)
            on_startup.append(mongo_counters.ensure_indexes)
            counters = mongo_counters
        on_shutdown.append(client.close)

        async def mongodb() -> bool:
            await client.admin.command("ping")
            return True

        readiness["mongodb"] = mongodb

    if platform is None:
        http_platform = HttpPlatform(
            intake=settings.intake_url,
            tracking=settings.tracking_url,
            routing=settings.routing_url,
            notify=settings.notify_url,
            timeout=settings.api_timeout_seconds,
        )
        on_shutdown.append(http_platform.close)
        platform = http_platform
    if verify_token is None:
        verifier = TokenVerifier(auth)
        on_shutdown.append(verifier.close)
        verify_token = verifier.verify
    if service_token is None:
        tokens = ServiceTokens(auth)
        on_shutdown.append(tokens.close)
        service_token = tokens.token
    identity = identity or OidcProvider(auth.issuer, settings.console_client_id)
    if broker is None and with_broker:
        broker = make_broker(settings, "console")
    rules = OtpRules(
        settings.otp_minutes,
        settings.otp_attempts,
        settings.otp_per_phone_hour,
        settings.otp_per_address_hour,
    )
    hub = Hub()
    inbox_feed = InboxFeed(platform, service_token, hub)
    on_shutdown.insert(0, inbox_feed.close)
    answers = answers if answers is not None else load_ready_answers(settings.responses_path)
    return ConsoleContainer(
        settings=settings,
        clock=clock,
        platform=platform,
        sessions=sessions,
        identity=identity,
        verify_token=verify_token,
        desk=Desk(platform, clock),
        citizen=CitizenPages(platform, counters, clock, rules, service_token),
        supervision=Supervision(platform, clock),
        hub=hub,
        inbox=Inbox(platform, clock, answers),
        inbox_feed=inbox_feed,
        broker=broker,
        # Every replica pushes every change to the browsers connected to it, so each reads the whole
        # topics in a group of its own (its host name is unique per pod).
        consumer_group=f"{settings.group('console')}.{socket.gethostname()}",
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        readiness=readiness,
    )
