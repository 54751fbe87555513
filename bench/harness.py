"""Drive and inspect the services as separate processes on a stack profile of their own.

Used by the pipeline benchmark (profile ``pipeline``), the fault-injection tests (profile ``faults``) and
the console's benchmarks (profile ``bench``): start/stop/restart the stack, start each service as
``python -m services.<svc> --port N`` with isolated database names and consumer groups, kill -9 and
restart them, sample their memory, and build cases; for the console's benchmarks also publish a seed
to the platform's topics, wait until the services projected it, sign people in and time pages by
their Server-Timing header. Everything targets 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from contracts.events import EventData, deterministic_id, make_event
from services.ops.adapters.kafka import KafkaLog
from services.ops.domain.records import Outgoing

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "deploy" / "local" / "stack.py"
SERVICES = ("intake", "routing", "tracking", "notify")


@dataclass(frozen=True)
class StackProfile:
    """A stack profile of deploy/local/stack.py (its own ports and data under .local/<name>/)."""

    name: str
    kafka_port: int
    mongo_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    @property
    def home(self) -> Path:
        return ROOT / ".local" / self.name

    def run(self, command: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(STACK), command, "--profile", self.name, *args],
            cwd=ROOT,
            check=check,
            capture_output=True,
            text=True,
        )

    def start(self, fresh: bool = False) -> None:
        """Start Kafka and FerretDB; ``fresh`` first wipes the profile's data for a clean slate."""
        if fresh:
            self.run("reset")
        done = self.run("start", check=False)
        if done.returncode != 0:
            raise RuntimeError(f"stack {self.name} did not start:\n{done.stdout}\n{done.stderr}")

    def stop(self) -> None:
        self.run("stop", check=False)

    def sealing_env(self) -> dict[str, str]:
        """SAMAD_KEKS and SAMAD_INDEX_KEY of this profile (made by its stack's start)."""
        found = json.loads((self.home / "keys.json").read_text())
        return {"SAMAD_KEKS": found["keks"], "SAMAD_INDEX_KEY": found["index_key"]}

    def start_jaeger(self) -> str:
        """Start the profile's Jaeger (the trace receiver); the OTLP endpoint the services export to."""
        done = self.run("start-jaeger", check=False)
        if done.returncode != 0:
            raise RuntimeError(f"Jaeger of {self.name} did not start:\n{done.stdout}\n{done.stderr}")
        return str(json.loads((self.home / "jaeger.json").read_text())["otlp_endpoint"])

    def seed_token(self, role: str) -> str:
        """An access token of the profile's Keycloak for the first seed user with ``role``."""
        import httpx

        state = json.loads((self.home / "keycloak.json").read_text())
        users = state["users"]
        user = min(
            (n for n, u in users.items() if role in u["roles"]),
            key=lambda n: (bool(users[n].get("agency_head")), n),
        )
        response = httpx.post(
            state["token_url"],
            data={
                "grant_type": "password",
                "client_id": "samad-cli",
                "username": user,
                "password": state["users"][user]["password"],
            },
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def identity_env(self) -> dict[str, str]:
        """How the services verify the profile's Keycloak tokens and call each other."""
        state = json.loads((self.home / "keycloak.json").read_text())
        return {
            "SAMAD_AUTH_ISSUER": state["issuer"],
            "SAMAD_AUTH_JWKS_URL": state["jwks_url"],
            "SAMAD_AUTH_TOKEN_URL": state["token_url"],
            "SAMAD_AUTH_CLIENT_ID": state["services_client"]["client_id"],
            "SAMAD_AUTH_CLIENT_SECRET": state["services_client"]["client_secret"],
        }

    def restart(self, component: str, down: float = 0.0) -> None:
        """Stop ``kafka`` or ``ferretdb``, keep it down ``down`` seconds (an outage), start it again."""
        self.run(f"restart-{component}", "--down", f"{down:.1f}")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by the profile's Kafka and FerretDB processes."""
        out: dict[str, float] = {}
        for name in ("kafka", "ferretdb"):
            try:
                t = psutil.Process(int((self.home / f"{name}.pid").read_text())).cpu_times()
                out[name] = float(t.user + t.system)
            except (OSError, ValueError, psutil.Error):
                out[name] = 0.0
        return out


def _profile(name: str, kafka_port: int, mongo_port: int) -> StackProfile:
    """A profile at its own ports, or where SAMAD_STACK_PORTS ("kafka,controller,mongo[,keycloak]")
    moves it, as deploy/local/stack.py does: a second checkout's runs then meet their own stack."""
    moved = os.environ.get("SAMAD_STACK_PORTS")
    if moved:
        ports = [int(x) for x in moved.split(",")]
        return StackProfile(name, ports[0], ports[2])
    return StackProfile(name, kafka_port, mongo_port)


PIPELINE = _profile("pipeline", 26092, 27040)
FAULTS = _profile("faults", 29092, 27019)
BENCH = _profile("bench", 24092, 27020)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(
    profile: StackProfile, run_id: str, outdir: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment shared by the four services of one run: isolated databases and consumer groups."""
    return {
        "SAMAD_KAFKA_BOOTSTRAP": profile.bootstrap,
        "SAMAD_MONGO_URL": profile.mongo_url,
        "SAMAD_CONSUMER_GROUP_PREFIX": f"run-{run_id}",
        # The run's stack starts empty, so a group that has not committed yet must still read from
        # the start: after a kill -9 before its first commit, "latest" would skip events.
        "SAMAD_CONSUMER_OFFSET_RESET": "earliest",
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        "SAMAD_SMS_PROVIDER": "file",
        "SAMAD_SMS_FILE_PATH": str(outdir / "sms-outbox.jsonl"),
        "SAMAD_SMS_INBOX_PATH": str(outdir / "sms-inbox.jsonl"),
        # The benchmark and fault runs measure the platform, not the SMS contract: no quiet hours
        # (they would defer every SMS to the morning) and no provider rate limit.
        "SAMAD_SMS_QUIET_HOURS": "false",
        "SAMAD_SMS_RATE_PER_SECOND": "100000",
        "SAMAD_SMS_RATE_BURST": "100000",
        "SAMAD_LOG_JSON": "false",
        **profile.identity_env(),
        **(extra or {}),
    }


class Service:
    """One service process: start, wait until ready, kill -9, restart, memory."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        run_id: str,
        logdir: Path,
        wrapper: list[str] | None = None,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**env, "SAMAD_DB_NAME": f"run_{run_id}_{name}"}
        self.logdir = logdir
        self.wrapper = wrapper or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.peak_rss = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_name(self) -> str:
        return self.env["SAMAD_DB_NAME"]

    @property
    def log_path(self) -> Path:
        return self.logdir / f"{self.name}.log"

    def start(self) -> None:
        env = {**os.environ, **self.env}
        env.pop("VIRTUAL_ENV", None)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        log.write(f"\n----- start #{self.starts + 1} at {time.strftime('%H:%M:%S')} -----\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, *self.wrapper, "-m", f"services.{self.name}", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.starts += 1

    def ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.25)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def rss(self) -> int:
        """Resident memory of the process in bytes (0 when not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0
        try:
            return int(psutil.Process(self.proc.pid).memory_info().rss)
        except psutil.Error:
            return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the current process (0 when not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        try:
            t = psutil.Process(self.proc.pid).cpu_times()
            return float(t.user + t.system)
        except psutil.Error:
            return 0.0

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@dataclass
class Pipeline:
    """The four services of one run, started in dependency order and stopped together."""

    profile: StackProfile
    outdir: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    extra_env: dict[str, str] = field(default_factory=dict)
    wrappers: dict[str, list[str]] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.outdir.mkdir(parents=True, exist_ok=True)
        env = service_env(self.profile, self.run_id, self.outdir, self.extra_env)
        for name in SERVICES:
            self.services[name] = Service(name, env, self.run_id, self.outdir, self.wrappers.get(name))
        # Intake's Open311 reads case status from tracking.
        self.services["intake"].env["SAMAD_TRACKING_URL"] = self.services["tracking"].url
        self.services["intake"].env["SAMAD_PUBLIC_BASE_URL"] = self.services["tracking"].url

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    def start(self, timeout: float = 120) -> None:
        for svc in self.services.values():
            svc.start()
        for svc in self.services.values():
            svc.wait_ready(timeout)

    def stop(self, timeout: float = 30) -> None:
        for svc in self.services.values():
            svc.stop(timeout)

    def db(self, name: str) -> str:
        return self.services[name].db_name

    @property
    def groups(self) -> dict[str, str]:
        return {name: f"run-{self.run_id}.{name}" for name in SERVICES}


class RssSampler:
    """Samples each service's RSS in a background thread; keeps the peak and the last steady value."""

    def __init__(self, pipeline: Pipeline, interval: float = 0.2) -> None:
        self.pipeline = pipeline
        self.interval = interval
        self.peak: dict[str, int] = dict.fromkeys(pipeline.services, 0)
        self.samples: dict[str, list[int]] = {name: [] for name in pipeline.services}
        self.cpu_seconds: dict[str, float] = dict.fromkeys(pipeline.services, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, svc in self.pipeline.services.items():
                value = svc.rss()
                if value:
                    self.samples[name].append(value)
                    self.peak[name] = max(self.peak[name], value)
                self.cpu_seconds[name] = max(self.cpu_seconds[name], svc.cpu_seconds())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def steady(self, name: str) -> int:
        """Median of the last quarter of the samples: memory once the load has settled."""
        values = self.samples[name]
        if not values:
            return 0
        tail = sorted(values[-max(1, len(values) // 4) :])
        return tail[len(tail) // 2]


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile ``q`` (0-100) of ``values``; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


# --- the workload --------------------------------------------------------------------------------

# One realistic complaint per agency; the classifier routes each of them with confidence.
COMPLAINTS: tuple[tuple[str, str, str], ...] = (
    (
        "social_security",
        "مستمری بازنشستگی",
        "سلام، مستمری بازنشستگی پدرم از دو ماه پیش واریز نشده و شعبه تامین اجتماعی جواب درستی نمی‌دهد.",
    ),
    (
        "welfare",
        "کمک‌هزینه معلولیت",
        "فرزندم معلولیت جسمی دارد و درخواست ویلچر و کمک‌هزینه کرده‌ام ولی هنوز خبری نیست.",
    ),
    ("martyrs_foundation", "درصد جانبازی", "درصد جانبازی برادرم پس از کمیسیون پزشکی هنوز اعلام نشده است."),
    ("civil_registration", "کارت ملی", "کارت ملی هوشمند من بعد از یک سال هنوز صادر نشده است."),
    (
        "relief_committee",
        "مستمری مددجویی",
        "مستمری ماهانه مددجویی ما سه ماه است پرداخت نشده و تحت پوشش کمیته امداد هستیم.",
    ),
    (
        "tax_affairs",
        "برگ تشخیص مالیات",
        "برگ تشخیص مالیاتی مغازه من بسیار بیشتر از درآمد واقعی صادر شده است.",
    ),
    (
        "industry_mine_trade",
        "گرانفروشی",
        "فروشگاه محله ما روغن را چند برابر قیمت مصوب می‌فروشد، گرانفروشی آشکار است.",
    ),
    ("housing_foundation", "وام مسکن روستایی", "وام ساخت مسکن روستایی را گرفته‌ام ولی قسط دوم آزاد نمی‌شود."),
    ("economy_finance", "سود سهام عدالت", "سود سهام عدالت من واریز نشده است."),
    ("agriculture_jihad", "خرید تضمینی گندم", "پول گندم تحویلی کشاورزان به خرید تضمینی هنوز پرداخت نشده."),
    (
        "roads_urban_development",
        "خرابی جاده",
        "جاده بین‌شهری به سمت روستای ما پر از چاله است و تصادف زیاد شده.",
    ),
    (
        "cooperatives_labour",
        "حقوق معوق کارگران",
        "کارفرما سه ماه حقوق کارگران را نداده و به هیئت تشخیص اداره کار شکایت کرده‌ایم.",
    ),
    ("water_wastewater", "قطعی آب", "آب محله ما از دیروز قطع است و هیچ اطلاع‌رسانی نشده."),
    ("education", "شهریه مدرسه", "مدرسه دولتی پسرم برای ثبت‌نام شهریه اجباری می‌گیرد."),
)


def case_body(seq: int, run_salt: int = 0) -> dict[str, Any]:
    """A valid case for POST /v1/cases: a distinct mobile per case, so no repeat-call linking."""
    _agency, subject, description = COMPLAINTS[seq % len(COMPLAINTS)]
    number = (run_salt * 1_000_003 + seq) % 10_000_000
    return {
        "phone": f"0912{number:07d}",
        "county": "mashhad",
        "subject": subject,
        "description": f"{description} (پرونده {seq})",
    }


def sequence(start: int = 0) -> Iterator[int]:
    n = start
    while True:
        yield n
        n += 1


# --- the console's benchmarks: seeding through the topics, signing in, timing pages -----------------

# deploy/local/keycloak/samad-realm.json lets the console receive sign-ins at this port.
# The console's port in a benchmark; SAMAD_BENCH_CONSOLE_PORT moves it (the realm is told the address
# at run time, see allow_console_address), so two checkouts can run benchmarks side by side.
CONSOLE_PORT = int(os.environ.get("SAMAD_BENCH_CONSOLE_PORT", "24005"))
BROWSER_ENCODINGS = "gzip, deflate, br, zstd"  # what chromium asks for
TIMING = re.compile(r"app;dur=([0-9.]+)(?:, services;dur=([0-9.]+))?")
Say = Callable[[str], None]


def teller(name: str) -> Say:
    """A benchmark's progress lines: ``[<name> HH:MM:SS] message``."""

    def say(msg: str) -> None:
        print(f"[{name} {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    return say


async def publish(
    profile: StackProfile,
    events: Iterable[tuple[EventData, datetime]],
    run: str,
    source: str,
    now: datetime | None = None,
) -> tuple[int, float]:
    """Publish ``events`` (each with the time the service would have stamped, never after ``now``) to
    the platform's topics as the services do; how many and the seconds it took. Ids are derived from
    ``run`` and the order, so the same run publishes the same ids."""
    now = now or datetime.now(UTC)
    total = 0
    started = time.perf_counter()
    async with KafkaLog(profile.bootstrap, client_id=f"samad-{source}") as log:
        pending: list[Outgoing] = []
        for data, at in events:
            env = make_event(
                data,
                source=f"/samad/{source}",
                event_id=deterministic_id(source, "event", run, str(total)),
                time=min(at, now),
            )
            pending.append(
                Outgoing(
                    data.topic, env.key, env.to_json(), [("content-type", b"application/cloudevents+json")]
                )
            )
            total += 1
            if len(pending) >= 10_000:
                await log.send(pending)
                pending = []
        await log.send(pending)
    return total, time.perf_counter() - started


async def lag(log: KafkaLog, group: str, topics: tuple[str, ...]) -> int:
    ends = await log.ends(list(topics))
    committed = await log.committed(group)
    return sum(end - (committed.get(tp) or 0) for tp, end in ends.items())


async def wait_projected(
    profile: StackProfile, groups: dict[str, tuple[str, ...]], timeout: float, say: Say = print
) -> float:
    """Wait until every group has committed the end of its topics; the seconds it took."""
    started = time.perf_counter()
    last_said = 0.0
    async with KafkaLog(profile.bootstrap, client_id="samad-bench") as log:
        while True:
            lags = {group: await lag(log, group, topics) for group, topics in groups.items()}
            now = time.perf_counter()
            if all(v == 0 for v in lags.values()):
                return now - started
            if now - started > timeout:
                raise TimeoutError(f"the seed was not projected after {timeout:.0f} s: events left {lags}")
            if now - last_said > 10:
                say(
                    "  events still to project: "
                    + ", ".join(f"{g.split('.')[-1]} {v:,}" for g, v in lags.items())
                )
                last_said = now
            await asyncio.sleep(1.0)


@dataclass
class Person:
    """One browser: its session cookie and the session's CSRF token."""

    name: str
    http: httpx.AsyncClient
    cookie: str = ""
    csrf: str = ""


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


# Idle connections are dropped before the server's keep-alive timeout (uvicorn's 5 s) closes them:
# otherwise a request sent just as the server closes one fails, which a browser would retry.
LIMITS = httpx.Limits(keepalive_expiry=2.0)


def client(console: str, cookie: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=console,
        timeout=30,
        limits=LIMITS,
        headers={"Accept-Encoding": BROWSER_ENCODINGS, "User-Agent": "samad-console-bench"},
        cookies={"samad_session": cookie} if cookie else None,
    )


def allow_console_address(profile: StackProfile, console: str, say: Say = print) -> None:
    """Make sure the realm lets the console receive sign-ins at the benchmark's address. The realm file
    lists it, but the stack imports the realm from Keycloak's own folder, which every checkout on a
    machine shares: another checkout's copy may have been the one imported."""
    state = json.loads((profile.home / "keycloak.json").read_text())
    base = state["issuer"].split("/realms/")[0]
    with httpx.Client(timeout=30) as admin:
        token = admin.post(
            f"{base}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": state["admin_password"],
            },
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        clients = f"{base}/admin/realms/samad/clients"
        found = admin.get(clients, params={"clientId": "samad-console"}, headers=headers)
        found.raise_for_status()
        console_client = found.json()[0]
        wanted = console.rstrip("/") + "/*"
        if wanted not in console_client.get("redirectUris", []):
            console_client["redirectUris"] = [*console_client.get("redirectUris", []), wanted]
            admin.put(
                f"{clients}/{console_client['id']}", json=console_client, headers=headers
            ).raise_for_status()
            say(f"  the realm now lets the console receive sign-ins at {wanted}")


@dataclass
class Timings:
    """Round trips and the console's own times (Server-Timing), in seconds, and the failures."""

    round_trip: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)  # the server's time less its wait for other services
    failures: list[str] = field(default_factory=list)
    body_bytes: list[int] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        def ms(values: list[float], q: float) -> float | None:
            v = percentile(values, q)
            return None if v is None else round(v * 1000, 1)

        return {
            "n": len(self.round_trip),
            "failures": len(self.failures),
            "failure_examples": self.failures[:3],
            "round_trip_p50": ms(self.round_trip, 50),
            "round_trip_p95": ms(self.round_trip, 95),
            "server_p50": ms(self.server, 50),
            "server_p95": ms(self.server, 95),
            "server_max": ms(self.server, 100),
            "own_p50": ms(self.own, 50),
            "own_p95": ms(self.own, 95),
            "body_bytes_median": sorted(self.body_bytes)[len(self.body_bytes) // 2]
            if self.body_bytes
            else None,
        }


async def timed(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    into: Timings | None,
    *,
    status: int = 200,
    marker: str | None = None,
    **options: Any,
) -> httpx.Response:
    started = time.perf_counter()
    response = await http.request(method, path, **options)
    elapsed = time.perf_counter() - started
    if into is not None:
        problem = None
        if response.status_code != status:
            problem = f"{method} {path}: {response.status_code} (expected {status})"
        elif marker is not None and marker not in response.text:
            problem = f"{method} {path}: the page lacks {marker!r}"
        if problem:
            into.failures.append(problem)
        else:
            into.round_trip.append(elapsed)
            found = TIMING.search(response.headers.get("server-timing", ""))
            if found:
                into.server.append(float(found.group(1)) / 1000)
                into.own.append((float(found.group(1)) - float(found.group(2) or 0)) / 1000)
            into.body_bytes.append(len(response.content))
    return response


Request = Callable[[int, Timings | None], Awaitable[Any]]


async def sample(name: str, request: Request, samples: int, warmup: int, say: Say = print) -> Timings:
    timings = Timings()
    for i in range(warmup):
        await request(i, None)
    for i in range(samples):
        await request(warmup + i, timings)
    f = timings.figures()
    say(
        f"  {name:34} server p50 {f['server_p50']} p95 {f['server_p95']} ms (own p95 {f['own_p95']}); "
        f"round trip p95 {f['round_trip_p95']} ms; failures {f['failures']}"
    )
    return timings


def start_services(
    profile: StackProfile,
    run_id: str,
    outdir: Path,
    profile_console: bool = False,
    census: bool = False,
    profile_intake: bool = False,
) -> dict[str, Service]:
    """The five services of a console benchmark, not started: tracking and intake first, to project
    the seed; the others read from the log's end afterwards. The console listens on CONSOLE_PORT.
    ``profile_console``, ``profile_intake``: that service under pyinstrument; ``census``: intake and
    the console count their MongoDB commands (bench/instrument.py writes <service>-census.json into
    ``outdir``)."""
    env = service_env(profile, run_id, outdir)
    names = ("tracking", "intake", "routing", "notify", "console")
    instrument = ["-m", "bench.instrument", "--out", str(outdir)]
    wrappers: dict[str, list[str] | None] = {name: None for name in names}
    if census:
        wrappers["intake"] = wrappers["console"] = instrument
    if profile_console:
        wrappers["console"] = [*instrument, "--profile"]
    if profile_intake:
        wrappers["intake"] = [*instrument, "--profile"]
    services = {name: Service(name, env, run_id, outdir, wrappers[name]) for name in names}
    services["console"].port = CONSOLE_PORT
    urls = {name: svc.url for name, svc in services.items()}
    # Deadline events are not what is measured: the sweep stays off so the run's load is the pages'.
    services["tracking"].env |= {
        "SAMAD_SWEEP_INTERVAL_SECONDS": "0",
        # The console forwards each citizen's address (X-Forwarded-For): tracking's per-client limit
        # then counts the benchmark's many citizens apart, not the console as one client.
        "SAMAD_TRUSTED_PROXIES": '["127.0.0.1/32"]',
    }
    services["intake"].env |= {
        "SAMAD_TRACKING_URL": urls["tracking"],
        "SAMAD_PUBLIC_BASE_URL": urls["tracking"],
    }
    for name in ("routing", "notify", "console"):
        services[name].env["SAMAD_CONSUMER_OFFSET_RESET"] = "latest"
    services["console"].env |= {
        "SAMAD_INTAKE_URL": urls["intake"],
        "SAMAD_TRACKING_URL": urls["tracking"],
        "SAMAD_ROUTING_URL": urls["routing"],
        "SAMAD_NOTIFY_URL": urls["notify"],
        "SAMAD_CONSOLE_URL": urls["console"],
        # Each citizen's address reaches tracking's per-client limit through the console.
        "SAMAD_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "false",
    }
    return services


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
