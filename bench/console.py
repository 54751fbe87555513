"""Speed of the console (the operator's desk and the citizen's pages) with 10,000 cases in tracking.

    make bench-console                      # = uv run --frozen python bench/console.py (about 20 min)
    python bench/console.py --quick         # 1,000 cases and fewer samples, to check the harness
    python bench/console.py --profile-console   # the console under pyinstrument (bench/instrument.py)
    python bench/console.py --submit-only --census   # only the submits, with intake's and the console's
                                                     # MongoDB commands meanwhile (about 8 min)

Starts its own stack (profile ``bench``, data wiped first; SAMAD_STACK_PORTS moves it), the five
services as processes (the console on 127.0.0.1:24005, an address the realm lets receive sign-ins),
then:

0. seeds 10,000 cases through the real pipeline: their events (registered, routed, the SMS notify would
   have sent, and for two cases in three an agency's acknowledgement, for one in three its answer)
   are published to the platform's topics and tracking's and intake's own consumers project them, as
   they project any case; routing and notify start after it, from the log's end, so the history is
   not routed or texted again (tracking's deadline sweep is off for the run, so it sends no deadline
   events of its own while pages are timed);
1. signs in ten operators in chromium with the OpenID Connect code flow against the stack's Keycloak
   (its login form, typed in), each with a session of their own;
2. times every page one request at a time over 127.0.0.1 with a signed-in session (and the citizen's
   pages with an anonymous one), as a browser asks (Accept-Encoding: gzip, deflate, br, zstd): the
   console's time from its Server-Timing header (app;dur, the figure held to the target), the part
   of it spent waiting for the other services (services;dur; the rest is the console's own) and the
   round trip as the client saw it;
3. the routing suggestion (POST /desk/suggest) as an operator types;
4. ten operators submitting POST /desk at the same instant, round after round: submit -> the page
   with the tracking code; each round is followed by one making the desk's request (the call with
   its case, POST /v1/calls/with-case) straight to intake's API, so what the console adds can be
   told apart;
5. the desk's first load in Debian's chromium (Playwright) with an empty cache: the encoded (on the
   wire) bytes of every response from the console.

Writes bench/results/console-<time>.json and prints a table with each target and PASS or MISS. Only
127.0.0.1 is addressed; every phase is bounded in requests and in time. To see where the console's
time goes while it runs, attach a sampling profiler to it, e.g.
``py-spy record -p "$(pgrep -f 'services.console --port 24005')" -d 30 -f raw -o console.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
    LIMITS,
    Person,
    Request,
    Service,
    StackProfile,
    Timings,
    allow_console_address,
    client,
    csrf_of,
    port_free,
    publish,
    start_services,
    teller,
    timed,
    wait_projected,
)
from bench.harness import sample as sample_as  # noqa: E402
from contracts.catalogue import AgencyCode, provinces  # noqa: E402
from contracts.events import (  # noqa: E402
    Actor,
    ActorKind,
    CaseRegistered,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    Citizen,
    EventData,
    RouteReason,
    SmsDelivered,
    SmsSent,
    deterministic_id,
)
from contracts.persian import to_ascii_digits  # noqa: E402
from contracts.topics import CALLS, CASES, NOTIFICATIONS  # noqa: E402
from contracts.tracking_code import from_seed  # noqa: E402

RESULTS = ROOT / "bench" / "results"
OPERATORS = 10
PHONES_PER_CASE = 0.4  # seeded citizens: each called about two or three cases, one still open
TARGETS_MS = {"page": 50.0, "submit": 300.0, "suggest": 150.0}
FIRST_LOAD_TARGET = 250_000  # bytes (250 KB, 1 KB = 1,000 bytes: the stricter reading)
say = teller("console-bench")


async def sample(name: str, request: Request, samples: int, warmup: int) -> Timings:
    return await sample_as(name, request, samples, warmup, say)


# --- the seeded cases ------------------------------------------------------------------------------

AGENCY_OF = {subject: AgencyCode(agency) for agency, subject, _ in COMPLAINTS}
NAMES = ("زهرا احمدی", "علی رضایی", "مریم حسینی", "محمد کریمی", "فاطمه موسوی", "حسین جعفری", None)


@dataclass(frozen=True)
class Seeded:
    case_id: str
    tracking_code: str
    phone: str  # as the operator types it: 09...
    status: str


def seeded_case(
    i: int, run: str, cases: int, now: datetime
) -> tuple[Seeded, list[tuple[EventData, datetime]]]:
    """Case ``i`` of the seed and its events with their times, as the services would have published
    them. A citizen's oldest case is answered, the next acknowledged, the newest just routed."""
    case_id = deterministic_id("console-bench", run, str(i))
    agency_code, subject, description = COMPLAINTS[i % len(COMPLAINTS)]
    agency = AgencyCode(agency_code)
    phones = max(1, int(cases * PHONES_PER_CASE))
    phone = f"0915{(i % phones) * 1_997 % 10_000_000:07d}"
    e164 = "+98" + phone[1:]
    counties = provinces()["khorasan_razavi"].counties
    t0 = now - timedelta(days=30) * (cases - i) / cases
    step = {0: "resolved", 1: "in_progress"}.get(i // phones, "routed")
    staff = Actor(kind=ActorKind.agency_staff, id=f"staff-{i % 40}", agency=agency)
    events: list[tuple[EventData, datetime]] = [
        (
            CaseRegistered(
                case_id=case_id,
                tracking_code=from_seed(case_id),
                county=counties[i % len(counties)].code,
                citizen=Citizen(phone=e164, name=NAMES[i % len(NAMES)]),
                subject=subject,
                description=f"{description} (پرونده {i})",
                operator_id=f"operator{i % 12}",
                registered_at=t0,
            ),
            t0,
        ),
        (
            CaseRouted(
                case_id=case_id,
                agency=agency,
                reason=RouteReason.classifier,
                confidence=0.91,
                explanation=[f"واژه‌های «{subject}» در شرح"],
            ),
            t0 + timedelta(seconds=2),
        ),
    ]

    def sms(template: str, at: datetime) -> list[tuple[EventData, datetime]]:
        sms_id = deterministic_id("console-bench-sms", case_id, template)
        return [
            (
                SmsSent(
                    sms_id=sms_id,
                    case_id=case_id,
                    source_event_id=deterministic_id("console-bench-source", case_id, template),
                    template=template,
                    recipient=e164,
                    text=f"سامانه ۱۱۱: پرونده {from_seed(case_id)} — {template}",
                    parts=1,
                    provider="file",
                ),
                at,
            ),
            (
                SmsDelivered(sms_id=sms_id, case_id=case_id, provider="file", delivered_at=at),
                at + timedelta(seconds=20),
            ),
        ]

    events += sms("registered", t0 + timedelta(seconds=3)) + sms("routed", t0 + timedelta(seconds=4))
    if step in ("in_progress", "resolved"):
        at = t0 + timedelta(hours=5)
        events.append(
            (
                CaseStatusChanged(case_id=case_id, status=CaseStatus.in_progress, agency=agency, actor=staff),
                at,
            )
        )
        events += sms("acknowledged", at + timedelta(seconds=2))
    if step == "resolved":
        at = t0 + timedelta(days=2)
        events.append(
            (
                CaseStatusChanged(
                    case_id=case_id,
                    status=CaseStatus.resolved,
                    agency=agency,
                    answer="کارشناس دستگاه بررسی کرد و مشکل برطرف شد؛ در صورت تکرار دوباره تماس بگیرید.",
                    actor=staff,
                ),
                at,
            )
        )
        events += sms("resolved", at + timedelta(seconds=2))
    return Seeded(case_id, from_seed(case_id), phone, step), events


async def seed(profile: StackProfile, cases: int, run: str) -> tuple[list[Seeded], int, float]:
    """Publish the seed's events to the platform's topics; the seeded cases, the events, the seconds."""
    now = datetime.now(UTC)
    seeded: list[Seeded] = []

    def events() -> Iterator[tuple[EventData, datetime]]:
        for i in range(cases):
            case, of_case = seeded_case(i, run, cases, now)
            seeded.append(case)
            yield from of_case

    total, seconds = await publish(profile, events(), run, "console-bench", now)
    return seeded, total, seconds


# --- signing in -------------------------------------------------------------------------------------


async def sign_in(console: str, users: list[tuple[str, str]]) -> list[Person]:
    """Each user signs in as a person does: chromium opens the desk, is sent to Keycloak's login form,
    types the name and password, and comes back through the code flow (PKCE) with a session of its
    own; the session's cookie then serves the timed requests."""
    from playwright.async_api import async_playwright

    from tests.support.browser import chromium_executable

    people = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), headless=True, chromium_sandbox=False
        )
        try:
            for username, password in users:
                context = await browser.new_context(locale="fa-IR")
                page = await context.new_page()
                await page.goto(console + "/desk")
                await page.locator("#username").fill(username)
                await page.locator("#password").fill(password)
                await page.keyboard.press("Enter")
                await page.wait_for_url(console + "/desk")
                cookie = next(
                    c["value"] for c in await context.cookies(console) if c["name"] == "samad_session"
                )
                await context.close()
                person = Person(username, client(console, cookie), cookie)
                person.csrf = csrf_of((await person.http.get("/desk")).text)
                people.append(person)
        finally:
            await browser.close()
    return people


