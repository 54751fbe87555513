"""A replay run is a trace of its own: each copy names the run's span in a Kafka header, its value kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.headers import REPLAY_RUN, TRACEPARENT
from services.common import tracing
from services.ops.domain.records import RawRecord
from services.ops.service.replay import replay_headers

ORIGINAL = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
RECORD = RawRecord(
    topic="samad.cases.v1",
    partition=1,
    offset=7,
    timestamp=0,
    timestamp_type=0,
    key=b"case-1",
    value=b"{}",
    headers=(("content-type", b"application/cloudevents+json"), (TRACEPARENT, ORIGINAL.encode())),
)


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


def test_a_copy_names_the_replay_runs_span(spans: InMemorySpanExporter) -> None:
    with tracing.span("ops replay publish") as run:
        headers = dict(replay_headers(RECORD, "replay-1"))
    ctx = run.get_span_context()
    assert headers[REPLAY_RUN] == b"replay-1"
    assert headers[TRACEPARENT].decode().split("-")[1:3] == [
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
    ]


def test_without_tracing_a_copy_carries_no_trace_header() -> None:
    headers = dict(replay_headers(RECORD, "replay-1"))
    assert TRACEPARENT not in headers  # nor the original's header: the run's trace or none
    assert headers["content-type"] == b"application/cloudevents+json"
