"""The four services as separate processes, the way `make up` runs them: one POST on intake becomes a
case routed by routing, tracked by tracking, and a Persian SMS written by notify and shown on the
case's timeline."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.persian import to_persian_digits
from services.common.auth import Role
from tests.support.identity import token as issue_token
from tests.support.processes import ServiceProcess, free_port, log_dir

SERVICES = ("intake", "routing", "tracking", "notify")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    run = f"e2e{int(time.time() * 1000) % 10**9}"
    outbox = tmp_path_factory.mktemp("sms") / "outbox.jsonl"
    ports = {name: free_port() for name in SERVICES}
    common = {
        "SAMAD_CONSUMER_GROUP_PREFIX": run,
        "SAMAD_CONSUMER_OFFSET_RESET": "latest",
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        "SAMAD_TRACKING_URL": f"http://127.0.0.1:{ports['tracking']}",
        "SAMAD_SMS_FILE_PATH": str(outbox),
        "SAMAD_SMS_INBOX_PATH": str(outbox.with_name("inbox.jsonl")),
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


def _outbox(procs: dict[str, ServiceProcess]) -> Path:
    return Path(procs["notify"].env["SAMAD_SMS_FILE_PATH"])


def test_one_post_is_routed_tracked_and_texted(platform: dict[str, ServiceProcess]) -> None:
    operator = issue_token(Role.operator, sub="op-e2e")
    supervisor = issue_token(Role.supervisor, sub="sup-e2e")
    started = time.monotonic()
    answer = httpx.post(
        platform["intake"].url + "/v1/cases",
        headers={"Authorization": f"Bearer {operator}", "Idempotency-Key": f"e2e-{time.time_ns()}"},
        json={
            "phone": "۰۹۱۵ ۱۲۳ ۴۵۶۷",
            "county": "mashhad",
            "subject": "قطعی آب",
            "description": "سه روز است آب لوله‌کشی محله ما قطع است و شرکت آب و فاضلاب پاسخگو نیست.",
        },
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    case_id, code = body["case_id"], body["tracking_code"]

    def tracked() -> dict | None:
        r = httpx.get(
            f"{platform['tracking'].url}/v1/cases/{code}",
            headers={"Authorization": f"Bearer {supervisor}"},
            timeout=5,
        )
        if r.status_code != 200:
            return None
        doc = r.json()
        types = [e.get("type", "") for e in doc.get("timeline", [])]
        routed = doc.get("agency") == "water_wastewater"
        texted = any(t.endswith("sms.sent") for t in types)
        return doc if routed and texted else None

    doc = None
    deadline = time.monotonic() + 30
    while doc is None and time.monotonic() < deadline:
        doc = tracked()
        if doc is None:
            time.sleep(0.1)
    elapsed = time.monotonic() - started
    assert doc is not None, "\n".join(p.log_tail(20) for p in platform.values())
    print(f"\ncase {case_id} routed, tracked and texted {elapsed:.2f}s after the POST")
    assert doc["case_id"] == case_id
    assert doc["tracking_code"] == code
    assert doc["status"] in ("routed", "in_progress")

    # The SMS the citizen got: Persian, to the E.164 number, carrying the tracking code in Persian digits.
    lines = [json.loads(line) for line in _outbox(platform).read_text(encoding="utf-8").splitlines()]
    # By now the routing SMS may have gone out too (it carries the code as well); none goes out twice.
    mine = [m for m in lines if to_persian_digits(code) in m["text"]]
    assert len({m["sms_id"] for m in mine}) == len(mine), mine
    assert len([m for m in mine if "ثبت شد" in m["text"]]) == 1, mine
    assert all(m["to"] == "+989151234567" for m in mine)
    sent = [e for e in doc["timeline"] if e.get("type", "").endswith("sms.sent")]
    assert 1 <= len(sent) <= len(mine)


def test_the_same_post_retried_registers_nothing_new(platform: dict[str, ServiceProcess]) -> None:
    operator = issue_token(Role.operator, sub="op-e2e")
    key = f"e2e-retry-{time.time_ns()}"
    body = {
        "phone": "09151234568",
        "county": "neyshabur",
        "subject": "مستمری",
        "description": "مستمری بازنشستگی پدرم دو ماه است از تامین اجتماعی واریز نشده است.",
    }
    headers = {"Authorization": f"Bearer {operator}", "Idempotency-Key": key}
    first = httpx.post(platform["intake"].url + "/v1/cases", headers=headers, json=body, timeout=10)
    second = httpx.post(platform["intake"].url + "/v1/cases", headers=headers, json=body, timeout=10)
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json() == first.json()
    changed = httpx.post(
        platform["intake"].url + "/v1/cases",
        headers=headers,
        json={**body, "description": body["description"] + " فوری"},
        timeout=10,
    )
    assert changed.status_code == 409
    assert changed.headers["content-type"].startswith("application/problem+json")