# --- the desk ------------------------------------------------------------------------------------------


def desk_form(person: Person, seq: int, run_salt: int) -> dict[str, str]:
    """A new case as an operator types it, the routing suggestion accepted."""
    agency, subject, description = COMPLAINTS[seq % len(COMPLAINTS)]
    return {
        "csrf_token": person.csrf,
        "started_at": (datetime.now(UTC) - timedelta(seconds=75)).isoformat(),
        "form_key": str(uuid.uuid4()),
        "action": "auto",
        "caller_phone": f"0936{(run_salt * 100_003 + seq) % 10_000_000:07d}",
        "outcome": "answered",
        "name": NAMES[seq % len(NAMES)] or "",
        "national_id": "",
        "county": "مشهد",
        "subject": subject,
        "description": f"{description} (تماس {seq})",
        "agency_choice": "suggested",
        "suggested_agency": agency,
        "suggested_confidence": "۹۱٪",
    }


CASE_LINK = re.compile(r'href="/desk/cases/([^"/]+)"')


async def register_at_desk(person: Person, seq: int, salt: int, into: Timings | None) -> str | None:
    answer = await timed(
        person.http, "POST", "/desk", into, marker="tracking-code", data=desk_form(person, seq, salt)
    )
    found = CASE_LINK.search(answer.text) if answer.status_code == 200 else None
    return found.group(1) if found else None


