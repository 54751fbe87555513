"""The source document's duty session through the real Kafka into tracking: 110 calls received, 81
answered, 65 cases registered and referred — in the JSON report, the CSV export and `samad report`.

The cases are registered the way the call-log import registers them: today, years after their calls,
each naming its call's start (``call_started_at``); they count in the period of their calls."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from contracts.catalogue import AgencyCode
from contracts.events import (
    CallOutcome,
    CallReceived,
    CaseRegistered,
    CaseRouted,
    Channel,
    Citizen,
    Envelope,
    RouteReason,
    deterministic_id,
    make_event,
)
from contracts.tracking_code import from_seed
from services.common.auth import Role
from services.tracking.domain.calendar import TEHRAN, tehran_day
from tests.integration.tracking.conftest import bearer, publish
from tests.support.kafka import wait_for
from tests.support.processes import ServiceProcess
from tests.support.stack import MONGO, ROOT

SCENARIO = ROOT / "services" / "intake" / "data" / "duty-session-1396-12-08.csv"
SUPERVISOR = bearer(Role.supervisor)


def e164(phone: str) -> str:
    return "+98" + phone.lstrip("0")


def scenario_events(
    path: Path, session: str, tag: str, imported: datetime
) -> tuple[list[Envelope], list[Envelope]]:
    """call.received for every row; case.registered (at ``imported``) and case.routed for every row
    with a complaint."""
    calls: list[Envelope] = []
    cases: list[Envelope] = []
    for row in csv.DictReader(path.open(encoding="utf-8")):
        call_id = f"{tag}-{row['call_ref']}"
        started = datetime.fromisoformat(row["started_at"]).replace(tzinfo=TEHRAN)
        call = CallReceived(
            call_id=call_id,
            county=row["county"] or None,
            caller_phone=e164(row["caller_phone"]) if row["caller_phone"] else None,
            channel=Channel(row["channel"] or "phone"),
            outcome=CallOutcome(row["outcome"]),
            started_at=started,
            duration_seconds=int(row["duration_seconds"]),
            operator_id=row["operator_id"] or None,
            duty_session_id=session,
        )
        calls.append(make_event(call, source="/samad/intake", time=started))
        if not row["subject"]:
            continue
        case_id = deterministic_id("funnel-test", call_id)
        at = imported + timedelta(milliseconds=len(cases))
        registered = CaseRegistered(
            case_id=case_id,
            tracking_code=from_seed(case_id),
            county=row["county"] or "mashhad",
            call_id=call_id,
            citizen=Citizen(
                phone=e164(row["case_phone"] or row["caller_phone"]), name=row["citizen_name"] or None
            ),
            category=row["category"] or None,
            subject=row["subject"],
            description=row["description"],
            operator_id=row["operator_id"] or None,
            duty_session_id=session,
            registered_at=at,
            call_started_at=started,
        )
        routed = CaseRouted(
            case_id=case_id,
            agency=AgencyCode(row["expected_agency"]),
            reason=RouteReason.classifier,
            confidence=0.9,
            duty_session_id=session,
        )
        cases.append(make_event(registered, source="/samad/intake", time=at))
        cases.append(make_event(routed, source="/samad/routing", time=at + timedelta(seconds=1)))
    return calls, cases


async def test_the_duty_session_funnel_is_110_81_65(
    tracking: ServiceProcess, tracking_db: str, unique: str
) -> None:
    session = f"duty-1396-12-08-{unique}"
    imported = datetime.now(UTC)
    calls, cases = scenario_events(SCENARIO, session, unique, imported)
    assert len(calls) == 110 and len(cases) == 130
    await publish(calls + cases)

    async with httpx.AsyncClient(base_url=tracking.url, headers=SUPERVISOR, timeout=10) as client:

        async def funnel() -> dict[str, Any] | None:
            r = await client.get("/v1/reports/funnel", params={"duty_session_id": session})
            doc: dict[str, Any] = r.json()
            done = doc["calls_received"] == 110 and doc["cases_referred"] == 65
            return doc if done else None

        await wait_for(funnel, timeout=90, interval=0.5)
        # The report's four counts are four queries, not one snapshot: a poll can count registrations
        # before a batch of cases lands and referrals after it. Once all cases are in, ask again.
        doc = (await client.get("/v1/reports/funnel", params={"duty_session_id": session})).json()
        assert (
            doc["calls_received"],
            doc["calls_answered"],
            doc["cases_registered"],
            doc["cases_referred"],
        ) == (
            110,
            81,
            65,
            65,
        )
        assert doc["answered_pct"] == 73.6

        # The same day as a period, in either calendar, and its month (the module's database holds
        # only this session): the cases count with their calls, not on the day of the import.
        for first, last in (("1396-12-08", "1396-12-08"), ("1396-12-01", "1396-12-29")):
            by_period = (await client.get("/v1/reports/funnel", params={"from": first, "to": last})).json()
            counted = tuple(by_period[k] for k in ("calls_received", "calls_answered", "cases_registered"))
            assert counted + (by_period["cases_referred"],) == (110, 81, 65, 65), (first, by_period)
            assert by_period["period"]["from_jalali"] == first
        today = (await client.get("/v1/reports/funnel")).json()
        assert (today["calls_received"], today["cases_registered"]) == (0, 0), today

        exported = await client.get("/v1/reports/funnel.csv", params={"duty_session_id": session})
        assert exported.headers["content-type"].startswith("text/csv")
        row = next(csv.DictReader(exported.text.lstrip("\ufeff").splitlines()))
        assert (row["calls_received"], row["calls_answered"], row["cases_registered"]) == ("110", "81", "65")

        # The agencies received the cases when they were routed: on the day of the import.
        day = tehran_day(imported).isoformat()
        agencies = (await client.get("/v1/reports/agencies", params={"from": day, "to": day})).json()
        received = {r["agency"]: r["received"] for r in agencies["agencies"]}
        assert sum(received.values()) == 65 and len(received) == 14
        assert received["civil_registration"] >= 1

        weeks = (
            await client.get("/v1/reports/weeks", params={"from": "1396-12-05", "to": "1396-12-11"})
        ).json()
        assert [
            (w["week_start_jalali"], w["calls_received"], w["calls_answered"], w["cases_registered"])
            for w in weeks["weeks"]
        ] == [("1396-12-05", 110, 81, 65)]

        counties = (
            await client.get("/v1/reports/counties", params={"from": "1396-12-08", "to": "1396-12-08"})
        ).json()
        assert sum(c["registered"] for c in counties["counties"]) == 65

    # The operator's command reads the same numbers from the database, with both calendars.
    env = {"SAMAD_MONGO_URL": MONGO, "SAMAD_DB_NAME": tracking_db, "COLUMNS": "160"}
    out = await samad("report", "funnel", "--session", session, "--json", env=env)
    assert json.loads(out)["cases_referred"] == 65
    table = await samad("report", "funnel", "--from", "1396-12-08", "--to", "1396-12-08", env=env)
    assert "1396-12-08" in table and "2018-02-27" in table
    assert "110" in table and "81" in table and "65" in table
    month = await samad("report", "funnel", "--from", "1396-12-01", "--to", "1396-12-29", "--json", env=env)
    assert json.loads(month) | {"answered_pct": None} == {
        "calls_received": 110,
        "calls_answered": 81,
        "cases_registered": 65,
        "cases_referred": 65,
        "answered_pct": None,
        "registered_pct_of_answered": 80.2,
        "referred_pct_of_registered": 100.0,
    }
    agencies_table = await samad("report", "agencies", "--from", day, "--to", day, env=env)
    assert "civil_registration" in agencies_table


async def samad(*args: str, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from services.cli import main; main()",
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    text = output.decode()
    assert proc.returncode == 0, text
    return text
