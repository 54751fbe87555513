"""Distributed tracing with OpenTelemetry: one trace from the operator's click to the citizen's SMS.

Off unless ``SAMAD_OTLP_ENDPOINT`` names an OTLP/HTTP receiver; then every service process exports its
spans there (``setup_tracing``, called by ``services.common.run.serve``) and:

- HTTP: FastAPI (server) and httpx (client) spans carry the W3C trace context in ``traceparent``
  headers, so the console's call to intake continues the operator's trace;
- MongoDB: one span per command (PyMongo's command monitoring; statements are not recorded: they hold
  phone numbers and complaint text);
- Kafka: the trace context travels inside each CloudEvent (the distributed-tracing extension's
  ``traceparent`` and ``tracestate``), stamped by ``EventPublisher`` on a span per published event.
  A consumer makes one span per fetched batch (a trace of its own, linked to every event in it) and one
  span per handled event, in the event's own trace: the case's trace goes on through every service.
  A replayed copy starts a new trace linked to the original.

Attributes name the case (``samad.case_id``), its tracking code (``samad.tracking_code``), the event
and the SMS, never a phone number; URLs are masked as log lines are (``services.common.logs``).

With tracing off, nothing here does any work beyond a flag check, and events carry no trace context:
the envelope stays byte for byte what it was before the extension existed.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from contracts.events import TYPE_PREFIX, Envelope
from services.common.logs import mask_text

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider

    from services.common.settings import ServiceSettings

log = logging.getLogger("samad.tracing")

CASE_ID = "samad.case_id"
TRACKING_CODE = "samad.tracking_code"
EVENT_ID = "samad.event.id"
EVENT_TYPE = "samad.event.type"
REPLAY_RUN = "samad.replay.run"
SMS_ID = "samad.sms.id"

# Span attributes that may hold a URL with a phone number in its path or query (old and new HTTP
# semantic conventions): masked as they are recorded.
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.path", "url.query")
# How many handled events' span contexts a process keeps, to parent what those events cause (events
# published later, SMS sent by a worker) on the right trace.
RECENT_CONTEXTS = 20_000
# What a consumer span's links hold at most (the SDK's default limit).
MAX_LINKS = 128

_propagator = TraceContextTextMapPropagator()
_tracer: trace.Tracer = trace.NoOpTracer()
_provider: TracerProvider | None = None


def enabled() -> bool:
    """Whether this process records spans (``setup_tracing`` found an OTLP endpoint)."""
    return _provider is not None


def activate(provider: TracerProvider | None) -> None:
    """Record this module's spans with ``provider`` (None: tracing off). ``setup_tracing`` calls it with
    the exporting provider; tests call it with one that keeps spans in memory."""
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer("samad") if provider is not None else trace.NoOpTracer()


def setup_tracing(service: str, settings: ServiceSettings) -> bool:
    """Export this process's spans to ``settings.otlp_endpoint`` and instrument PyMongo and httpx.

    Call before any MongoDB or HTTP client is made (PyMongo's listeners apply to clients made after).
    Returns whether tracing is on."""
    if not settings.otlp_endpoint or enabled():
        return enabled()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": "samad",
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
        }
    )
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.tracing_sample_ratio))
    )
    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=5)))
    if settings.zipkin_endpoint:
        # A second copy of every span for a receiver with a web UI (the local stack's Zipkin).
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        zipkin = settings.zipkin_endpoint.rstrip("/") + "/api/v2/spans"
        provider.add_span_processor(BatchSpanProcessor(ZipkinExporter(endpoint=zipkin, timeout=5)))
        log.info("tracing: spans of %s also go to %s", service, zipkin)
    trace.set_tracer_provider(provider)
    activate(provider)
    # MongoDB spans only inside a trace: a background poll's commands (notify's scanner, tracking's
    # timers) would otherwise each start a trace of their own, costing a span a poll and saying nothing.
    PymongoInstrumentor().instrument(tracer_provider=_InTraceOnly(provider))
    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider, request_hook=_mask_client_url, async_request_hook=_amask_client_url
    )
    log.info("tracing on: spans of %s go to %s", service, endpoint)
    return True


class _InTraceOnly(trace.TracerProvider):
    """Tracers that make a span only under a current span, never a new root."""

    def __init__(self, inner: trace.TracerProvider) -> None:
        self._inner = inner

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _InTraceOnlyTracer(self._inner.get_tracer(*args, **kwargs))


class _InTraceOnlyTracer(trace.Tracer):
    def __init__(self, inner: trace.Tracer) -> None:
        self._inner = inner

    def start_span(
        self, name: str, context: otel_context.Context | None = None, *args: Any, **kwargs: Any
    ) -> Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._inner.start_span(name, context, *args, **kwargs)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, name: str, context: otel_context.Context | None = None, *args: Any, **kwargs: Any
    ) -> Iterator[Span]:
        if not trace.get_current_span(context).get_span_context().is_valid:
            yield trace.INVALID_SPAN
            return
        with self._inner.start_as_current_span(name, context, *args, **kwargs) as current:
            yield current


def instrument_app(app: FastAPI) -> None:
    """Server spans for the app's requests (not for probes and scrapes), when tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls="/healthz,/readyz,/metrics",
        # Not ASGI's per-message "http receive" and "http send" spans: three more spans a request that
        # say nothing the request's own span does not.
        exclude_spans=["receive", "send"],
        server_request_hook=_mask_server_url,
    )