async def wait_sms_delivered(person: Person, case_ids: list[str], timeout: float) -> int:
    """Until each case has two SMS delivered (registered, routed) in notify's ledger; how many have."""
    deadline = time.monotonic() + timeout
    done: set[str] = set()
    while time.monotonic() < deadline and len(done) < len(case_ids):
        for case_id in case_ids:
            if case_id not in done:
                page = await person.http.get(f"/desk/cases/{case_id}/sms", headers={"HX-Request": "true"})
                if page.text.count('data-sms-state="delivered"') >= 2:
                    done.add(case_id)
        await asyncio.sleep(0.5)
    return len(done)


async def intake_directly(intake: httpx.AsyncClient, token: str, seq: int, salt: int, into: Timings) -> None:
    """The request the desk makes (the answered call and its case, POST /v1/calls/with-case), straight
    to intake's API with the operator's token: what the console adds is the difference."""
    form = desk_form(Person("", intake), seq, salt)
    auth = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    answer = await intake.post(
        "/v1/calls/with-case",
        json={
            "call": {
                "caller_phone": form["caller_phone"],
                "channel": "phone",
                "outcome": "answered",
                "started_at": form["started_at"],
                "duration_seconds": 75,
            },
            "case": {
                "channel": "phone",
                "phone": form["caller_phone"],
                "name": form["name"] or None,
                "county": form["county"],
                "subject": form["subject"],
                "description": form["description"],
                "agency": form["suggested_agency"],
                "agency_reason": "پیشنهاد سامانه پذیرفته شد (اطمینان ۹۱٪)",
            },
        },
        headers=auth | {"Idempotency-Key": f"{form['form_key']}:with-case"},
    )
    elapsed = time.perf_counter() - started
    if answer.status_code == 201 and answer.json()["case"]["status"] == "registered":
        into.round_trip.append(elapsed)
    else:
        into.failures.append(f"intake answered {answer.status_code}")


async def submit_rounds(
    operators: list[Person],
    intake: httpx.AsyncClient,
    tokens: list[str],
    rounds: int,
    pause: float,
    salt: int,
) -> tuple[Timings, Timings, float]:
    """Every operator presses «ثبت» at the same instant; the next round once all have their page. Each
    round through the console is followed by one straight to intake, so both meet the same backlog."""
    desk, direct = Timings(), Timings()
    seq = 10_000
    started = time.perf_counter()
    for _ in range(rounds):
        batch = []
        for person in operators:
            seq += 1
            batch.append(register_at_desk(person, seq, salt, desk))
        await asyncio.gather(*batch)
        await asyncio.sleep(pause)
        batch = []
        for token in tokens:
            seq += 1
            batch.append(intake_directly(intake, token, seq, salt, direct))
        await asyncio.gather(*batch)
        await asyncio.sleep(pause)
    return desk, direct, time.perf_counter() - started


# --- the citizen's online form -------------------------------------------------------------------------


def otp_from_outbox(outbox: Path, phone_e164: str) -> str | None:
    if not outbox.exists():
        return None
    for line in reversed(outbox.read_text(encoding="utf-8").splitlines()):
        message = json.loads(line)
        if message.get("to") == phone_e164:
            found = re.search(r"[۰-۹0-9]{6}", message.get("text", ""))
            if found:
                return to_ascii_digits(found.group())
    return None


