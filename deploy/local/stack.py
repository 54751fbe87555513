"""Local stack: a real single-node Kafka (KRaft), FerretDB (MongoDB wire protocol on SQLite) and
Keycloak (the OpenID Connect provider, deploy/local/keycloak.py), and with tracing on, Jaeger (the trace
receiver, deploy/local/jaeger.py).

    python deploy/local/stack.py install                 # fetch Kafka and Keycloak, build FerretDB and
                                                         # Jaeger, the console's assets, Debian's chromium
    python deploy/local/stack.py start  [--profile dev] [--tracing]
                                                         # start all three (four with --tracing or
                                                         # SAMAD_TRACING=1), wait until ready, create topics
    python deploy/local/stack.py start-jaeger [--profile dev]   # Jaeger alone, on a running stack
    python deploy/local/stack.py stop   [--profile dev]
    python deploy/local/stack.py status [--profile dev]
    python deploy/local/stack.py restart-kafka [--profile dev] [--down SECONDS]     # an outage
    python deploy/local/stack.py restart-ferretdb [--profile dev] [--down SECONDS]

Profiles keep `make up` (dev) and `make test` (test) apart: own ports, own data under .local/<profile>/.
Everything is idempotent: start on a running stack checks it and returns; stop on a stopped one too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
KAFKA_LIBS = LOCAL / "kafka" / "libs"
FERRETDB_BIN = LOCAL / "bin" / "ferretdb"
FERRETDB_VERSION = "v1.24.2"
# FerretDB 1.24's SQLite backend has two flaws that the local stack patches (deploy/local/
# ferretdb-1.24-sqlite.patch, applied before `go install`):
# - it creates the unique _id index on `_ferretdb_sjson->"_id"` but queries `_ferretdb_sjson->'$._id'`;
#   SQLite matches index expressions textually, so every lookup, update and delete by _id scanned the
#   whole table (measured on 20,000 documents: replace_one by _id 12/s unpatched, 644/s patched), and
#   a filter on _id plus other fields was never pushed down at all;
# - an update command kept every statement's query cursor (and its SQLite connection) open until the
#   whole command ended, so about 100 updates in one bulk, or in flight at once, used up the database's
#   100 connections and FerretDB stopped answering.
FERRETDB_PATCH = ROOT / "deploy" / "local" / "ferretdb-1.24-sqlite.patch"
FERRETDB_BUILD = f"{FERRETDB_VERSION}+samad-sqlite-patch-2"
KAFKA_POM = ROOT / "deploy" / "local" / "kafka" / "pom.xml"
KAFKA_LOG4J = ROOT / "deploy" / "local" / "kafka" / "log4j2.properties"

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import chromium  # noqa: E402 - deploy/local/chromium.py, beside this file
import console_assets  # noqa: E402 - deploy/local/console_assets.py, beside this file
import jaeger  # noqa: E402 - deploy/local/jaeger.py, beside this file
import keycloak  # noqa: E402 - deploy/local/keycloak.py, beside this file
import keys  # noqa: E402 - deploy/local/keys.py, beside this file
import promtool  # noqa: E402 - deploy/local/promtool.py, beside this file
import zipkin  # noqa: E402 - deploy/local/zipkin.py, beside this file


@dataclass(frozen=True)
class Profile:
    name: str
    kafka_port: int
    controller_port: int
    mongo_port: int
    keycloak_port: int
    # Jaeger: OTLP/HTTP in, the query service's HTTP (API and UI page) and gRPC ports.
    otlp_port: int = 0
    jaeger_port: int = 0
    jaeger_grpc_port: int = 0

    @property
    def keycloak_management_port(self) -> int:
        return self.keycloak_port + 1

    @property
    def otlp_endpoint(self) -> str:
        """What the services export spans to (SAMAD_OTLP_ENDPOINT)."""
        return f"http://127.0.0.1:{self.otlp_port}"

    @property
    def zipkin_port(self) -> int:
        """Zipkin (the trace UI of `make up`): its usual port for dev, the one after Jaeger's otherwise."""
        return (
            9411 if self.name == "dev" and not os.environ.get("SAMAD_STACK_PORTS") else self.jaeger_port + 1
        )

    @property
    def zipkin_url(self) -> str:
        return f"http://127.0.0.1:{self.zipkin_port}"

    @property
    def jaeger_url(self) -> str:
        """Jaeger's query service: the API under /api/."""
        return f"http://127.0.0.1:{self.jaeger_port}"

    @property
    def keycloak_state(self) -> Path:
        """Issuer, JWKS address, the seed users' passwords and the services' client secret."""
        return self.home / "keycloak.json"

    @property
    def home(self) -> Path:
        return LOCAL / self.name

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"


