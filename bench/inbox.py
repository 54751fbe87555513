"""Speed of the agency's inbox, its live feed and the supervisor's dashboard (issue 18's targets).

    make bench-inbox                      # = uv run --frozen python bench/inbox.py
    python bench/inbox.py --quick         # small numbers, to check the harness
    python bench/inbox.py --no-dashboard  # the inbox and the live feed only
    python bench/inbox.py --dashboard-only  # the dashboard's seed and timing only

Starts its own stack (profile ``bench``, data wiped first; SAMAD_STACK_PORTS moves it), tracking and
the console as processes (the console on 127.0.0.1:24005, an address the realm lets receive sign-ins;
routing and notify are not started: the cases' routing is in the seed, and no SMS is measured), then:

1. the seed: 5,000 open cases of one agency (registered and routed, a third acknowledged) and 100 of
   every other agency are published to the platform's topics and projected by tracking's own consumer;
2. the live feed: 200 signed-in agency staff (spread over the 14 agencies, each a session of its own)
   hold the inbox's live feed open (GET /inbox/live, server-sent events, httpx streaming) while new
   cases are registered and routed at 20 a second, spread over the agencies; for every case and every
   page of its agency, the time from the routing event's publication to the case's row on that page;
   last (after the dashboard) the inbox: a member of the 5,000 cases' agency opens the inbox's first page (newest first,
   then most urgent first) one request at a time; the console's time is read from its Server-Timing
   header (app;dur), as bench/console.py reads it (the inbox goes last: a page tracking is slow to
   answer leaves its queries running in the database after the console gave up);
3. the dashboard: 100,000 cases over the last 90 days (each from an answered call, among unanswered
   calls; two in three acknowledged, half resolved) are published and projected the same way; the
   supervisor opens the dashboard for those 90 days (GET /dashboard: the funnel, the agencies, the
   counties and the weekly trend); each of tracking's four reports is timed on its own too.

Prints a table with each target, the figure measured and PASS or MISS, and writes
bench/results/inbox-<time>.json. Only 127.0.0.1 is addressed; every phase is bounded in requests and
in time, and the stack is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from bench.harness import (  # noqa: E402
    BENCH,
    COMPLAINTS,
    CONSOLE_PORT,
    Service,
    StackProfile,
    Timings,
    allow_console_address,
    client,
    percentile,
    port_free,
    publish,
    start_services,
    teller,
    timed,
    wait_projected,
)
from contracts.catalogue import AgencyCode, provinces  # noqa: E402
from contracts.events import (  # noqa: E402
    Actor,
    ActorKind,
    CallOutcome,
    CallReceived,
    CaseRegistered,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    Citizen,
    EventData,
    RouteReason,
    deterministic_id,
    make_event,
)
from contracts.topics import CALLS, CASES, NOTIFICATIONS  # noqa: E402
from contracts.tracking_code import from_seed  # noqa: E402
from services.ops.adapters.kafka import KafkaLog  # noqa: E402
from services.ops.domain.records import Outgoing  # noqa: E402

RESULTS = ROOT / "bench" / "results"
INBOX_AGENCY = AgencyCode.social_security
TARGETS = {"inbox_ms": 100.0, "live_s": 1.0, "dashboard_s": 1.0}
say = teller("inbox-bench")


def counties() -> list[str]:
    return [c.code for c in provinces()["khorasan_razavi"].counties]


# --- the seeds ---------------------------------------------------------------------------------------


def new_case(
    run: str, kind: str, i: int, agency: AgencyCode, at: datetime, call: CallReceived | None = None
) -> tuple[str, list[tuple[EventData, datetime]]]:
    """A case registered at ``at`` (from ``call`` when given) and routed to ``agency`` two seconds later."""
    case_id = deterministic_id("inbox-bench", run, kind, str(i))
    _code, subject, description = next(c for c in COMPLAINTS if c[0] == agency.value)
    names = counties()
    registered = CaseRegistered(
        case_id=case_id,
        tracking_code=from_seed(case_id),
        county=names[i % len(names)],
        call_id=call.call_id if call else None,
        citizen=Citizen(phone=f"+98915{i % 10_000_000:07d}"),
        subject=subject,
        description=f"{description} (پرونده {i})",
        operator_id=f"operator{i % 12}",
        registered_at=at,
        call_started_at=call.started_at if call else None,
    )
    routed = CaseRouted(
        case_id=case_id, agency=agency, reason=RouteReason.classifier, confidence=0.91, explanation=[]
    )
    return case_id, [(registered, at), (routed, at + timedelta(seconds=2))]


def acted(
    case_id: str, agency: AgencyCode, status: CaseStatus, at: datetime, i: int
) -> tuple[EventData, datetime]:
    staff = Actor(kind=ActorKind.agency_staff, id=f"staff-{i % 40}", agency=agency)
    answer = "کارشناس دستگاه بررسی کرد و مشکل برطرف شد." if status == CaseStatus.resolved else None
    return CaseStatusChanged(case_id=case_id, status=status, agency=agency, answer=answer, actor=staff), at


def inbox_seed(
    run: str, inbox_cases: int, per_other: int, now: datetime
) -> Iterator[tuple[EventData, datetime]]:
    """``inbox_cases`` open cases of the inbox's agency over the last 30 days (a third acknowledged), and
    ``per_other`` of every other agency."""
    others = [a for a in AgencyCode if a != INBOX_AGENCY and any(c[0] == a.value for c in COMPLAINTS)]
    plan = [INBOX_AGENCY] * inbox_cases + [a for a in others for _ in range(per_other)]
    for i, agency in enumerate(plan):
        at = now - timedelta(days=30) * (len(plan) - i) / len(plan)
        case_id, events = new_case(run, "inbox", i, agency, at)
        yield from events
        if i % 3 == 0:
            yield acted(case_id, agency, CaseStatus.in_progress, at + timedelta(hours=3), i)


def dashboard_seed(run: str, cases: int, days: int, now: datetime) -> Iterator[tuple[EventData, datetime]]:
    """``cases`` cases over the last ``days`` days, each from an answered call, with one unanswered
    call for every ten; two in three acknowledged, half resolved, over the agencies in turn."""
    agencies = [AgencyCode(c[0]) for c in COMPLAINTS]
    names = counties()
    for i in range(cases):
        at = now - timedelta(days=days) * (cases - i) / cases
        call = CallReceived(
            call_id=deterministic_id("inbox-bench-call", run, str(i)),
            county=names[i % len(names)],
            outcome=CallOutcome.answered,
            started_at=at - timedelta(seconds=90),
            duration_seconds=80,
            operator_id=f"operator{i % 12}",
        )
        yield call, at - timedelta(seconds=90)
        if i % 10 == 0:
            missed = call.model_copy(
                update={"call_id": call.call_id + "-missed", "outcome": CallOutcome.abandoned}
            )
            yield missed, at - timedelta(seconds=60)
        agency = agencies[i % len(agencies)]
        case_id, events = new_case(run, "dashboard", i, agency, at, call)
        yield from events
        if i % 3 != 2:
            yield acted(case_id, agency, CaseStatus.in_progress, at + timedelta(hours=2 + i % 50), i)
        if i % 2 == 0 and i % 3 != 2:
            resolved = at + timedelta(hours=20 + i % 200)
            if resolved < now:
                yield acted(case_id, agency, CaseStatus.resolved, resolved, i)


# --- signing in without a browser ----------------------------------------------------------------------

LOGIN_ACTION = re.compile(
    r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"|action="([^"]+)"[^>]*id="kc-form-login"'
)


async def sign_in_form(console: str, username: str, password: str, attempts: int = 3) -> str:
    """A session of the console for ``username``: the code flow through Keycloak's login form, filled
    in as a browser would post it (no script runs on that form); the session cookie's value. A sign-in
    the provider answers with its form again is tried again (a fresh realm under load does, now and
    then)."""
    problem = ""
    for _attempt in range(attempts):
        async with httpx.AsyncClient(follow_redirects=True, timeout=60) as http:
            page = await http.get(console + "/login")
            found = LOGIN_ACTION.search(page.text)
            if not found:
                raise RuntimeError(f"no login form for {username}: {page.status_code} {page.url}")
            action = html.unescape(found.group(1) or found.group(2))
            for kept in http.cookies.jar:
                # Keycloak marks its cookies Secure; a browser sends them to 127.0.0.1 all the same (a
                # secure context), httpx only over https.
                kept.secure = False
            # Followed up to the console's callback, not to the page it then sends the person to (the
            # inbox: two hundred sign-ins would load it two hundred times).
            done = await http.post(
                action,
                data={"username": username, "password": password, "credentialId": ""},
                follow_redirects=False,
            )
            while done.is_redirect and done.url.path != "/auth/callback":
                done = await http.get(done.headers["location"], follow_redirects=False)
            cookie = http.cookies.get("samad_session")
            if cookie and done.url.path == "/auth/callback" and done.status_code == 303:
                return cookie
            said = re.search(
                r'id="input-error[^"]*"[^>]*>([^<]+)<|class="[^"]*alert[^"]*"[^>]*>(.*?)</', done.text, re.S
            )
            problem = f"{done.status_code} {done.url.path}: " + (
                re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (said.group(1) or said.group(2)))).strip()
                if said
                else "?"
            )
        await asyncio.sleep(1.0)
    raise RuntimeError(f"{username} was not signed in: {problem}")


async def sessions(console: str, users: list[tuple[str, str]], each: list[int]) -> list[list[str]]:
    """``each[k]`` sessions of user k: one person's sign-ins one after another (Keycloak's brute-force
    protection refused several sign-ins of one person at once), eight people at a time."""
    gate = asyncio.Semaphore(8)

    async def of(user: tuple[str, str], n: int) -> list[str]:
        cookies = []
        for _ in range(n):
            async with gate:
                cookies.append(await sign_in_form(console, *user))
        return cookies

    return list(await asyncio.gather(*(of(u, n) for u, n in zip(users, each, strict=True))))


# --- the live feed ------------------------------------------------------------------------------------


@dataclass
class Page:
    """One open inbox: its agency, and when each case's row first reached it (perf_counter)."""

    agency: str
    cookie: str
    seen: dict[str, float] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None


