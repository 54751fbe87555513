"""Notify's composition root: settings -> adapters -> use cases, for the HTTP app, the consumer, the
CLI and the tests alike. A test passes fakes (``InMemoryLedger``, ``FakeProvider``,
``InMemoryPublisher``, ``FixedClock`` ...) for the adapters it does not want real."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from faststream.kafka import KafkaBroker

from contracts.events import SmsDelivered, SmsFailed, SmsSent
from services.common.auth import AuthSettings, ServiceTokens
from services.common.clock import Clock, SystemClock
from services.common.kafka import EventPublisher, make_broker
from services.common.mongo import make_client
from services.common.publishing import Publisher
from services.common.sealing import Sealer, sealer_from_settings
from services.notify.adapters.contacts import Contacts, MongoContacts
from services.notify.adapters.cursors import MongoCursor
from services.notify.adapters.ledger import Ledger
from services.notify.adapters.ledger.mongo import MongoLedger
from services.notify.adapters.optouts import MongoOptOuts, OptOuts
from services.notify.adapters.providers.base import SmsProvider
from services.notify.adapters.providers.file import FileProvider
from services.notify.adapters.providers.traced import TracedProvider
from services.notify.adapters.rate_limit import RateLimiter, TokenBucket
from services.notify.adapters.read_audit import HttpReadAuditSink, ReadAuditSink
from services.notify.adapters.template_files import load_templates
from services.notify.domain.templates import Template, TemplateKey
from services.notify.service.config import NotifyConfig
from services.notify.service.lookup import LedgerLookup
from services.notify.service.opt_out import OptOutRequests
from services.notify.service.outcomes import Outcomes
from services.notify.service.preview import PreviewSms
from services.notify.service.read_audit import ReadAudit
from services.notify.service.receipts import Receipts
from services.notify.service.reconcile import Reconciler
from services.notify.service.record import Recorder
from services.notify.service.send import Senders
from services.notify.service.verification import SendVerification
from services.notify.settings import NotifySettings

SERVICE = "notify"
VERSION = "1.0.0"
PRODUCES = (SmsSent, SmsDelivered, SmsFailed)

ReadinessCheck = Callable[[], Awaitable[bool]]


@dataclass
class NotifyContainer:
    settings: NotifySettings
    config: NotifyConfig
    broker: KafkaBroker
    # The declared publishers of notify's events (and of its dead letters): the consumer and the
    # AsyncAPI document use them; ``publisher`` is what the use cases publish through (these same
    # publishers, unless a test passes a fake).
    events: EventPublisher
    publisher: Publisher
    clock: Clock
    ledger: Ledger
    contacts: Contacts
    optouts: OptOuts
    provider: SmsProvider
    limiter: RateLimiter
    templates: dict[TemplateKey, Template]
    outcomes: Outcomes
    senders: Senders
    recorder: Recorder
    reconciler: Reconciler
    receipts: Receipts
    opt_out: OptOutRequests
    send_verification: SendVerification
    preview: PreviewSms
    lookup: LedgerLookup
    read_audit: ReadAudit
    client: Any | None  # the MongoDB client of the stores bootstrap built (None: all passed in)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def startup(self) -> None:
        """Before the broker starts: what the stores need (indexes), the read audit's sender."""
        await self.ledger.setup()
        await self.read_audit.start()

    async def start(self, *, workers: bool = True) -> None:
        """Once the broker is connected (the senders and the reconciler publish): the gateway, whose
        receipts and inbound SMS go to their use cases, then the workers."""
        await self.provider.start(self.receipts.on_report, self.opt_out.on_inbound)
        if workers:
            self.senders.start()
            self.reconciler.start()

    async def stop(self) -> None:
        """Before the broker stops: the workers, then the gateway."""
        await self.senders.stop()
        await self.reconciler.stop()
        await self.provider.stop()

    async def shutdown(self) -> None:
        await self.read_audit.stop()
        for hook in self.on_shutdown:
            await hook()
        if self.client is not None:
            await self.client.close()

    def readiness(self) -> dict[str, ReadinessCheck]:
        checks: dict[str, ReadinessCheck] = {}
        client = self.client
        if client is not None:

            async def mongo_ready() -> bool:
                await client.admin.command("ping")
                return True

            checks["mongodb"] = mongo_ready
        checks["sms_provider"] = self.provider.ready
        return checks


def notify_config(settings: NotifySettings) -> NotifyConfig:
    return NotifyConfig(
        stale_after=settings.stale_after,
        quiet=settings.quiet_hours,
        retry=settings.retry_policy,
        lease=timedelta(seconds=settings.sms_lease_seconds),
        poll_seconds=settings.sms_poll_seconds,
        reconcile_seconds=settings.sms_reconcile_seconds,
        status_poll=timedelta(seconds=settings.sms_status_poll_seconds),
        outbox_grace=timedelta(seconds=settings.sms_outbox_grace_seconds),
        receipt_match_wait=timedelta(seconds=settings.sms_receipt_match_seconds),
        concurrency=settings.sms_sender_concurrency,
        crash_after_submit=settings.sms_test_crash_after_submit,
    )