# --- the first load in a browser ----------------------------------------------------------------------


async def first_load(console: str, cookie: str) -> dict[str, Any]:
    """The desk opened by a signed-in operator in chromium with an empty cache: every response from
    the console with its encoded body size (as transferred) and its decoded size."""
    from playwright.async_api import Request as BrowserRequest
    from playwright.async_api import async_playwright

    from tests.support.browser import chromium_executable

    finished: list[BrowserRequest] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), headless=True, chromium_sandbox=False
        )
        try:
            context = await browser.new_context(
                locale="fa-IR", timezone_id="Asia/Tehran", viewport={"width": 1280, "height": 800}
            )
            await context.add_cookies([{"name": "samad_session", "value": cookie, "url": console}])
            page = await context.new_page()
            page.on("requestfinished", lambda request: finished.append(request))
            await page.goto(console + "/desk", wait_until="networkidle")
            await page.evaluate("document.fonts.ready.then(() => true)")
            await page.wait_for_load_state("networkidle")
            rows = []
            accept_encoding = ""
            for request in finished:
                if not request.url.startswith(console):
                    continue
                response = await request.response()
                sizes = await request.sizes()
                decoded = len(await response.body()) if response else 0
                if request.resource_type == "document":
                    accept_encoding = (await request.all_headers()).get("accept-encoding", "")
                rows.append(
                    {
                        "path": request.url.removeprefix(console),
                        "type": request.resource_type,
                        "status": response.status if response else None,
                        "encoding": (response.headers.get("content-encoding") if response else None) or "-",
                        "body_bytes": sizes["responseBodySize"],
                        "header_bytes": sizes["responseHeadersSize"],
                        "decoded_bytes": decoded,
                    }
                )
            title = await page.title()
        finally:
            await browser.close()
    return {
        "title": title,
        "accept_encoding": accept_encoding,
        "responses": rows,
        "body_bytes": sum(r["body_bytes"] for r in rows),
        "header_bytes": sum(r["header_bytes"] for r in rows),
        "decoded_bytes": sum(r["decoded_bytes"] for r in rows),
    }


# --- the run -------------------------------------------------------------------------------------------


async def census_of(args: argparse.Namespace, services: dict[str, Service]) -> dict[str, Any]:
    """The MongoDB command census of intake and the console so far (bench/instrument.py writes it
    every 2 s: waited for, so it holds every command made before the call)."""
    await asyncio.sleep(2.5)
    found: dict[str, Any] = {}
    for name in ("intake", "console"):
        path = services[name].logdir / f"{name}-census.json"
        found[name] = json.loads(path.read_text()) if path.exists() else {}
    return found