def _mask_url_attributes(span: Span) -> None:
    attributes: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            masked = mask_text(value)
            if masked != value:
                span.set_attribute(key, masked)


def _mask_server_url(span: Span, _scope: dict[str, Any]) -> None:
    if span.is_recording():
        _mask_url_attributes(span)


def _mask_client_url(span: Span, _request: Any) -> None:
    if span.is_recording():
        _mask_url_attributes(span)


async def _amask_client_url(span: Span, request: Any) -> None:
    _mask_client_url(span, request)


# --- the trace context inside an event ---------------------------------------------------------------


def span_context_of(event: Envelope) -> SpanContext | None:
    """The span that published the event, from its ``traceparent`` (None if absent or malformed)."""
    if not event.traceparent:
        return None
    carrier = {"traceparent": event.traceparent}
    if event.tracestate:
        carrier["tracestate"] = event.tracestate
    found = trace.get_current_span(_propagator.extract(carrier)).get_span_context()
    return found if found.is_valid else None


def stamp(event: Envelope, span: Span) -> Envelope:
    """The event carrying ``span``'s trace context (the event as it is when the span records nothing)."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return event
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, trace.set_span_in_context(span))
    return event.model_copy(
        update={"traceparent": carrier.get("traceparent"), "tracestate": carrier.get("tracestate") or None}
    )


def event_attributes(event: Envelope) -> dict[str, str]:
    """What names an event on a span: its id and type, its case and the case's tracking code."""
    attributes = {EVENT_ID: event.id, EVENT_TYPE: event.type}
    case_id = getattr(event.data, "case_id", None)
    if isinstance(case_id, str):
        attributes[CASE_ID] = case_id
    code = getattr(event.data, "tracking_code", None)
    if isinstance(code, str):
        attributes[TRACKING_CODE] = code
    return attributes


def short_type(event_type: str) -> str:
    return event_type.removeprefix(TYPE_PREFIX)


# --- what handled events caused ----------------------------------------------------------------------


class _RecentContexts:
    """The span contexts of the events this process handled lately, by event id (bounded, newest kept)."""

    def __init__(self, size: int = RECENT_CONTEXTS) -> None:
        self.size = size
        self._contexts: OrderedDict[str, SpanContext] = OrderedDict()

    def remember(self, event_id: str, ctx: SpanContext) -> None:
        self._contexts[event_id] = ctx
        self._contexts.move_to_end(event_id)
        while len(self._contexts) > self.size:
            self._contexts.popitem(last=False)

    def get(self, event_id: str | None) -> SpanContext | None:
        return self._contexts.get(event_id) if event_id else None


_handled = _RecentContexts()


def context_of_handled(event_id: str | None) -> otel_context.Context | None:
    """A context whose parent is the span that handled ``event_id`` here, if this process handled it
    lately: what it causes (an event, an SMS sent later by a worker) joins that event's trace."""
    ctx = _handled.get(event_id)
    return trace.set_span_in_context(trace.NonRecordingSpan(ctx)) if ctx is not None else None


@contextmanager
def publishing(event: Envelope, service: str) -> Iterator[Envelope]:
    """A producer span for one event, and the event stamped with it.

    The span's parent is, in this order: the span that handled the event's cause in this process; the
    current span (an HTTP request, a handled event); the trace the event already names (an event
    published again from an outbox)."""
    if _provider is None:
        yield event
        return
    parent = context_of_handled(event.causationid)
    if parent is None and not trace.get_current_span().get_span_context().is_valid:
        own = span_context_of(event)
        if own is not None:
            parent = trace.set_span_in_context(trace.NonRecordingSpan(own))
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.destination.name": event.topic,
        **event_attributes(event),
    }
    with _tracer.start_as_current_span(
        f"{service} publish {short_type(event.type)}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes=attributes,
    ) as span:
        yield stamp(event, span)


# --- consumers -------------------------------------------------------------------------------------


