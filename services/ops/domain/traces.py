"""A case's traces as the trace receiver (Jaeger's query API) returns them, read into span trees.

Pure: takes the decoded JSON of ``GET /api/traces`` and ``GET /api/traces/<id>``, returns spans with
their service, parent and attributes, ordered for reading top-down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CASE_ID = "samad.case_id"
TRACKING_CODE = "samad.tracking_code"


@dataclass(frozen=True)
class TraceSpan:
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    start_us: int
    duration_us: int
    attributes: Mapping[str, Any]
    error: bool


@dataclass(frozen=True)
class CaseTrace:
    trace_id: str
    spans: tuple[TraceSpan, ...]
    children: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def services(self) -> frozenset[str]:
        return frozenset(s.service for s in self.spans)

    @property
    def start_us(self) -> int:
        return min(s.start_us for s in self.spans)

    @property
    def duration_us(self) -> int:
        return max(s.start_us + s.duration_us for s in self.spans) - self.start_us

    def roots(self) -> list[TraceSpan]:
        ids = {s.span_id for s in self.spans}
        return sorted((s for s in self.spans if s.parent_id not in ids), key=lambda s: s.start_us)

    def walk(self) -> list[tuple[int, TraceSpan]]:
        """Every span with its depth, parents before children, siblings by start time."""
        by_id = {s.span_id: s for s in self.spans}
        out: list[tuple[int, TraceSpan]] = []

        def visit(span: TraceSpan, depth: int) -> None:
            out.append((depth, span))
            for child in sorted(
                (by_id[c] for c in self.children.get(span.span_id, ())), key=lambda s: s.start_us
            ):
                visit(child, depth + 1)

        for root in self.roots():
            visit(root, 0)
        return out

    def attribute(self, key: str) -> set[str]:
        return {str(s.attributes[key]) for s in self.spans if key in s.attributes}


def _tags(raw: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {str(t["key"]): t.get("value") for t in raw}


def read_trace(doc: Mapping[str, Any]) -> CaseTrace:
    """One trace of Jaeger's JSON (an element of ``data``)."""
    processes = {pid: p.get("serviceName", "?") for pid, p in (doc.get("processes") or {}).items()}
    spans: list[TraceSpan] = []
    children: dict[str, list[str]] = {}
    for raw in doc.get("spans") or []:
        parent = next(
            (r["spanID"] for r in raw.get("references") or [] if r.get("refType") == "CHILD_OF"), None
        )
        attributes = _tags(raw.get("tags") or [])
        span = TraceSpan(
            trace_id=str(raw["traceID"]),
            span_id=str(raw["spanID"]),
            parent_id=parent,
            service=processes.get(raw.get("processID"), "?"),
            name=str(raw.get("operationName", "")),
            start_us=int(raw.get("startTime", 0)),
            duration_us=int(raw.get("duration", 0)),
            attributes=attributes,
            error=attributes.get("error") is True or attributes.get("otel.status_code") == "ERROR",
        )
        spans.append(span)
        if parent is not None:
            children.setdefault(parent, []).append(span.span_id)
    if not spans:
        raise ValueError("a trace without spans")
    return CaseTrace(
        trace_id=spans[0].trace_id,
        spans=tuple(spans),
        children={k: tuple(v) for k, v in children.items()},
    )


def read_traces(reply: Mapping[str, Any]) -> list[CaseTrace]:
    """Every trace of a query API answer, oldest first, each once."""
    found: dict[str, CaseTrace] = {}
    for doc in reply.get("data") or []:
        if doc.get("spans"):
            trace = read_trace(doc)
            found[trace.trace_id] = trace
    return sorted(found.values(), key=lambda t: t.start_us)
