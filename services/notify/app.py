"""Notify's entry point: wires the case-event consumer, the sender, the providers and the staff API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Query
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events import Envelope, SmsDelivered, SmsFailed, SmsSent
from contracts.topics import CASES
from services.common.auth import Principal, Role, require
from services.common.kafka import EventPublisher, make_broker, subscribe_events
from services.common.mongo import make_client
from services.common.problems import ProblemError, invalid
from services.common.web import create_app as create_web_app
from services.notify.adapters.providers.base import SmsProvider
from services.notify.adapters.providers.file import FileProvider
from services.notify.adapters.rate_limit import TokenBucket
from services.notify.adapters.store import Contacts, Cursors, Ledger, OptOuts
from services.notify.adapters.template_files import load_templates
from services.notify.domain.ledger import SmsState
from services.notify.domain.messages import CITIZEN_FACING_TYPES
from services.notify.notifier import Notifier, NotifyConfig
from services.notify.phones import mobile_e164
from services.notify.settings import NotifySettings

SERVICE = "notify"
VERSION = "1.0.0"


def make_provider(settings: NotifySettings, db: Any) -> SmsProvider:
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
        inbox_offset_store=Cursors(db, f"file-inbox:{settings.sms_inbox_path}"),
    )


def notify_config(settings: NotifySettings) -> NotifyConfig:
    return NotifyConfig(
        stale_after=settings.stale_after,
        quiet=settings.quiet_hours,
        retry=settings.retry_policy,
        lease=timedelta(seconds=settings.sms_lease_seconds),
        poll_seconds=settings.sms_poll_seconds,
        reconcile_seconds=settings.sms_reconcile_seconds,
        status_poll=timedelta(seconds=settings.sms_status_poll_seconds),
        concurrency=settings.sms_sender_concurrency,
        crash_after_submit=settings.sms_test_crash_after_submit,
    )


@dataclass
class Wiring:
    settings: NotifySettings
    broker: KafkaBroker
    publisher: EventPublisher
    client: Any
    notifier: Notifier


def wire(settings: NotifySettings | None = None, cases_topic: str = CASES) -> Wiring:
    """Notify's broker, ledger and consumer; ``cases_topic`` lets a test feed it a private topic."""
    settings = settings or NotifySettings()
    broker = make_broker(settings, SERVICE)
    publisher = EventPublisher(broker, SERVICE, [SmsSent, SmsDelivered, SmsFailed])
    client = make_client(settings.mongo_url, SERVICE)
    db = client[settings.db_name]

    async def publish(events: list[Envelope]) -> None:
        await publisher.publish(events)

    notifier = Notifier(
        ledger=Ledger(db),
        contacts=Contacts(db),
        optouts=OptOuts(db),
        provider=make_provider(settings, db),
        templates=load_templates(settings.sms_template_path),
        publish=publish,
        config=notify_config(settings),
        limiter=TokenBucket(settings.sms_rate_per_second, settings.sms_rate_burst),
    )
    subscribe_events(
        broker,
        publisher,
        settings,
        topics=[cases_topic],
        group=settings.group(SERVICE),
        handler=notifier.handle,
        wanted=lambda e: e.type in CITIZEN_FACING_TYPES,
        description="Citizen-facing case events (registered, routed, status changes) become SMS ledger records",
    )
    return Wiring(settings, broker, publisher, client, notifier)


class OptOutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(description="The citizen's mobile number (09..., +98..., Persian digits accepted)")
    reason: str = Field(default="", max_length=500)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        e164 = mobile_e164(value)
        if e164 is None:
            raise invalid("mobile", "Not an Iranian mobile number", "شمارهٔ تلفن همراه معتبر نیست")
        return e164


def _phone_or_422(raw: str) -> str:
    e164 = mobile_e164(raw)
    if e164 is None:
        raise ProblemError(
            422,
            "validation",
            "درخواست نامعتبر است",
            "The request is invalid",
            "فیلدهای نادرست: phone",
            "Invalid fields: phone",
            errors=[
                {
                    "field": "phone",
                    "code": "mobile",
                    "message": "شمارهٔ تلفن همراه معتبر نیست",
                    "message_en": "Not an Iranian mobile number",
                }
            ],
        )
    return e164


def _optout_view(doc: dict[str, Any] | None, phone: str) -> dict[str, Any]:
    if doc is None:
        return {"phone": phone, "opted_out": False}
    return {
        "phone": phone,
        "opted_out": bool(doc.get("opted_out")),
        "source": doc.get("source"),
        "by": doc.get("by"),
        "reason": doc.get("reason"),
        "updated_at": doc.get("updated_at"),
    }


def _sms_view(doc: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "case_id",
        "source_event_id",
        "source_event_type",
        "template",
        "recipient",
        "text",
        "parts",
        "state",
        "provider",
        "provider_message_ids",
        "claims",
        "not_before",
        "error",
        "replay_run",
        "created_at",
        "updated_at",
        "history",
    )
    return {"sms_id": doc["_id"], **{k: doc.get(k) for k in keep}}


def create_app() -> FastAPI:
    w = wire()
    settings, notifier = w.settings, w.notifier

    async def startup() -> None:
        await notifier.ledger.setup()

    async def shutdown() -> None:
        await w.client.close()

    async def mongo_ready() -> bool:
        await w.client.admin.command("ping")
        return True

    app = create_web_app(
        title="SAMAD-111 notify",
        description="Persian SMS to citizens about their cases, sent once and only once.",
        version=VERSION,
        broker=w.broker,
        on_startup=startup,
        on_shutdown=shutdown,
        # The senders and the reconciler publish sms.* events: they start once the broker is connected.
        after_startup=notifier.start,
        before_shutdown=notifier.stop,
        readiness={"mongodb": mongo_ready, "sms_provider": notifier.provider.ready},
        require_assignment=settings.ready_requires_assignment,
    )
    app.state.notifier = notifier

    staff = require(Role.supervisor, Role.ops, Role.operator)
    managers = require(Role.supervisor, Role.ops)

    @app.post("/v1/optouts", tags=["opt-out"], summary="Stop SMS to a citizen's number")
    async def opt_out(body: OptOutRequest, principal: Principal = staff) -> dict[str, Any]:
        doc = await notifier.set_opt_out(body.phone, True, by=principal.subject, reason=body.reason)
        return _optout_view(doc, body.phone)

    @app.delete("/v1/optouts/{phone}", tags=["opt-out"], summary="Send SMS to this number again")
    async def opt_in(phone: str, principal: Principal = managers) -> dict[str, Any]:
        e164 = _phone_or_422(phone)
        doc = await notifier.set_opt_out(e164, False, by=principal.subject, reason="opted back in")
        return _optout_view(doc, e164)

    @app.get("/v1/optouts/{phone}", tags=["opt-out"], summary="Whether a number receives SMS")
    async def opt_out_status(phone: str, _principal: Principal = staff) -> dict[str, Any]:
        e164 = _phone_or_422(phone)
        return _optout_view(await notifier.optouts.get(e164), e164)

    @app.get("/v1/sms", tags=["ledger"], summary="The SMS ledger: what was sent, to whom, and how it ended")
    async def ledger(
        _principal: Principal = managers,
        case_id: Annotated[str | None, Query(max_length=100)] = None,
        state: Annotated[SmsState | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        docs = await notifier.ledger.list(case_id=case_id, state=state.value if state else None, limit=limit)
        return {"items": [_sms_view(d) for d in docs]}

    return app


def asyncapi() -> FastStream:
    return FastStream(
        wire().broker,
        specification=AsyncAPI(title="SAMAD-111 notify", version=VERSION),
    )