def make_provider(settings: NotifySettings, db: Callable[[], Any]) -> SmsProvider:
    """The gateway ``SAMAD_SMS_PROVIDER`` names; ``db`` gives the database the file gateway keeps its
    inbox position in."""
    if settings.sms_provider == "smpp":
        from services.notify.adapters.providers.smpp import SmppProvider

        return SmppProvider(
            settings.sms_smpp_host,
            settings.sms_smpp_port,
            settings.sms_smpp_system_id,
            settings.sms_smpp_password,
            source=settings.sms_smpp_source,
            system_type=settings.sms_smpp_system_type,
            enquire_link_interval=settings.sms_smpp_enquire_link_seconds,
            response_timeout=settings.sms_smpp_response_timeout_seconds,
            tls=settings.sms_smpp_tls,
            tls_ca_file=settings.sms_smpp_tls_ca_file,
            tls_server_name=settings.sms_smpp_tls_server_name,
        )
    if settings.sms_provider == "kavenegar":
        from services.notify.adapters.providers.kavenegar import KavenegarProvider

        return KavenegarProvider(
            settings.sms_kavenegar_api_key,
            base_url=settings.sms_kavenegar_base_url,
            sender=settings.sms_kavenegar_sender,
            timeout=settings.sms_kavenegar_timeout_seconds,
        )
    return FileProvider(
        settings.sms_file_path,
        settings.sms_inbox_path,
        auto_deliver=settings.sms_file_auto_deliver,
        inbox_offset_store=MongoCursor(db(), f"file-inbox:{settings.sms_inbox_path}"),
    )


def bootstrap(
    settings: NotifySettings | None = None,
    *,
    ledger: Ledger | None = None,
    contacts: Contacts | None = None,
    optouts: OptOuts | None = None,
    provider: SmsProvider | None = None,
    limiter: RateLimiter | None = None,
    templates: dict[TemplateKey, Template] | None = None,
    clock: Clock | None = None,
    publisher: Publisher | None = None,
    replica: str | None = None,
    read_audit: ReadAuditSink | None = None,
    sealer: Sealer | None = None,
) -> NotifyContainer:
    settings = settings or NotifySettings()
    config = notify_config(settings)
    broker = make_broker(settings, SERVICE)
    events = EventPublisher(broker, SERVICE, PRODUCES)
    publisher = publisher if publisher is not None else events
    clock = clock if clock is not None else SystemClock()
    client: Any | None = None

    def db() -> Any:
        # One client for every real store, made only when one is wanted.
        nonlocal client
        if client is None:
            client = make_client(settings.mongo_url, SERVICE)
        return client[settings.db_name]

    ledger = ledger if ledger is not None else MongoLedger(db())
    on_shutdown: list[Callable[[], Awaitable[None]]] = []
    if read_audit is None:
        tokens = ServiceTokens(AuthSettings())
        http_sink = HttpReadAuditSink(settings.tracking_url, tokens.token)
        on_shutdown += [http_sink.close, tokens.close]
        read_audit = http_sink
    sink: ReadAuditSink = read_audit
    contacts = contacts if contacts is not None else MongoContacts(db())
    optouts = optouts if optouts is not None else MongoOptOuts(db())
    # The configured gateway with a span around each call to it (nothing more while tracing is off).
    provider = provider if provider is not None else TracedProvider(make_provider(settings, db))
    limiter = (
        limiter if limiter is not None else TokenBucket(settings.sms_rate_per_second, settings.sms_rate_burst)
    )
    templates = templates if templates is not None else load_templates(settings.sms_template_path)
    replica = replica or f"{socket.gethostname()}:{os.getpid()}"

    # Sealed contacts and SMS when the keys are configured (docs/privacy.md).
    sealer = sealer or sealer_from_settings(settings, SERVICE)
    outcomes = Outcomes(ledger=ledger, publisher=publisher, clock=clock, provider=provider.name)
    receipts = Receipts(ledger=ledger, outcomes=outcomes, clock=clock, match_wait=config.receipt_match_wait)
    senders = Senders(
        ledger=ledger,
        optouts=optouts,
        provider=provider,
        limiter=limiter,
        outcomes=outcomes,
        clock=clock,
        config=config,
        replica=replica,
        sealer=sealer,
    )
    return NotifyContainer(
        settings=settings,
        config=config,
        broker=broker,
        events=events,
        publisher=publisher,
        clock=clock,
        ledger=ledger,
        contacts=contacts,
        optouts=optouts,
        provider=provider,
        limiter=limiter,
        templates=templates,
        outcomes=outcomes,
        senders=senders,
        recorder=Recorder(
            ledger=ledger,
            contacts=contacts,
            templates=templates,
            senders=senders,
            clock=clock,
            config=config,
            provider=provider.name,
            sealer=sealer,
        ),
        reconciler=Reconciler(
            ledger=ledger,
            provider=provider,
            outcomes=outcomes,
            senders=senders,
            receipts=receipts,
            clock=clock,
            config=config,
        ),
        receipts=receipts,
        opt_out=OptOutRequests(optouts=optouts, clock=clock),
        send_verification=SendVerification(provider),
        preview=PreviewSms(templates, clock),
        lookup=LedgerLookup(ledger=ledger),
        read_audit=ReadAudit(
            sink,
            clock,
            batch_size=settings.read_audit_batch_size,
            interval_seconds=settings.read_audit_interval_seconds,
        ),
        client=client,
        on_shutdown=on_shutdown,
    )