async def hold_open(console: str, page: Page, http: httpx.AsyncClient) -> None:
    """Read the page's live feed until cancelled: every ``row`` event's case and when it came."""
    event = ""
    try:
        async with http.stream(
            "GET",
            console + "/inbox/live",
            headers={"Accept": "text/event-stream", "Cookie": f"samad_session={page.cookie}"},
            timeout=httpx.Timeout(30, read=None),
        ) as response:
            if response.status_code != 200:
                page.error = f"live feed answered {response.status_code}"
                page.connected.set()
                return
            page.connected.set()
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "row":
                    case_id = json.loads(line[5:].strip()).get("case_id")
                    if case_id and case_id not in page.seen:
                        page.seen[case_id] = time.perf_counter()
                elif not line:
                    event = ""
    except httpx.HTTPError as exc:
        page.error = page.error or repr(exc)
        page.connected.set()


async def live_feed(
    profile: StackProfile,
    console: str,
    agencies: list[str],
    cookies: list[list[str]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    pages = [Page(agency, cookie) for agency, mine in zip(agencies, cookies, strict=True) for cookie in mine]
    limits = httpx.Limits(max_connections=len(pages) + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits) as http:
        readers = [asyncio.create_task(hold_open(console, p, http)) for p in pages]
        await asyncio.wait_for(asyncio.gather(*(p.connected.wait() for p in pages)), timeout=120)
        refused = [p.error for p in pages if p.error]
        if refused:
            raise RuntimeError(f"{len(refused)} live feeds did not open: {refused[:3]}")
        say(f"  {len(pages)} live feeds open; a first case to each agency, until every page shows it")
        run = uuid.uuid4().hex[:8]
        published: dict[str, tuple[str, float]] = {}  # case id -> (agency, perf_counter at publication)
        async with KafkaLog(profile.bootstrap, client_id="samad-inbox-bench") as log:

            async def send(kind: str, i: int, agency: str) -> str:
                case_id, events = new_case(run, kind, i, AgencyCode(agency), datetime.now(UTC))
                batch = []
                for n, (data, _at) in enumerate(events):
                    env = make_event(
                        data,
                        source="/samad/inbox-bench",
                        event_id=deterministic_id("inbox-bench-live", run, kind, str(i), str(n)),
                    )
                    batch.append(
                        Outgoing(
                            data.topic,
                            env.key,
                            env.to_json(),
                            [("content-type", b"application/cloudevents+json")],
                        )
                    )
                started = time.perf_counter()
                await log.send(batch)
                published[case_id] = (agency, started)
                return case_id

            # The console's consumer reads from the log's end once it has its partitions: a first
            # case to every agency, again until each page has shown one, says the path is open.
            deadline = time.monotonic() + 120
            warm = 0
            while not all(p.seen for p in pages):
                if time.monotonic() > deadline:
                    raise RuntimeError("the live feeds showed no case within 120 s")
                for agency in agencies:
                    await send("warm", warm, agency)
                    warm += 1
                await asyncio.sleep(3)
            for p in pages:
                p.seen.clear()
            warm_ids = set(published)
            await asyncio.sleep(2)
            n = int(args.rate * args.flow_seconds)
            say(f"  {n} cases at {args.rate:g} a second over {len(agencies)} agencies")
            begun = time.perf_counter()
            for i in range(n):
                wait = begun + i / args.rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                await send("flow", i, agencies[i % len(agencies)])
            flow_seconds = time.perf_counter() - begun
        await asyncio.sleep(args.settle)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    latencies: list[float] = []
    per_page_p99: list[float] = []
    expected = missing = 0
    flow = {cid: v for cid, v in published.items() if cid not in warm_ids}
    for p in pages:
        mine = []
        for case_id, (agency, at) in flow.items():
            if agency != p.agency:
                continue
            expected += 1
            if case_id in p.seen:
                mine.append(p.seen[case_id] - at)
            else:
                missing += 1
        latencies += mine
        if mine:
            per_page_p99.append(percentile(mine, 99) or 0.0)

    def s(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "pages": len(pages),
        "agencies": len(agencies),
        "cases": len(flow),
        "rate_asked": args.rate,
        "rate_sent": round(len(flow) / flow_seconds, 1),
        "updates_expected": expected,
        "updates_received": expected - missing,
        "updates_missing": missing,
        "p50_s": s(percentile(latencies, 50)),
        "p95_s": s(percentile(latencies, 95)),
        "p99_s": s(percentile(latencies, 99)),
        "max_s": s(percentile(latencies, 100)),
        "worst_page_p99_s": s(max(per_page_p99) if per_page_p99 else None),
        "over_1s": sum(1 for v in latencies if v >= 1.0),
    }


# --- the run ---------------------------------------------------------------------------------------


async def count_cases(profile: StackProfile, db: str) -> int:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(profile.mongo_url)
    try:
        # The collection's own count: FerretDB answers a filtered count by reading every document.
        return int(await mongo[db]["cases"].estimated_document_count())
    finally:
        await mongo.close()


async def wait_rollups(profile: StackProfile, db: str, timeout: float) -> tuple[float, int]:
    """Wait until tracking's background job has folded the facts the seed left (docs/tracking.md, "Daily
    rollups"); the seconds it took and the days and sessions still dirty."""
    started = time.perf_counter()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(profile.mongo_url)
    try:
        while True:
            buckets = {d["bucket"] async for d in mongo[db]["report_days_new"].find({}, {"bucket": 1})}
            waited = time.perf_counter() - started
            if not buckets or waited > timeout:
                return waited, len(buckets)
            await asyncio.sleep(2)
    finally:
        await mongo.close()


def staff_users(profile: StackProfile) -> tuple[list[str], list[tuple[str, str]], tuple[str, str]]:
    """A member of staff of every seeded agency, and a supervisor, each with a password."""
    from tests.support import identity

    identity.use_profile(profile.name)
    agencies = [c[0] for c in COMPLAINTS]
    users = [
        (f"bench-staff-{a}", identity.ensure_user(f"bench-staff-{a}", "agency_staff", a)) for a in agencies
    ]
    supervisor = ("bench-supervisor", identity.ensure_user("bench-supervisor", "supervisor"))
    return agencies, users, supervisor


async def bounded(name: str, request: Any, samples: int, warmup: int, budget: float) -> dict[str, Any]:
    """``warmup`` untimed requests, then up to ``samples`` timed ones, one at a time, stopping once
    ``budget`` seconds have passed (a slow page is still measured, in fewer samples)."""
    timings = Timings()
    for i in range(warmup):
        await request(i, None)
    deadline = time.monotonic() + budget
    for i in range(samples):
        if time.monotonic() > deadline:
            break
        await request(warmup + i, timings)
    f = timings.figures() | {"budget_seconds": budget}
    say(
        f"  {name:34} n {f['n']}, server p50 {f['server_p50']} p95 {f['server_p95']} ms "
        f"(own p95 {f['own_p95']}); round trip p95 {f['round_trip_p95']} ms; failures {f['failures']}"
    )
    return f


async def measure_inbox(console: str, cookie: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with client(console, cookie) as http:
        http.timeout = httpx.Timeout(120)
        for name, path in (("newest first", "/inbox"), ("most urgent first", "/inbox?sort=urgent")):

            async def page(i: int, t: Timings | None, path: str = path) -> Any:
                return await timed(
                    http, "GET", path, t, marker='class="inbox-row', headers={"Accept": "text/html"}
                )

            results[name] = await bounded(f"inbox, {name}", page, args.samples, args.warmup, args.budget)
    return results


async def measure_dashboard(
    console: str, tracking: str, cookie: str, token: str, args: argparse.Namespace
) -> dict[str, Any]:
    today = datetime.now(UTC).astimezone(provinces_tz()).date()
    first = (today - timedelta(days=args.days - 1)).isoformat()
    params = f"from={first}&to={today.isoformat()}"
    out: dict[str, Any] = {"period": {"from": first, "to": today.isoformat()}}
    async with client(console, cookie) as http:

        async def dashboard(i: int, t: Timings | None) -> Any:
            return await timed(
                http, "GET", f"/dashboard?{params}", t, marker="<table", headers={"Accept": "text/html"}
            )

        http.timeout = httpx.Timeout(120)
        out["dashboard"] = await bounded(
            "dashboard, 90 days", dashboard, args.dashboard_samples, 1, args.budget
        )
    async with httpx.AsyncClient(
        base_url=tracking, timeout=300, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        reports: dict[str, Any] = {}
        for name in ("funnel", "agencies", "counties", "weeks"):
            seconds = []
            for _ in range(max(1, args.dashboard_samples // 2)):
                started = time.perf_counter()
                answer = await api.get(f"/v1/reports/{name}", params={"from": first, "to": today.isoformat()})
                seconds.append(time.perf_counter() - started)
                answer.raise_for_status()
            reports[name] = {"n": len(seconds), "median_s": round(sorted(seconds)[len(seconds) // 2], 3)}
            say(f"  tracking's {name} report: median {reports[name]['median_s']} s")
        out["tracking_reports"] = reports
    return out


def provinces_tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Tehran")


def verdict(value: float | None, target: float, ok: bool = True) -> str:
    if not ok:
        return "FAIL"
    return "MISS" if value is None or value >= target else "PASS"


def table(report: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    m = report["machine"]
    add(
        f"machine: {m['nproc']} cores, load average at start {m['load_average_at_start']}, at end {m.get('load_average_at_end')}"
    )
    s = report.get("inbox_seed")
    if s is None and "dashboard_seed" not in report:
        return "\n".join(lines)
    if s is not None:
        add(
            f"inbox seed: {s['cases']:,} cases ({s['inbox_agency']}: {s['inbox_cases']:,} open), {s['events']:,} events "
            f"published in {s['publish_seconds']} s, projected by tracking in {s['project_seconds']} s"
        )
    if "dashboard_seed" in report:
        d = report["dashboard_seed"]
        add(
            f"dashboard seed: {d['cases']:,} cases over {d['days']} days, {d['events']:,} events published in "
            f"{d['publish_seconds']} s, projected in {d['project_seconds']} s; {d['cases_in_tracking']:,} cases in tracking; "
            f"daily rollups folded {d['rollups_caught_up_seconds']} s later ({d['dirty_days_left']} day(s) or session(s) dirty)"
        )
    add("")
    add(f"{'target':64} {'measured':>22}  result")
    for name, f in report.get("inbox", {}).items():
        add(
            f"{'inbox first page (' + name + '), server p95 < 100 ms':64} "
            f"{str(f['server_p95']) + ' ms (p50 ' + str(f['server_p50']) + ')':>22}  "
            f"{verdict(f['server_p95'], TARGETS['inbox_ms'], not f['failures'])}"
        )
    live = report.get("live")
    if live:
        complete = live["updates_missing"] == 0
        what = f"{live['pages']} live pages, {live['rate_sent']:g} cases/s: update p99 < 1 s"
        add(
            f"{what:64} "
            f"{str(live['p99_s']) + ' s (p50 ' + str(live['p50_s']) + ')':>22}  "
            f"{verdict(live['p99_s'], TARGETS['live_s'], complete)}"
        )
        add(
            f"   {live['updates_received']:,} of {live['updates_expected']:,} updates received; p95 {live['p95_s']} s, "
            f"max {live['max_s']} s, worst page's p99 {live['worst_page_p99_s']} s, {live['over_1s']} over 1 s"
        )
    dash = report.get("dashboard")
    if dash and "dashboard" in dash:
        f = dash["dashboard"]
        p95 = None if f["server_p95"] is None else round(f["server_p95"] / 1000, 3)
        p50 = None if f["server_p50"] is None else round(f["server_p50"] / 1000, 3)
        add(
            f"{'dashboard, ' + str(report['dashboard_seed']['days']) + ' days, ' + format(report['dashboard_seed']['cases'], ',') + ' cases: server p95 < 1 s':64} "
            f"{str(p95) + ' s (p50 ' + str(p50) + ')':>22}  {verdict(p95, TARGETS['dashboard_s'], not f['failures'])}"
            + (f" ({f['failures']} failed: {f['failure_examples'][0]})" if f["failures"] else "")
        )
        add(
            "   tracking's reports alone (median s): "
            + ", ".join(f"{k} {v['median_s']}" for k, v in dash["tracking_reports"].items())
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inbox-cases", type=int, help="open cases of the inbox's agency (5,000)")
    parser.add_argument("--per-other", type=int, help="cases of every other agency (100)")
    parser.add_argument("--samples", type=int, help="timed requests of the inbox's first page (200)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first")
    parser.add_argument(
        "--budget", type=float, default=180.0, help="seconds a page is sampled at most (fewer samples then)"
    )
    parser.add_argument("--pages", type=int, help="live pages held open (200)")
    parser.add_argument("--rate", type=float, default=20.0, help="cases a second while the pages listen")
    parser.add_argument("--flow-seconds", type=float, help="seconds the cases flow (60)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds the pages listen after the flow")
    parser.add_argument("--dashboard-cases", type=int, help="cases of the dashboard's period (100,000)")
    parser.add_argument("--days", type=int, default=90, help="the dashboard's period in days")
    parser.add_argument("--dashboard-samples", type=int, help="timed dashboards (10)")
    parser.add_argument("--no-dashboard", action="store_true", help="skip the dashboard's seed and timing")
    parser.add_argument(
        "--dashboard-only",
        action="store_true",
        help="only the dashboard's seed and timing (no inbox, no live feed)",
    )
    parser.add_argument("--quick", action="store_true", help="small numbers unless given: checks the harness")
    parser.add_argument(
        "--keep-stack", action="store_true", help="leave Kafka, FerretDB and Keycloak running"
    )
    parser.add_argument("--reuse-stack", action="store_true", help="use the running stack as it is (no wipe)")
    args = parser.parse_args()
    quick = {
        "inbox_cases": 500,
        "per_other": 10,
        "samples": 30,
        "pages": 28,
        "flow_seconds": 10,
        "dashboard_cases": 5_000,
        "dashboard_samples": 3,
    }
    full = {
        "inbox_cases": 5_000,
        "per_other": 100,
        "samples": 200,
        "pages": 200,
        "flow_seconds": 60,
        "dashboard_cases": 100_000,
        "dashboard_samples": 10,
    }
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if not port_free(CONSOLE_PORT):
        say(
            f"127.0.0.1:{CONSOLE_PORT} is taken: the console of this benchmark needs it (the realm allows it)"
        )
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    outdir = ROOT / ".local" / "bench-runs" / f"inbox-{stamp}"
    outdir.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    profile = BENCH
    report: dict[str, Any] = {
        "started_at": stamp,
        "settings": vars(args),
        "machine": {"nproc": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
    }
    say(
        f"starting a fresh stack (profile {profile.name}: Kafka {profile.bootstrap}, FerretDB {profile.mongo_url})"
    )
    profile.start(fresh=not args.reuse_stack)
    run_id = uuid.uuid4().hex[:8]
    services: dict[str, Service] = start_services(profile, run_id, outdir)
    started = [services["tracking"], services["console"]]
    try:
        asyncio.run(run(args, profile, services, run_id, report))
    except KeyboardInterrupt:
        say("interrupted: the figures measured so far follow")
        report["interrupted"] = True
    finally:
        say("stopping the services")
        for svc in started:
            svc.stop(timeout=30)
        if not args.keep_stack:
            say("stopping the stack")
            profile.stop()
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = RESULTS / f"inbox-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    print()
    print(table(report))
    print(f"\nreport: {path.relative_to(ROOT)}")
    return 0


async def run(
    args: argparse.Namespace,
    profile: StackProfile,
    services: dict[str, Service],
    run_id: str,
    report: dict[str, Any],
) -> None:
    tracking, console = services["tracking"], services["console"]
    group: dict[str, tuple[str, ...]] = {f"run-{run_id}.tracking": (CASES, NOTIFICATIONS, CALLS)}
    say(f"starting tracking (run {run_id}, logs in {console.logdir.relative_to(ROOT)})")
    tracking.start()
    await asyncio.to_thread(tracking.wait_ready)
    if args.dashboard_only:
        say("starting the console")
        console.start()
        await asyncio.to_thread(console.wait_ready)
        allow_console_address(profile, console.url, say)
        _agencies, _users, supervisor = await asyncio.to_thread(staff_users, profile)
        await dashboard(args, profile, services, run_id, report, group, console.url, supervisor)
        return
    now = datetime.now(UTC)
    say(
        f"seeding the inbox: {args.inbox_cases:,} open cases of {INBOX_AGENCY.value}, {args.per_other} of every other agency"
    )
    events, publish_s = await publish(
        profile, inbox_seed(run_id, args.inbox_cases, args.per_other, now), run_id, "inbox-bench", now
    )
    project_s = await wait_projected(profile, group, timeout=1800, say=say)
    cases = await count_cases(profile, tracking.db_name)
    report["inbox_seed"] = {
        "inbox_agency": INBOX_AGENCY.value,
        "inbox_cases": args.inbox_cases,
        "cases": cases,
        "events": events,
        "publish_seconds": round(publish_s, 1),
        "project_seconds": round(project_s, 1),
    }
    say(
        f"  {events:,} events published in {publish_s:.1f} s and projected in {project_s:.1f} s: {cases:,} cases"
    )
    say("starting the console")
    console.start()
    await asyncio.to_thread(console.wait_ready)
    url = console.url
    allow_console_address(profile, url, say)
    agencies, users, supervisor = await asyncio.to_thread(staff_users, profile)
    per_agency = [
        args.pages // len(agencies) + (1 if k < args.pages % len(agencies) else 0)
        for k in range(len(agencies))
    ]
    inbox_user = agencies.index(INBOX_AGENCY.value)
    per_agency[inbox_user] += 1  # the inbox's timed session, apart from the live pages
    say(f"signing in {sum(per_agency)} agency staff sessions through Keycloak's login form")
    cookies = await sessions(url, users, per_agency)
    timed_cookie = cookies[inbox_user].pop()
    # The live feed first: an inbox page tracking is slow to answer leaves its queries running in the
    # database after the console gave up on them, which would slow the feed's reads of each case.
    say(f"the live feed: {args.pages} pages open")
    report["live"] = await live_feed(profile, url, agencies, cookies, args)
    live = report["live"]
    say(
        f"  update p50 {live['p50_s']} s, p99 {live['p99_s']} s; {live['updates_received']:,} of {live['updates_expected']:,} received"
    )
    if not args.no_dashboard:
        await dashboard(args, profile, services, run_id, report, group, url, supervisor)
    # The inbox last: its slow queries outlive the console's wait and hold the database for minutes
    # (the dashboard's seed stalled behind them).
    say("the inbox's first page, one request at a time")
    report["inbox"] = await measure_inbox(url, timed_cookie, args)


async def dashboard(
    args: argparse.Namespace,
    profile: StackProfile,
    services: dict[str, Service],
    run_id: str,
    report: dict[str, Any],
    group: dict[str, tuple[str, ...]],
    url: str,
    supervisor: tuple[str, str],
) -> None:
    tracking = services["tracking"]
    say(f"seeding the dashboard: {args.dashboard_cases:,} cases over {args.days} days")
    now = datetime.now(UTC)
    events, publish_s = await publish(
        profile,
        dashboard_seed(run_id, args.dashboard_cases, args.days, now),
        run_id,
        "inbox-bench-dashboard",
        now,
    )
    say(f"  {events:,} events published in {publish_s:.1f} s; waiting for tracking")
    project_s = await wait_projected(profile, group, timeout=7200, say=say)
    say(f"  projected in {project_s:.1f} s; waiting for tracking's daily rollups to catch up")
    rollups_s, dirty_left = await wait_rollups(profile, tracking.db_name, timeout=3600)
    report["dashboard_seed"] = {
        "cases": args.dashboard_cases,
        "days": args.days,
        "events": events,
        "publish_seconds": round(publish_s, 1),
        "project_seconds": round(project_s, 1),
        "rollups_caught_up_seconds": round(rollups_s, 1),
        "dirty_days_left": dirty_left,
        "cases_in_tracking": await count_cases(profile, tracking.db_name),
    }
    say(
        f"  rollups folded {rollups_s:.1f} s after the projection ({dirty_left} day(s) or session(s) still dirty)"
    )
    from tests.support import identity

    (supervisor_cookie,) = (await sessions(url, [supervisor], [1]))[0]
    token = (await asyncio.to_thread(identity.password_token, *supervisor))[0]
    say(f"the dashboard for {args.days} days")
    report["dashboard"] = await measure_dashboard(url, tracking.url, supervisor_cookie, token, args)


if __name__ == "__main__":
    sys.exit(main())