@dataclass
class BatchTrace:
    """The spans of one fetched batch: its own, and one per event (by topic, partition and offset)."""

    batch: Span | None = None
    events: dict[tuple[str, int, int], Span] = field(default_factory=dict)

    def dead_lettered(self, topic: str, partition: int, offset: int, reason: str, error: str) -> None:
        span = self.events.get((topic, partition, offset))
        for target in (span, self.batch):
            if target is not None and target.is_recording():
                target.add_event(
                    "dead-lettered",
                    {"samad.deadletter.reason": reason, "messaging.kafka.offset": offset},
                )
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, f"dead-lettered: {reason}: {mask_text(error)[:200]}"))


_current_batch: ContextVar[BatchTrace | None] = ContextVar("samad_batch_trace", default=None)


def current_batch() -> BatchTrace | None:
    return _current_batch.get()


@dataclass(frozen=True)
class Handled:
    """What a consumer span needs of one event (``services.common.kafka.Incoming`` has it all)."""

    event: Envelope
    topic: str
    partition: int
    offset: int
    replay_run: str | None = None
    replay_traceparent: str | None = None


def _event_parent(item: Handled) -> tuple[otel_context.Context | None, list[Link]]:
    """An event's span continues the trace the event names, except a replayed copy: that starts a new
    trace (the replay run's, when the copy names it), linked to the original."""
    original = span_context_of(item.event)
    if item.replay_run is None:
        if original is None:
            return otel_context.Context(), []  # a root, whatever the current span is
        return trace.set_span_in_context(trace.NonRecordingSpan(original)), []
    links = [Link(original, {"samad.link": "replay of"})] if original is not None else []
    run = None
    if item.replay_traceparent:
        run = trace.get_current_span(_propagator.extract({"traceparent": item.replay_traceparent}))
    if run is not None and run.get_span_context().is_valid:
        return trace.set_span_in_context(run), links
    return otel_context.Context(), links


@contextmanager
def consuming(service: str, group: str, items: Sequence[Handled]) -> Iterator[BatchTrace]:
    """Spans around the handling of one batch: the batch's (current while the batch is handled, with
    its MongoDB calls under it) and one per event in the event's trace. With a batch of one event, the
    event's span is current instead, so its database calls and what it publishes sit in the case's
    trace directly."""
    if _provider is None or not items:
        yield BatchTrace()
        return
    topics = sorted({i.topic for i in items})
    links = [Link(ctx) for i in items[:MAX_LINKS] if (ctx := span_context_of(i.event)) is not None]
    batch_span = _tracer.start_span(
        f"{group} process",
        context=otel_context.Context(),
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": group,
            "messaging.destination.name": ",".join(topics),
            "messaging.batch.message_count": len(items),
        },
    )
    batch_link = Link(batch_span.get_span_context(), {"samad.link": "batch"})
    spans = BatchTrace(batch=batch_span)
    for item in items:
        parent, extra = _event_parent(item)
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": group,
            "messaging.destination.name": item.topic,
            "messaging.destination.partition.id": str(item.partition),
            "messaging.kafka.offset": item.offset,
            **event_attributes(item.event),
        }
        if item.replay_run:
            attributes[REPLAY_RUN] = item.replay_run
        span = _tracer.start_span(
            f"{service} handle {short_type(item.event.type)}",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=[batch_link, *extra],
            attributes=attributes,
        )
        spans.events[(item.topic, item.partition, item.offset)] = span
        _handled.remember(item.event.id, span.get_span_context())
    current = next(iter(spans.events.values())) if len(items) == 1 else batch_span
    token = otel_context.attach(trace.set_span_in_context(current))
    marker = _current_batch.set(spans)
    try:
        yield spans
    except BaseException as exc:
        batch_span.record_exception(exc)
        batch_span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        _current_batch.reset(marker)
        otel_context.detach(token)
        for span in spans.events.values():
            span.end()
        batch_span.end()


def rewound(spans: BatchTrace) -> None:
    """The batch was not finished and will be fetched again."""
    for span in (*spans.events.values(), spans.batch):
        if span is not None and span.is_recording():
            span.set_status(Status(StatusCode.ERROR, "batch rewound: it will be fetched again"))


# --- spans of a use case ---------------------------------------------------------------------------


@contextmanager
def span(
    name: str,
    *,
    cause: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[Span]:
    """A span named ``name``, under the span that handled event ``cause`` here if there is one (work
    a background worker does for an event, such as sending its SMS), else under the current span."""
    if _provider is None:
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span(
        name, context=context_of_handled(cause), kind=kind, attributes=dict(attributes or {})
    ) as current:
        yield current


def current_ids() -> tuple[str, str] | None:
    """The current trace and span ids in hex (for log lines), or None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def traceparent_header() -> tuple[str, bytes] | None:
    """The current span as a Kafka header (``traceparent``), for a tool that republishes raw records."""
    if _provider is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    value = carrier.get("traceparent")
    return ("traceparent", value.encode()) if value else None