# Every port sits below Linux's ephemeral range (32768-60999 by default). A client that keeps
# reconnecting to a stopped Kafka on a port inside that range can be given the same port as its own
# source port and connect to itself, and Kafka then cannot bind it again when it restarts.
# Jaeger keeps its usual ports for `make up` (OTLP 4318, UI 16686) and moves for the others.
PROFILES = {
    "dev": Profile("dev", 9092, 9093, 27017, 8180, 4318, 16686, 16685),
    "test": Profile("test", 19092, 19093, 27018, 18180, 14318, 16786, 16785),
    # The fault-injection tests restart Kafka and FerretDB, so they get a stack of their own.
    "faults": Profile("faults", 29092, 29093, 27019, 28180, 28318, 28386, 28385),
    "bench": Profile("bench", 24092, 24093, 27020, 24180, 24318, 24386, 24385),
    "pipeline": Profile("pipeline", 26092, 26093, 27040, 26180, 26318, 26386, 26385),
}


def profile_named(name: str) -> Profile:
    """A profile, moved by SAMAD_STACK_PORTS="kafka,controller,mongo[,keycloak]" (e.g. to run a second
    checkout's suite; below 32768, as the profiles above). Keycloak also takes the next port, Jaeger
    the three after that."""
    p = PROFILES[name]
    if not os.environ.get("SAMAD_STACK_PORTS"):
        return p
    ports = [int(x) for x in os.environ["SAMAD_STACK_PORTS"].split(",")]
    kc = ports[3] if len(ports) > 3 else p.keycloak_port
    return Profile(p.name, ports[0], ports[1], ports[2], kc, kc + 2, kc + 3, kc + 4)


