"""One trace from the operator's click to the citizen's SMS, read back from the local receiver (Jaeger v2,
the test profile's, started by `stack.py start-jaeger`) through its own query API.

The four services run as processes with tracing on. The POST carries a traceparent, as the console's
call does when the operator submits the desk's form: the case's trace is that trace, and it holds the
spans of intake, routing, tracking and notify, down to the SMS gateway call, each naming the case.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.auth import Role
from services.ops.adapters.traces import JaegerTraces
from services.ops.service.trace_case import TraceCase
from tests.support import stack as test_stack
from tests.support.identity import token as issue_token
from tests.support.processes import ServiceProcess, free_port, log_dir

SERVICES = ("intake", "routing", "tracking", "notify")
PHONE_DIGITS = "9151239876"


@pytest.fixture(scope="module")
def jaeger() -> dict[str, str]:
    return test_stack.jaeger()


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, jaeger: dict[str, str]
) -> Iterator[dict[str, ServiceProcess]]:
    run = f"trace{int(time.time() * 1000) % 10**9}"
    outbox = tmp_path_factory.mktemp("sms") / "outbox.jsonl"
    ports = {name: free_port() for name in SERVICES}
    common = {
        "SAMAD_CONSUMER_GROUP_PREFIX": run,
        "SAMAD_CONSUMER_OFFSET_RESET": "latest",
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        "SAMAD_TRACKING_URL": f"http://127.0.0.1:{ports['tracking']}",
        "SAMAD_SMS_FILE_PATH": str(outbox),
        "SAMAD_SMS_INBOX_PATH": str(outbox.with_name("inbox.jsonl")),
        "SAMAD_OTLP_ENDPOINT": jaeger["otlp_endpoint"],
        "SAMAD_LOG_JSON": "true",
        # Export spans every 200 ms rather than every 5 s, so the test does not wait for them.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    procs = {
        name: ServiceProcess(name, ports[name], {**common, "SAMAD_DB_NAME": f"{run}_{name}"}, log_dir())
        for name in SERVICES
    }
    try:
        for proc in procs.values():
            proc.start(wait_ready=False)
        for proc in procs.values():
            proc.wait_ready(timeout=90)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def _trace(query_url: str, trace_id: str) -> dict[str, Any] | None:
    reply = httpx.get(f"{query_url}/api/traces/{trace_id}", timeout=5)
    if reply.status_code != 200:
        return None
    data = reply.json().get("data") or []
    return data[0] if data else None


def _spans_by_service(trace: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    found: dict[str, list[dict[str, Any]]] = {}
    for span in trace["spans"]:
        found.setdefault(services[span["processID"]], []).append(span)
    return found


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


def _complete(trace: dict[str, Any] | None) -> bool:
    """The whole way: every service's spans, the SMS sent through the gateway and tracking told so."""
    if trace is None:
        return False
    names = {span["operationName"] for span in trace["spans"]}
    return (
        set(SERVICES) <= set(_spans_by_service(trace))
        and {
            "notify send sms",
            "sms gateway submit (file)",
            "tracking handle sms.sent",
        }
        <= names
    )


def test_one_trace_from_the_operators_click_to_the_citizens_sms(
    platform: dict[str, ServiceProcess], jaeger: dict[str, str]
) -> None:
    operator = issue_token(Role.operator, sub="op-trace")
    trace_id = secrets.token_hex(16)
    answer = httpx.post(
        platform["intake"].url + "/v1/cases",
        headers={
            "Authorization": f"Bearer {operator}",
            "Idempotency-Key": f"trace-{time.time_ns()}",
            # what the console's httpx client sends when the operator submits the desk's form
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        },
        json={
            "phone": f"0{PHONE_DIGITS}",
            "county": "mashhad",
            "subject": "قطعی آب",
            "description": "سه روز است آب لوله‌کشی محله ما قطع است و شرکت آب و فاضلاب پاسخگو نیست.",
        },
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    case_id, code = answer.json()["case_id"], answer.json()["tracking_code"]

    trace = None
    deadline = time.monotonic() + 60
    while not _complete(trace) and time.monotonic() < deadline:
        time.sleep(0.5)
        trace = _trace(jaeger["query_url"], trace_id)
    assert trace is not None and _complete(trace), (
        json.dumps(sorted({s["operationName"] for s in (trace or {}).get("spans", [])}), ensure_ascii=False)
        + "\n"
        + "\n".join(p.log_tail(10) for p in platform.values())
    )

    by_service = _spans_by_service(trace)
    for service in SERVICES:
        named = [s for s in by_service[service] if _tags(s).get("samad.case_id") == case_id]
        assert named, f"no {service} span names case {case_id}"
    names = {s["operationName"] for s in trace["spans"]}
    assert {
        "POST /v1/cases",
        "intake publish case.registered",
        "routing handle case.registered",
        "routing publish case.routed",
        "tracking handle case.registered",
        "tracking handle case.routed",
        "notify handle case.registered",
    } <= names
    registered = next(s for s in trace["spans"] if s["operationName"] == "intake publish case.registered")
    assert _tags(registered)["samad.tracking_code"] == code
    # MongoDB calls are spans of the trace too
    assert any(_tags(s).get("db.system") == "mongodb" for s in by_service["intake"])
    # the SMS span is a child in the same trace of notify's handling of the event that asked for it
    send = next(s for s in trace["spans"] if s["operationName"] == "notify send sms")
    parents = {r["spanID"] for r in send["references"] if r["refType"] == "CHILD_OF"}
    handles = {s["spanID"]: s["operationName"] for s in by_service["notify"]}
    assert {handles.get(p, "") for p in parents} <= {
        "notify handle case.registered",
        "notify handle case.routed",
    }
    # no phone number anywhere in the trace
    assert PHONE_DIGITS not in json.dumps(trace, ensure_ascii=False)

    # `samad trace <tracking code>` finds the same trace through the same API
    async def by_code() -> list[str]:
        store = JaegerTraces(jaeger["query_url"])
        try:
            return [t.trace_id for t in await TraceCase(store, lookback_hours=1)(code)]
        finally:
            await store.close()

    import asyncio

    assert trace_id in asyncio.run(by_code())

    # JSON log lines written while the case went through name the trace
    logs = "\n".join(Path(p.log_path).read_text(errors="replace") for p in platform.values())
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line.get("trace_id") == trace_id for line in lines), "no log line names the trace"
