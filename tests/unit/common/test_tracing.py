"""Traces across the Kafka hop, kept in the events themselves, driven through FastStream's TestKafkaBroker
with an in-memory span exporter (the real receiver is exercised by tests/e2e/test_trace.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Sequence

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from faststream.kafka import KafkaMessage, TestKafkaBroker
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from contracts.events import (
    Actor,
    ActorKind,
    CaseNoteAdded,
    CaseRegistered,
    Citizen,
    Envelope,
    decode,
    make_event,
)
from contracts.headers import REPLAY_RUN, TRACEPARENT
from contracts.topics import CASES
from services.common import tracing
from services.common.kafka import EventPublisher, Incoming, make_broker, subscribe_events
from services.common.logs import JsonFormatter, MaskingFilter
from services.common.settings import ServiceSettings

OPS = Actor(kind=ActorKind.ops, id="t")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider)
    try:
        yield exporter
    finally:
        tracing.activate(None)


@pytest.fixture
def settings() -> ServiceSettings:
    return ServiceSettings(consumer_max_attempts=1, consumer_retry_seconds=0.2)


def registered(case_id: str, phone: str = "+989121234567") -> Envelope:
    return make_event(
        CaseRegistered.model_validate(
            {
                "case_id": case_id,
                "tracking_code": "3714798763",
                "county": "mashhad",
                "citizen": Citizen(phone=phone),
                "subject": "قطعی آب",
                "description": "آب محله قطع است",
                "registered_at": "2026-03-10T09:30:00+03:30",
            }
        ),
        source="/samad/test",
    )


def note_on(cause: Envelope, text: str = "seen") -> Envelope:
    return make_event(
        CaseNoteAdded(case_id=cause.subject, text=text, actor=OPS), source="/samad/test", cause=cause
    )


def named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def hexid(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


async def test_the_case_trace_crosses_the_kafka_hop_inside_the_event(
    spans: InMemorySpanExporter, settings: ServiceSettings
) -> None:
    """Published in a request's span, handled in the consumer as a child of the publish span, in the
    same trace; what the handler publishes because of it continues that trace, even in a batch."""
    broker = make_broker(settings, "unit")
    publisher = EventPublisher(broker, "unit", [CaseRegistered, CaseNoteAdded])
    raw: list[bytes] = []

    async def handler(batch: Sequence[Incoming]) -> None:
        caused = [note_on(item.event) for item in batch if item.event.type == CaseRegistered.event_type]
        await publisher.publish(caused)

    subscribe_events(broker, publisher, settings, topics=[CASES], group="unit.trace", handler=handler)

    @broker.subscriber(CASES, group_id="unit.watch")
    async def watch(msg: KafkaMessage) -> None:
        raw.append(msg.body)

    first, second = registered("case-t1"), registered("case-t2")
    async with TestKafkaBroker(broker):
        with trace.get_tracer("test", tracer_provider=tracing._provider).start_as_current_span(
            "POST /v1/cases"
        ):
            await publisher.publish([first, second])

    published = {decode(body).subject + ":" + decode(body).type: decode(body) for body in raw}
    request = named(spans, "POST /v1/cases")[0]
    assert all(e.traceparent for e in published.values())
    handles = {s.attributes[tracing.CASE_ID]: s for s in named(spans, "unit handle case.registered")}
    assert set(handles) == {"case-t1", "case-t2"}
    for case_id, handle in handles.items():
        event = published[f"{case_id}:{CaseRegistered.event_type}"]
        # the handler's span is in the request's trace, under the publish span the event names
        assert hexid(handle) == hexid(request)
        assert handle.parent is not None and event.traceparent is not None
        assert format(handle.parent.span_id, "016x") == event.traceparent.split("-")[2]
        assert handle.attributes[tracing.TRACKING_CODE] == "3714798763"
        # the note it caused goes out in the same trace, under this handler's span
        note = published[f"{case_id}:{CaseNoteAdded.event_type}"]
        publish_note = next(
            s
            for s in named(spans, "unit publish case.note_added")
            if s.attributes[tracing.CASE_ID] == case_id
        )
        assert hexid(publish_note) == hexid(request)
        assert publish_note.parent is not None and handle.context is not None
        assert publish_note.parent.span_id == handle.context.span_id
        assert note.traceparent is not None and note.traceparent.split("-")[1] == hexid(request)
    batches = named(spans, "unit.trace process")
    assert batches and all(b.kind == trace.SpanKind.CONSUMER for b in batches)
    # no phone number on any span
    dumped = json.dumps([dict(s.attributes or {}) for s in spans.get_finished_spans()], ensure_ascii=False)
    assert "9121234567" not in dumped


async def test_a_replayed_copy_starts_a_new_trace_linked_to_the_original(
    spans: InMemorySpanExporter, settings: ServiceSettings
) -> None:
    broker = make_broker(settings, "unit")
    publisher = EventPublisher(broker, "unit", [CaseRegistered])
    seen: list[Envelope] = []

    async def handler(batch: Sequence[Incoming]) -> None:
        seen.extend(item.event for item in batch)

    subscribe_events(broker, publisher, settings, topics=[CASES], group="unit.replay", handler=handler)
    original = registered("case-r1").model_copy(
        update={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    )
    run = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with TestKafkaBroker(broker) as test:
        await test.publish(original.to_json(), CASES, key=original.key, headers={REPLAY_RUN: "replay-1"})
        await test.publish(
            original.to_json(), CASES, key=original.key, headers={REPLAY_RUN: "replay-2", TRACEPARENT: run}
        )

    assert [e.traceparent for e in seen] == [original.traceparent] * 2  # the value is kept as it was
    first, second = named(spans, "unit handle case.registered")
    for span in (first, second):
        assert hexid(span) != "4bf92f3577b34da6a3ce929d0e0e4736"
        replayed_from = [
            link for link in span.links if (link.attributes or {}).get("samad.link") == "replay of"
        ]
        assert [format(link.context.trace_id, "032x") for link in replayed_from] == [
            "4bf92f3577b34da6a3ce929d0e0e4736"
        ]
    assert first.parent is None  # no run named: a root
    assert hexid(second) == "0af7651916cd43dd8448eb211c80319c"  # the replay run's trace
    assert second.attributes[tracing.REPLAY_RUN] == "replay-2"


async def test_a_dead_lettered_event_marks_its_span(
    spans: InMemorySpanExporter, settings: ServiceSettings
) -> None:
    broker = make_broker(settings, "unit")
    publisher = EventPublisher(broker, "unit", [CaseRegistered])

    async def handler(batch: Sequence[Incoming]) -> None:
        raise RuntimeError("handler bug")

    subscribe_events(broker, publisher, settings, topics=[CASES], group="unit.dlq", handler=handler)
    async with TestKafkaBroker(broker):
        await publisher.publish([registered("case-d1")])

    (handle,) = named(spans, "unit handle case.registered")
    assert handle.status.status_code is StatusCode.ERROR
    assert "handler_failed" in (handle.status.description or "")
    assert [e.name for e in handle.events] == ["dead-lettered"]


async def test_with_tracing_off_events_carry_no_trace_context(settings: ServiceSettings) -> None:
    assert not tracing.enabled()
    broker = make_broker(settings, "unit")
    publisher = EventPublisher(broker, "unit", [CaseRegistered])
    raw: list[bytes] = []

    @broker.subscriber(CASES)
    async def watch(msg: KafkaMessage) -> None:
        raw.append(msg.body)

    event = registered("case-o1")
    async with TestKafkaBroker(broker):
        await publisher.publish([event])
    assert raw == [event.to_json()]


def test_phone_numbers_in_urls_are_masked_on_server_spans(spans: InMemorySpanExporter) -> None:
    app = FastAPI()

    @app.get("/v1/optouts/{phone}")
    async def optout(phone: str) -> dict[str, str]:
        return {"ok": "yes"}

    tracing.instrument_app(app)
    with TestClient(app) as client:
        assert client.get("/v1/optouts/+989121234567", params={"phone": "09151234567"}).status_code == 200
        client.get("/healthz")
    (server,) = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert server.name == "GET /v1/optouts/{phone}"
    values = " ".join(str(v) for v in (server.attributes or {}).values())
    assert "/v1/optouts/" in values
    assert "9121234567" not in values and "9151234567" not in values
    assert "***" in values


def test_json_log_lines_name_their_trace_and_span(spans: InMemorySpanExporter) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("samad.test.tracing")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with tracing.span("work") as current:
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    ctx = current.get_span_context()
    assert inside["trace_id"] == format(ctx.trace_id, "032x")
    assert inside["span_id"] == format(ctx.span_id, "016x")
    assert "trace_id" not in outside


async def test_in_a_batch_of_several_what_an_event_causes_joins_that_events_trace(
    spans: InMemorySpanExporter, settings: ServiceSettings
) -> None:
    """With several events in hand the batch's span is current, yet an event published because of one
    of them continues that event's trace, not the batch's."""
    broker = make_broker(settings, "unit")
    publisher = EventPublisher(broker, "unit", [CaseNoteAdded])
    a = registered("case-b1").model_copy(
        update={"traceparent": "00-11111111111111111111111111111111-1111111111111111-01"}
    )
    b = registered("case-b2").model_copy(
        update={"traceparent": "00-22222222222222222222222222222222-2222222222222222-01"}
    )
    items = [tracing.Handled(a, CASES, 0, 1), tracing.Handled(b, CASES, 0, 2)]
    async with TestKafkaBroker(broker):
        with tracing.consuming("unit", "unit.batch", items):
            assert hexid_of_current() not in {"1" * 32, "2" * 32}  # the batch's own trace
            await publisher.publish([note_on(b)])
    (published,) = named(spans, "unit publish case.note_added")
    assert hexid(published) == "2" * 32
    handle_b = next(s for s in named(spans, "unit handle") if s.attributes[tracing.CASE_ID] == "case-b2")
    assert published.parent is not None and handle_b.context is not None
    assert published.parent.span_id == handle_b.context.span_id
    (batch,) = named(spans, "unit.batch process")
    assert {format(link.context.trace_id, "032x") for link in batch.links} == {"1" * 32, "2" * 32}


def hexid_of_current() -> str:
    return format(trace.get_current_span().get_span_context().trace_id, "032x")


def test_database_spans_are_made_only_inside_a_trace(spans: InMemorySpanExporter) -> None:
    """A background poll's database call starts no trace of its own; one inside a trace is its child."""
    assert tracing._provider is not None
    tracer = tracing._InTraceOnly(tracing._provider).get_tracer("pymongo")
    outside = tracer.start_span("db.find")
    outside.end()
    with tracing.span("handle") as parent:
        inside = tracer.start_span("db.find")
        inside.end()
    names = [s.name for s in spans.get_finished_spans()]
    assert names == ["db.find", "handle"]
    (db,) = named(spans, "db.find")
    assert db.parent is not None and db.parent.span_id == parent.get_span_context().span_id
