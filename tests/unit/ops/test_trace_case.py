"""`samad trace`: a case's traces read from the receiver's JSON, found by tracking code or case id."""

from __future__ import annotations

from typing import Any

import pytest

from services.ops.adapters.traces import InMemoryTraces, TracesUnavailable
from services.ops.domain.traces import read_traces
from services.ops.service.trace_case import TraceCase


def span(
    trace: str, sid: str, parent: str | None, process: str, name: str, start: int, **tags: Any
) -> dict[str, Any]:
    return {
        "traceID": trace,
        "spanID": sid,
        "operationName": name,
        "references": [{"refType": "CHILD_OF", "traceID": trace, "spanID": parent}] if parent else [],
        "startTime": start,
        "duration": 1000,
        "tags": [{"key": k, "type": "string", "value": v} for k, v in tags.items()],
        "processID": process,
    }


PROCESSES = {
    p: {"serviceName": p.removeprefix("p-")} for p in ("p-intake", "p-routing", "p-tracking", "p-notify")
}
REGISTRATION = {
    "traceID": "t1",
    "processes": PROCESSES,
    "spans": [
        span("t1", "a", None, "p-intake", "POST /v1/cases", 100),
        span(
            "t1",
            "b",
            "a",
            "p-intake",
            "intake publish case.registered",
            200,
            **{"samad.case_id": "case-9", "samad.tracking_code": "3714798763"},
        ),
        span(
            "t1", "c", "b", "p-routing", "routing handle case.registered", 300, **{"samad.case_id": "case-9"}
        ),
        span("t1", "d", "b", "p-notify", "notify handle case.registered", 310, **{"samad.case_id": "case-9"}),
        span("t1", "e", "d", "p-notify", "notify send sms", 400, **{"samad.case_id": "case-9"}),
        span("t1", "f", "e", "p-notify", "sms gateway submit (file)", 410, error=True),
    ],
}
BREACH = {
    "traceID": "t2",
    "processes": PROCESSES,
    "spans": [
        span(
            "t2",
            "x",
            None,
            "p-tracking",
            "tracking publish case.sla_breached",
            5000,
            **{"samad.case_id": "case-9"},
        )
    ],
}
OTHER = {
    "traceID": "t3",
    "processes": PROCESSES,
    "spans": [
        span("t3", "y", None, "p-intake", "intake publish case.registered", 50, **{"samad.case_id": "case-1"})
    ],
}


def store() -> InMemoryTraces:
    return InMemoryTraces(read_traces({"data": [BREACH, REGISTRATION, OTHER]}))


def test_a_trace_reads_into_a_tree_in_order() -> None:
    (trace,) = read_traces({"data": [REGISTRATION]})
    assert trace.services == {"intake", "routing", "notify"}
    walked = [(depth, s.name) for depth, s in trace.walk()]
    assert walked == [
        (0, "POST /v1/cases"),
        (1, "intake publish case.registered"),
        (2, "routing handle case.registered"),
        (2, "notify handle case.registered"),
        (3, "notify send sms"),
        (4, "sms gateway submit (file)"),
    ]
    assert [s.name for s in trace.spans if s.error] == ["sms gateway submit (file)"]


@pytest.mark.parametrize("asked", ["3714798763", "۳۷۱۴۷۹۸۷۶۳", "case-9"])
async def test_every_trace_of_a_case_by_tracking_code_or_case_id(asked: str) -> None:
    traces = await TraceCase(store())(asked)
    assert [t.trace_id for t in traces] == ["t1", "t2"]  # oldest first, the other case's left out


async def test_an_unknown_case_has_no_trace() -> None:
    assert await TraceCase(store())("1111111111") == []


async def test_a_receiver_that_does_not_answer_says_so() -> None:
    down = store()
    down.available = False
    with pytest.raises(TracesUnavailable):
        await TraceCase(down)("case-9")