def census_change(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per service, the commands made between two censuses by database command and filter shape:
    how many, and the milliseconds the driver waited for them (round trip included)."""
    change: dict[str, Any] = {}
    for name, now in after.items():
        then = before.get(name, {})
        rows = {}
        for shape, calls in now.get("calls", {}).items():
            n = calls - then.get("calls", {}).get(shape, 0)
            if n:
                ms = now["time_ms"].get(shape, 0) - then.get("time_ms", {}).get(shape, 0)
                rows[shape.split("|", 1)[-1]] = {"calls": n, "ms": round(ms, 1), "avg_ms": round(ms / n, 1)}
        change[name] = dict(sorted(rows.items(), key=lambda kv: -kv[1]["ms"]))
    return change


async def measure(
    args: argparse.Namespace,
    profile: StackProfile,
    services: dict[str, Service],
    seeded: list[Seeded],
    report: dict[str, Any],
) -> None:
    console = services["console"].url
    outbox = Path(services["notify"].env["SAMAD_SMS_FILE_PATH"])
    salt = random.randrange(1, 1_000)

    say(f"signing in {OPERATORS} operators in chromium through Keycloak's login form")
    from tests.support import identity

    allow_console_address(profile, console, say)
    identity.use_profile(profile.name)
    users = [(f"bench-operator-{n:02d}", "") for n in range(1, OPERATORS + 1)]
    users = [(name, identity.ensure_user(name, "operator")) for name, _ in users]
    operators = await sign_in(console, users)
    tokens = [identity.password_token(name, password)[0] for name, password in users]
    intake = httpx.AsyncClient(base_url=services["intake"].url, timeout=30, limits=LIMITS)
    operator = operators[0]

    try:
        if not args.submit_only:  # the pages and the suggestion (--submit-only: only the submits)
            say("registering 10 cases at the desk and waiting for their SMS (the SMS fragment's cases)")
            desk_cases = [
                c for c in [await register_at_desk(operator, i, salt, None) for i in range(10)] if c
            ]
            delivered = await wait_sms_delivered(operator, desk_cases, timeout=90)
            report["desk_cases"] = {"registered": len(desk_cases), "with_both_sms_delivered": delivered}

            open_phones = sorted({c.phone for c in seeded})
            answered = [c for c in seeded if c.status == "resolved"]
            rng = random.Random(7)
            rng.shuffle(answered)
            n, w = args.samples, args.warmup
            staff = {"Accept": "text/html"}
            fragment = {"HX-Request": "true"}
            pages: dict[str, Timings] = {}

            say(f"timing every page: {w} unrecorded, then {n} requests each, one at a time")

            async def desk(i: int, t: Timings | None) -> Any:
                return await timed(operator.http, "GET", "/desk", t, marker="تماس جدید", headers=staff)

            async def find_phone(i: int, t: Timings | None) -> Any:
                phone = open_phones[i * 37 % len(open_phones)]
                return await timed(
                    operator.http, "GET", f"/desk/find?q={phone}", t, marker="/desk/cases/", headers=staff
                )

            async def find_code(i: int, t: Timings | None) -> Any:
                code = seeded[i * 53 % len(seeded)].tracking_code
                return await timed(operator.http, "GET", f"/desk/find?q={code}", t, status=303, headers=staff)

            async def case_page(i: int, t: Timings | None) -> Any:
                case = answered[i % len(answered)]
                return await timed(
                    operator.http,
                    "GET",
                    f"/desk/cases/{case.case_id}",
                    t,
                    marker="سابقهٔ پرونده",
                    headers=staff,
                )

            async def screen_pop(i: int, t: Timings | None) -> Any:
                phone = open_phones[i * 41 % len(open_phones)]
                return await timed(
                    operator.http,
                    "GET",
                    f"/desk/caller?caller_phone={phone}",
                    t,
                    marker="پیوند به این پرونده",
                    headers=fragment,
                )

            async def sms_fragment(i: int, t: Timings | None) -> Any:
                case_id = desk_cases[i % len(desk_cases)]
                return await timed(
                    operator.http, "GET", f"/desk/cases/{case_id}/sms", t, marker="<table", headers=fragment
                )

            for name, request in (
                ("desk (GET /desk)", desk),
                ("find by phone", find_phone),
                ("find by tracking code (-> case)", find_code),
                ("case page with its timeline", case_page),
                ("screen-pop fragment", screen_pop),
                ("SMS fragment", sms_fragment),
            ):
                pages[name] = await sample(name, request, n, w)

            citizen = Person("citizen", client(console))
            first = await citizen.http.get("/status")
            citizen.csrf = csrf_of(first.text)

            async def start_first_visit(i: int, t: Timings | None) -> Any:
                async with client(console) as newcomer:  # no cookie: the session is created
                    return await timed(newcomer, "GET", "/", t, marker="پیگیری درخواست")

            async def start(i: int, t: Timings | None) -> Any:
                return await timed(citizen.http, "GET", "/", t, marker="پیگیری درخواست")

            async def status_form(i: int, t: Timings | None) -> Any:
                return await timed(citizen.http, "GET", "/status", t, marker="کد رهگیری")

            async def status(i: int, t: Timings | None) -> Any:
                case = seeded[i * 71 % len(seeded)]
                # A different citizen each time (from the benchmark range 198.18.0.0/15): tracking's
                # per-client limit is not what is timed.
                address = f"198.18.{i // 250 % 250}.{i % 250 + 1}"
                return await timed(
                    citizen.http,
                    "POST",
                    "/status",
                    t,
                    marker="مراحل رسیدگی",
                    data={
                        "csrf_token": citizen.csrf,
                        "tracking_code": case.tracking_code,
                        "phone": case.phone[-4:],
                    },
                    headers={"X-Forwarded-For": address},
                )

            async def register_start(i: int, t: Timings | None) -> Any:
                return await timed(citizen.http, "GET", "/register", t, marker="ثبت درخواست تازه")

            async def register_phone(i: int, t: Timings | None) -> Any:
                return await timed(citizen.http, "GET", "/register/phone", t, marker="شماره همراه")

            for name, request in (
                ("citizen start (first visit)", start_first_visit),
                ("citizen start", start),
                ("citizen status form", status_form),
                ("citizen status of a case", status),
                ("citizen register: start", register_start),
                ("citizen register: phone", register_phone),
            ):
                pages[name] = await sample(name, request, n, w)

            # The online form's later steps, with a real one-time code from notify's SMS outbox.
            phone = f"0912{salt:03d}4567"
            sent = await citizen.http.post(
                "/register/phone", data={"csrf_token": citizen.csrf, "phone": phone}
            )
            if sent.status_code != 303:
                raise RuntimeError(f"the one-time code was not sent: {sent.status_code}")

            async def register_code(i: int, t: Timings | None) -> Any:
                return await timed(citizen.http, "GET", "/register/code", t, marker="کد تأیید را وارد کنید")

            pages["citizen register: code"] = await sample("citizen register: code", register_code, n, w)
            code = None
            for _ in range(60):
                code = otp_from_outbox(outbox, "+98" + phone[1:])
                if code:
                    break
                await asyncio.sleep(0.5)
            if code is None:
                raise RuntimeError("no one-time code in notify's SMS outbox")
            await citizen.http.post("/register/code", data={"csrf_token": citizen.csrf, "code": code})

            async def register_details(i: int, t: Timings | None) -> Any:
                return await timed(citizen.http, "GET", "/register/details", t, marker="شرح مشکل")

            pages["citizen register: details"] = await sample(
                "citizen register: details", register_details, n, w
            )
            _agency, subject, description = COMPLAINTS[0]
            await citizen.http.post(
                "/register/details",
                data={
                    "csrf_token": citizen.csrf,
                    "county": "mashhad",
                    "subject": subject,
                    "description": description,
                    "name": "",
                },
            )

            async def register_check(i: int, t: Timings | None) -> Any:
                return await timed(
                    citizen.http, "GET", "/register/check", t, marker="پاسخ‌هایتان را بررسی کنید"
                )

            pages["citizen register: check"] = await sample("citizen register: check", register_check, n, w)
            done = await citizen.http.post("/register/check", data={"csrf_token": citizen.csrf})
            if done.status_code != 303:
                raise RuntimeError(f"the online registration failed: {done.status_code}")

            async def register_done(i: int, t: Timings | None) -> Any:
                return await timed(citizen.http, "GET", "/register/done", t, marker="درخواست شما ثبت شد")

            pages["citizen register: done"] = await sample("citizen register: done", register_done, n, w)
            await citizen.http.aclose()
            report["pages"] = {name: t.figures() for name, t in pages.items()}

            say(f"routing suggestion: {n} POST /desk/suggest, one at a time, as the description is typed")
            texts = []
            for _agency, _subject, description in COMPLAINTS:
                words = description.split()
                texts += [" ".join(words[:k]) for k in range(3, len(words) + 1)]

            async def suggest(i: int, t: Timings | None) -> Any:
                return await timed(
                    operator.http,
                    "POST",
                    "/desk/suggest",
                    t,
                    data={"description": texts[i % len(texts)]},
                    headers={"X-CSRF-Token": operator.csrf, "HX-Request": "true"},
                )

            suggestions = await sample("routing suggestion", suggest, n, w)
            report["suggest"] = suggestions.figures()

        say(
            f"submit: {OPERATORS} operators press «ثبت» at the same instant, {args.rounds} rounds, "
            f"{args.pause:g} s between rounds"
        )
        census_before = await census_of(args, services) if args.census else {}
        cpu_before = {name: svc.cpu_seconds() for name, svc in services.items()}
        submits, direct, seconds = await submit_rounds(
            operators, intake, tokens, args.rounds, args.pause, salt
        )
        cpu_after = {name: svc.cpu_seconds() for name, svc in services.items()}
        report["submit"] = submits.figures() | {
            "intake_directly": direct.figures(),
            "operators": OPERATORS,
            "rounds": args.rounds,
            "pause_seconds": args.pause,
            "seconds": round(seconds, 1),
            "cases_per_second": round((len(submits.round_trip) + len(direct.round_trip)) / seconds, 1),
            "cpu_seconds": {k: round(cpu_after[k] - cpu_before[k], 1) for k in cpu_after},
        }
        if args.census:
            report["submit"]["census"] = census_change(census_before, await census_of(args, services))
        f, d = report["submit"], report["submit"]["intake_directly"]
        say(f"  submit p50 {f['round_trip_p50']} p95 {f['round_trip_p95']} ms, failures {f['failures']}")
        say(
            f"  intake directly p50 {d['round_trip_p50']} p95 {d['round_trip_p95']} ms, failures {d['failures']}"
        )

        if not args.submit_only:
            say("first load of the desk in chromium (empty cache)")
            report["first_load"] = await first_load(console, operators[1].cookie)
            say(
                f"  {report['first_load']['body_bytes']:,} body bytes in {len(report['first_load']['responses'])} responses"
            )
    finally:
        await intake.aclose()
        for person in operators:
            await person.http.aclose()


def verdict(value: float | None, target: float) -> str:
    return "MISS" if value is None or value >= target else "PASS"


def table(report: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    m = report["machine"]
    s = report["seed"]
    add(
        f"machine: {m['nproc']} cores, load average at start {m['load_average_at_start']}, at end {m['load_average_at_end']}"
    )
    add(
        f"store: {s['cases_in_tracking']:,} cases in tracking ({s['events']:,} events published to the platform's topics "
        f"in {s['publish_seconds']} s and projected by tracking's and intake's own consumers in {s['project_seconds']} s); "
        f"{s['citizen_keys']:,} citizen keys"
    )
    add("")
    pages = report.get("pages", {})
    add(
        f"1. server render time of each page (Server-Timing app;dur, ms; target p95 < {TARGETS_MS['page']:g})"
        + ("" if pages else ": not measured (--submit-only)")
    )
    add(
        f"   {'page':36} {'n':>4} {'p50':>7} {'p95':>7} {'max':>7} {'own p50':>8} {'own p95':>8} {'rt p95':>7} "
        f"{'KB':>6}  target"
    )
    for name, f in pages.items():
        size = f["body_bytes_median"] / 1000 if f["body_bytes_median"] else 0
        add(
            f"   {name:36} {f['n']:>4} {f['server_p50']!s:>7} {f['server_p95']!s:>7} {f['server_max']!s:>7} "
            f"{f['own_p50']!s:>8} {f['own_p95']!s:>8} {f['round_trip_p95']!s:>7} {size:>6.1f}  "
            f"{verdict(f['server_p95'], TARGETS_MS['page']) if not f['failures'] else 'FAIL'}"
            + (f" ({f['failures']} failed: {f['failure_examples'][0]})" if f["failures"] else "")
        )
    add(
        "   (own: the console's time less its wait for the other services, Server-Timing services;dur; rt: the "
        "round trip on 127.0.0.1 as the client saw it; KB: the decoded page)"
    )
    sub = report["submit"]
    add("")
    add(
        f"2. submit -> tracking code on screen (POST /desk round trip, ms; target p95 < {TARGETS_MS['submit']:g}): "
        f"{sub['operators']} operators at the same instant, {sub['rounds']} rounds, {sub['pause_seconds']:g} s apart"
    )
    add(
        f"   p50 {sub['round_trip_p50']}  p95 {sub['round_trip_p95']}  (server p95 {sub['server_p95']}, own p95 "
        f"{sub['own_p95']}), n {sub['n']}, "
        f"failures {sub['failures']}, {sub['cases_per_second']} cases/s overall  {verdict(sub['round_trip_p95'], TARGETS_MS['submit']) if not sub['failures'] else 'FAIL'}"
    )
    d = sub["intake_directly"]
    add(
        f"   the desk's request straight to intake's API, {sub['operators']} at once, in alternate rounds: "
        f"p50 {d['round_trip_p50']}  p95 {d['round_trip_p95']}, n {d['n']}, failures {d['failures']}"
    )
    add("   CPU seconds meanwhile: " + ", ".join(f"{k} {v}" for k, v in sub["cpu_seconds"].items()))
    for name, rows in sub.get("census", {}).items():
        add(f"   {name}'s MongoDB commands meanwhile (calls, ms waited, average):")
        for shape, r in rows.items():
            add(f"     {shape[:70]:70} {r['calls']:>6} {r['ms']:>9} {r['avg_ms']:>6}")
    if "suggest" not in report:  # --submit-only
        return "\n".join(lines)
    sug = report["suggest"]
    add("")
    add(f"3. routing suggestion (POST /desk/suggest round trip, ms; target p95 < {TARGETS_MS['suggest']:g})")
    add(
        f"   p50 {sug['round_trip_p50']}  p95 {sug['round_trip_p95']}  (server p95 {sug['server_p95']}, own p95 "
        f"{sug['own_p95']}), n {sug['n']}, "
        f"failures {sug['failures']}  {verdict(sug['round_trip_p95'], TARGETS_MS['suggest']) if not sug['failures'] else 'FAIL'}"
    )
    fl = report["first_load"]
    add("")
    add(
        f"4. the desk's first load in chromium, empty cache (Accept-Encoding: {fl['accept_encoding']}); "
        f"target < {FIRST_LOAD_TARGET / 1000:g} KB"
    )
    add(f"   {'response':40} {'type':10} {'encoding':8} {'on the wire':>11} {'decoded':>9}")
    for r in fl["responses"]:
        add(
            f"   {r['path'][:40]:40} {r['type']:10} {r['encoding']:8} {r['body_bytes']:>11,} {r['decoded_bytes']:>9,}"
        )
    add(
        f"   total: {fl['body_bytes']:,} bytes of bodies ({fl['decoded_bytes']:,} decoded) + {fl['header_bytes']:,} of headers "
        f"= {(fl['body_bytes'] + fl['header_bytes']) / 1000:.1f} KB  {verdict(fl['body_bytes'] + fl['header_bytes'], FIRST_LOAD_TARGET)}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, help="cases seeded into tracking's store (10,000)")
    parser.add_argument("--samples", type=int, help="timed requests per page (200)")
    parser.add_argument("--warmup", type=int, help="untimed requests per page first (10)")
    parser.add_argument("--rounds", type=int, help="rounds of ten submits at once (30)")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between submit rounds")
    parser.add_argument(
        "--quick", action="store_true", help="1,000 cases and few samples (unless given): checks the harness"
    )
    parser.add_argument("--profile-console", action="store_true", help="run the console under pyinstrument")
    parser.add_argument("--profile-intake", action="store_true", help="run intake under pyinstrument")
    parser.add_argument(
        "--submit-only",
        action="store_true",
        help="seed, sign in and time only the submits (no pages, suggestion or first load)",
    )
    parser.add_argument(
        "--census",
        action="store_true",
        help="count the MongoDB commands of intake and the console (bench/instrument.py)",
    )
    parser.add_argument(
        "--keep-stack", action="store_true", help="leave Kafka, FerretDB and Keycloak running"
    )
    args = parser.parse_args()
    quick = {"cases": 1_000, "samples": 30, "warmup": 3, "rounds": 5}
    full = {"cases": 10_000, "samples": 200, "warmup": 10, "rounds": 30}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:  # what is given on the command line stands
            setattr(args, name, value)
    if not port_free(CONSOLE_PORT):
        say(
            f"127.0.0.1:{CONSOLE_PORT} is taken: the console of this benchmark needs it (the realm allows it)"
        )
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    outdir = ROOT / ".local" / "bench-runs" / f"console-{stamp}"
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
    profile.start(fresh=True)
    run_id = uuid.uuid4().hex[:8]
    services = start_services(
        profile, run_id, outdir, args.profile_console, census=args.census, profile_intake=args.profile_intake
    )
    try:
        say(f"starting tracking and intake (run {run_id}, logs in {outdir.relative_to(ROOT)})")
        for name in ("tracking", "intake"):
            services[name].start()
        for name in ("tracking", "intake"):
            services[name].wait_ready()
        say(f"seeding {args.cases:,} cases: their events to the platform's topics")
        seeded, events, publish_s = asyncio.run(seed(profile, args.cases, run_id))
        say(
            f"  {events:,} events published in {publish_s:.1f} s; waiting for tracking and intake to project them"
        )
        groups = {
            f"run-{run_id}.tracking": (CASES, NOTIFICATIONS, CALLS),
            f"run-{run_id}.intake": (CASES,),
        }
        project_s = asyncio.run(wait_projected(profile, groups, timeout=1800, say=say))

        async def count() -> tuple[int, int]:
            mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(profile.mongo_url)
            try:
                db = mongo[services["tracking"].db_name]
                # Estimated (the collections' own counts): FerretDB answers a filtered count by reading
                # every document.
                return (
                    await db["cases"].estimated_document_count(),
                    await db["cases_citizens"].estimated_document_count(),
                )
            finally:
                await mongo.close()

        in_tracking, citizen_keys = asyncio.run(count())
        report["seed"] = {
            "cases": args.cases,
            "events": events,
            "publish_seconds": round(publish_s, 1),
            "project_seconds": round(project_s, 1),
            "cases_in_tracking": in_tracking,
            "citizen_keys": citizen_keys,
            "how": "events published to samad.cases.v1 and samad.notifications.v1, projected by tracking's "
            "and intake's own consumers",
        }
        say(
            f"  projected in {project_s:.1f} s: {in_tracking:,} cases in tracking, {citizen_keys:,} citizen keys"
        )
        say("starting routing, notify and the console")
        for name in ("routing", "notify", "console"):
            services[name].start()
        for name in ("routing", "notify", "console"):
            services[name].wait_ready()
        asyncio.run(measure(args, profile, services, seeded, report))
        report["rss_mb"] = {name: round(svc.rss() / 2**20, 1) for name, svc in services.items()}
    finally:
        say("stopping the services")
        for svc in services.values():
            svc.stop(timeout=120 if args.profile_console or args.profile_intake else 30)
        if not args.keep_stack:
            say("stopping the stack")
            profile.stop()
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.profile_console:
        report["console_profile"] = str((outdir / "console-profile.txt").relative_to(ROOT))
    path = RESULTS / f"console-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    print()
    print(table(report))
    print(
        f"\nreport: {path.relative_to(ROOT)}"
        + (f"; console profile: {report['console_profile']}" if args.profile_console else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