class StackError(RuntimeError):
    pass


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def need(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(f"{tool} is not on PATH: {hint}")
    return path


# --- install -------------------------------------------------------------------------------------


def install() -> None:
    if not KAFKA_LIBS.exists() or not any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        need("java", "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
        mvn = need("mvn", "install Maven (Debian: apt-get install maven)")
        say("fetching Apache Kafka jars with Maven")
        tmp = KAFKA_LIBS.with_name("libs.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={tmp}",
                "-DincludeScope=runtime",
            ],
            check=True,
        )
        shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
        tmp.rename(KAFKA_LIBS)
    marker = FERRETDB_BIN.with_suffix(".build")
    if not FERRETDB_BIN.exists() or not marker.exists() or marker.read_text().strip() != FERRETDB_BUILD:
        go = need("go", "install Go 1.22+ (https://go.dev/doc/install)")
        say(f"building FerretDB {FERRETDB_VERSION} with go install")
        out = subprocess.run(
            [go, "mod", "download", "-json", f"github.com/FerretDB/FerretDB@{FERRETDB_VERSION}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        src_dir = Path(json.loads(out)["Dir"])
        build = LOCAL / "src" / "ferretdb"
        shutil.rmtree(build, ignore_errors=True)
        shutil.copytree(src_dir, build)
        for p in build.rglob("*"):
            p.chmod(p.stat().st_mode | 0o200)
        build.chmod(build.stat().st_mode | 0o200)
        # The module does not ship the generated version file that FerretDB's own build writes;
        # FerretDB's message asks for exactly this file.
        (build / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")
        git = need("git", "install git (Debian: apt-get install git)")
        subprocess.run([git, "apply", "-p1", str(FERRETDB_PATCH)], cwd=build, check=True)
        env = {**os.environ, "GOBIN": str(FERRETDB_BIN.parent), "GOFLAGS": "-mod=mod"}
        subprocess.run([go, "install", "./cmd/ferretdb"], cwd=build, env=env, check=True)
        marker.write_text(FERRETDB_BUILD + "\n")
    keycloak.install()
    # The test suite's trace test needs the receiver and its alert tests need promtool.
    jaeger.install()
    promtool.install()
    console_assets.install()
    chromium.install()
    say(
        "installed: Kafka jars in .local/kafka/libs, FerretDB, Jaeger and promtool in .local/bin, Keycloak "
        "in .local/keycloak, the console's assets in services/console/static, chromium for the browser tests"
    )


# --- processes -----------------------------------------------------------------------------------


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def spawn(name: str, argv: list[str], profile: Profile, env: dict[str, str] | None = None) -> None:
    profile.logs.mkdir(parents=True, exist_ok=True)
    log = open(profile.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=profile.home,
    )
    (profile.home / f"{name}.pid").write_text(str(proc.pid))


def wait_until(check, what: str, timeout: float, pidfile: Path, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if pid_alive(pidfile) is None:
            tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
            raise StackError(f"{what} exited while starting; last lines of {log}:\n" + "\n".join(tail))
        time.sleep(0.2)
    raise StackError(f"{what} not ready after {timeout:.0f}s; see {log}")


def start_kafka(p: Profile) -> None:
    pidfile = p.home / "kafka.pid"
    if pid_alive(pidfile) and port_open(p.kafka_port):
        say(f"Kafka already running on {p.bootstrap}")
        return
    for port in (p.kafka_port, p.controller_port):
        if port_open(port):
            raise StackError(
                f"port {port} is in use by another program; stop it (ss -ltnp 'sport = :{port}')"
            )
    java = need("java", "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
    if not KAFKA_LIBS.exists():
        raise StackError("Kafka jars missing: run `python deploy/local/stack.py install` (or make install)")
    data = p.home / "kafka-data"
    data.mkdir(parents=True, exist_ok=True)
    props = p.home / "kafka.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{p.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{p.kafka_port},CONTROLLER://127.0.0.1:{p.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{p.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={data}",
                "auto.create.topics.enable=false",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=12",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=-1",
                "",
            ]
        )
    )
    classpath = str(KAFKA_LIBS / "*")
    jvm = [
        java,
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
        "-cp",
        classpath,
    ]
    if not (data / "meta.properties").exists():
        say("formatting Kafka storage (first start)")
        cluster_id = (
            subprocess.run(
                jvm + ["kafka.tools.StorageTool", "random-uuid"], check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        subprocess.run(
            jvm + ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
            check=True,
            capture_output=True,
            text=True,
        )
    spawn("kafka", jvm + ["kafka.Kafka", str(props)], p)
    wait_until(lambda: port_open(p.kafka_port), "Kafka", 90, pidfile, p.logs / "kafka.log")
    asyncio.run(_wait_kafka_metadata(p))
    say(f"Kafka ready on {p.bootstrap}")


async def _wait_kafka_metadata(p: Profile) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + 60
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=p.bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
        finally:
            await admin.close()


def start_ferretdb(p: Profile) -> None:
    pidfile = p.home / "ferretdb.pid"
    if pid_alive(pidfile) and port_open(p.mongo_port):
        say(f"FerretDB already running on 127.0.0.1:{p.mongo_port}")
        return
    if port_open(p.mongo_port):
        raise StackError(
            f"port {p.mongo_port} is in use by another program; stop it (ss -ltnp 'sport = :{p.mongo_port}')"
        )
    if not FERRETDB_BIN.exists():
        raise StackError("FerretDB missing: run `python deploy/local/stack.py install` (or make install)")
    data = p.home / "ferretdb-data"
    data.mkdir(parents=True, exist_ok=True)
    spawn(
        "ferretdb",
        [
            str(FERRETDB_BIN),
            "--handler=sqlite",
            # WAL with synchronous=NORMAL: a commit survives FerretDB being killed (the fault tests
            # do that); only an OS crash can lose the last commits. About twice the write rate of FULL.
            f"--sqlite-url=file:{data}/?_pragma=synchronous(normal)",
            f"--listen-addr=127.0.0.1:{p.mongo_port}",
            f"--state-dir={p.home}",
            # SAMAD_FERRETDB_DEBUG_ADDR=127.0.0.1:8088 serves Go's pprof there, to profile the database.
            f"--debug-addr={os.environ.get('SAMAD_FERRETDB_DEBUG_ADDR', '-')}",
            "--telemetry=disable",
            "--log-level=WARN",
        ],
        p,
    )
    wait_until(lambda: port_open(p.mongo_port), "FerretDB", 30, pidfile, p.logs / "ferretdb.log")
    from pymongo import MongoClient

    with MongoClient(p.mongo_url, serverSelectionTimeoutMS=10000) as client:
        client.admin.command("ping")
    say(f"FerretDB ready on 127.0.0.1:{p.mongo_port}")


async def create_topics(p: Profile) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from contracts.topics import TOPICS

    admin = AIOKafkaAdminClient(bootstrap_servers=p.bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(t.name, t.partitions, 1, topic_configs=t.config)
            for t in TOPICS
            if t.name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
            say("created topics: " + ", ".join(t.name for t in missing))
    finally:
        await admin.close()


def stop_process(name: str, p: Profile, timeout: float = 30) -> None:
    pidfile = p.home / f"{name}.pid"
    pid = pid_alive(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pidfile):
        time.sleep(0.2)
    if pid_alive(pidfile):
        os.killpg(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    say(f"stopped {name}")


def spawn_keycloak(p: Profile) -> str | None:
    """Start Keycloak without waiting (it takes about 20 s); the admin password when it was started."""
    pidfile = p.home / "keycloak.pid"
    if pid_alive(pidfile) and port_open(p.keycloak_port) and p.keycloak_state.exists():
        say(f"Keycloak already running on {keycloak.base_url(p.keycloak_port)}")
        return None
    stop_process("keycloak", p)
    for port in (p.keycloak_port, p.keycloak_management_port):
        if port_open(port):
            raise StackError(
                f"port {port} is in use by another program; stop it (ss -ltnp 'sport = :{port}')"
            )
    try:
        command, env = keycloak.argv(p.keycloak_port, p.keycloak_management_port)
    except keycloak.KeycloakError as exc:
        raise StackError(str(exc)) from exc
    p.keycloak_state.unlink(missing_ok=True)
    spawn("keycloak", command, p, env=env)
    return env["KC_BOOTSTRAP_ADMIN_PASSWORD"]


def finish_keycloak(p: Profile, admin_password: str | None) -> None:
    if admin_password is None:
        return
    pidfile = p.home / "keycloak.pid"
    try:
        keycloak.wait_ready(p.keycloak_port, 420, lambda: pid_alive(pidfile) is not None)
        keycloak.provision(p.keycloak_port, admin_password, p.keycloak_state)
    except keycloak.KeycloakError as exc:
        log = p.logs / "keycloak.log"
        tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
        raise StackError(f"{exc}; last lines of {log}:\n" + "\n".join(tail)) from exc
    say(f"Keycloak ready on {keycloak.base_url(p.keycloak_port)} (realm {keycloak.REALM})")


def jaeger_running(p: Profile) -> bool:
    return (
        pid_alive(p.home / "jaeger.pid") is not None and port_open(p.jaeger_port) and port_open(p.otlp_port)
    )


def start_jaeger(p: Profile) -> None:
    """Jaeger with memory storage: spans sent to p.otlp_endpoint, queried at p.jaeger_url/api/."""
    p.home.mkdir(parents=True, exist_ok=True)
    pidfile = p.home / "jaeger.pid"
    if jaeger_running(p):
        say(f"Jaeger already running: UI and API {p.jaeger_url}, OTLP {p.otlp_endpoint}")
        return
    stop_process("jaeger", p)
    for port in (p.otlp_port, p.jaeger_port, p.jaeger_grpc_port):
        if port_open(port):
            raise StackError(
                f"port {port} is in use by another program; stop it (ss -ltnp 'sport = :{port}')"
            )
    config = p.home / "jaeger.yaml"
    config.write_text(jaeger.config(p.otlp_port, p.jaeger_port, p.jaeger_grpc_port))
    try:
        spawn("jaeger", jaeger.argv(config), p)
    except jaeger.JaegerError as exc:
        raise StackError(str(exc)) from exc

    def answers() -> bool:
        return port_open(p.otlp_port) and answers_ok(f"{p.jaeger_url}/api/services")

    wait_until(answers, "Jaeger", 30, pidfile, p.logs / "jaeger.log")
    # Where the services send spans and the tests read them back.
    (p.home / "jaeger.json").write_text(
        json.dumps({"otlp_endpoint": p.otlp_endpoint, "query_url": p.jaeger_url}, indent=2) + "\n"
    )
    say(f"Jaeger ready: UI and API {p.jaeger_url}, OTLP {p.otlp_endpoint}")


def answers_ok(url: str) -> bool:
    """Whether ``url`` answers 200 within a second."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def zipkin_running(p: Profile) -> bool:
    return pid_alive(p.home / "zipkin.pid") is not None and port_open(p.zipkin_port)


def start_zipkin(p: Profile) -> None:
    """Zipkin with memory storage, for its web UI: the services send it a copy of every span
    (SAMAD_ZIPKIN_ENDPOINT) and a person opens p.zipkin_url. Fetched on first use."""
    p.home.mkdir(parents=True, exist_ok=True)
    pidfile = p.home / "zipkin.pid"
    if zipkin_running(p):
        say(f"Zipkin already running: UI {p.zipkin_url}")
        return
    stop_process("zipkin", p)
    if port_open(p.zipkin_port):
        raise StackError(
            f"port {p.zipkin_port} is in use by another program; stop it (ss -ltnp 'sport = :{p.zipkin_port}')"
        )
    try:
        zipkin.install()
        argv, env = zipkin.argv(p.zipkin_port)
    except (zipkin.ZipkinError, keycloak.KeycloakError, subprocess.CalledProcessError) as exc:
        raise StackError(f"Zipkin: {exc}") from exc
    spawn("zipkin", argv, p, env={**os.environ, **env})

    wait_until(lambda: answers_ok(f"{p.zipkin_url}/health"), "Zipkin", 120, pidfile, p.logs / "zipkin.log")
    say(f"Zipkin ready: UI {p.zipkin_url}")


def tracing_asked() -> bool:
    return os.environ.get("SAMAD_TRACING", "").strip().lower() in ("1", "true", "yes", "on")


def start(p: Profile, *, tracing: bool = False, trace_ui: bool = False) -> None:
    p.home.mkdir(parents=True, exist_ok=True)
    keys.ensure(p.home)  # the sealing keys the services of this profile are given
    # Keycloak starts first and is waited for last: its start overlaps the others'.
    admin_password = spawn_keycloak(p)
    start_ferretdb(p)
    start_kafka(p)
    asyncio.run(create_topics(p))
    if tracing:
        start_jaeger(p)
    if tracing and trace_ui:
        start_zipkin(p)
    finish_keycloak(p, admin_password)


def stop(p: Profile) -> None:
    stop_process("kafka", p)
    stop_process("ferretdb", p)
    stop_process("keycloak", p)
    stop_process("jaeger", p)
    stop_process("zipkin", p)


def status(p: Profile) -> bool:
    ok = True
    for name, port in (("kafka", p.kafka_port), ("ferretdb", p.mongo_port), ("keycloak", p.keycloak_port)):
        alive = pid_alive(p.home / f"{name}.pid") is not None and port_open(port)
        ok &= alive
        say(f"{name:9} {'running' if alive else 'stopped'} on 127.0.0.1:{port}")
    # Jaeger runs only with tracing on: reported, never a reason to call the stack down.
    say(f"{'jaeger':9} {'running' if jaeger_running(p) else 'stopped'} on {p.jaeger_url} (optional)")
    say(f"{'zipkin':9} {'running' if zipkin_running(p) else 'stopped'} on {p.zipkin_url} (optional)")
    return ok


STARTERS = {"kafka": start_kafka, "ferretdb": start_ferretdb}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command",
        choices=[
            "install",
            "start",
            "start-jaeger",
            "stop",
            "status",
            "restart-kafka",
            "restart-ferretdb",
            "reset",
        ],
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="dev")
    parser.add_argument(
        "--tracing",
        action="store_true",
        default=tracing_asked(),
        help="start: also start Jaeger, the trace receiver (the default when SAMAD_TRACING=1)",
    )
    parser.add_argument(
        "--trace-ui",
        action="store_true",
        help="start with --tracing: also start Zipkin, whose web UI shows the traces (make up asks for it)",
    )
    parser.add_argument(
        "--down",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="restart-*: keep the component stopped this long before starting it again (an outage)",
    )
    args = parser.parse_args()
    p = profile_named(args.profile)
    try:
        if args.command == "install":
            install()
        elif args.command == "start":
            install()
            start(p, tracing=args.tracing, trace_ui=args.trace_ui)
        elif args.command == "start-jaeger":
            start_jaeger(p)
        elif args.command == "stop":
            stop(p)
        elif args.command == "status":
            return 0 if status(p) else 1
        elif args.command.startswith("restart-"):
            component = args.command.removeprefix("restart-")
            stop_process(component, p)
            time.sleep(args.down)
            STARTERS[component](p)
        elif args.command == "reset":
            stop(p)
            shutil.rmtree(p.home, ignore_errors=True)
            say(f"removed {p.home}")
    except (
        StackError,
        keycloak.KeycloakError,
        jaeger.JaegerError,
        promtool.PromtoolError,
        console_assets.ConsoleAssetsError,
        chromium.ChromiumError,
        subprocess.CalledProcessError,
    ) as exc:
        detail = getattr(exc, "stderr", None)
        say(f"error: {exc}" + (f"\n{detail}" if detail else ""))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
