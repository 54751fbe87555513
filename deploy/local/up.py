"""`make up`: start Kafka, FerretDB and the four services in the foreground with prefixed logs.

`SAMAD_TRACING=1 make up` also starts Jaeger (OTLP receiver and query API: `samad trace <tracking
code>` prints a case's trace) and Zipkin, whose web UI at http://127.0.0.1:9411 shows it as a timeline.

Ctrl-C (or SIGTERM) stops the services gracefully, then the stack. Logs also go to .local/dev/logs/.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import keys  # noqa: E402 - deploy/local/keys.py, beside this file

SERVICES = (("intake", 8001), ("routing", 8004), ("tracking", 8002), ("notify", 8003), ("console", 8005))
COLOURS = {
    "intake": "\033[36m",
    "routing": "\033[35m",
    "tracking": "\033[32m",
    "notify": "\033[33m",
    "console": "\033[34m",
}
RESET = "\033[0m"


def pump(name: str, stream, log_path: Path) -> None:  # type: ignore[no-untyped-def]
    colour = COLOURS.get(name, "") if sys.stdout.isatty() else ""
    end = RESET if colour else ""
    with open(log_path, "ab") as log:
        for line in iter(stream.readline, b""):
            log.write(line)
            log.flush()
            text = line.decode(errors="replace").rstrip("\n")
            sys.stdout.write(f"{colour}{name:>8} |{end} {text}\n")
            sys.stdout.flush()


# Jaeger of the dev profile (deploy/local/stack.py): OTLP/HTTP in, query service and UI page.
OTLP_ENDPOINT = "http://127.0.0.1:4318"
JAEGER_URL = "http://127.0.0.1:16686"
# Zipkin of the dev profile: a copy of every span, for its web UI.
ZIPKIN_URL = "http://127.0.0.1:9411"


def tracing_asked() -> bool:
    return os.environ.get("SAMAD_TRACING", "").strip().lower() in ("1", "true", "yes", "on")


def main() -> int:
    stack = [sys.executable, str(ROOT / "deploy" / "local" / "stack.py")]
    tracing = tracing_asked()
    start = [*stack, "start", "--profile", "dev", *(["--tracing", "--trace-ui"] if tracing else [])]
    if subprocess.run(start, cwd=ROOT).returncode != 0:
        return 1
    logs = ROOT / ".local" / "dev" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    identity = json.loads((ROOT / ".local" / "dev" / "keycloak.json").read_text())
    env = {
        **os.environ,
        "SAMAD_AUTH_ISSUER": identity["issuer"],
        "SAMAD_AUTH_JWKS_URL": identity["jwks_url"],
        "SAMAD_AUTH_TOKEN_URL": identity["token_url"],
        "SAMAD_AUTH_CLIENT_ID": identity["services_client"]["client_id"],
        "SAMAD_AUTH_CLIENT_SECRET": identity["services_client"]["client_secret"],
        "SAMAD_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "SAMAD_MONGO_URL": "mongodb://127.0.0.1:27017/",
        "SAMAD_SMS_FILE_PATH": str(ROOT / ".local" / "dev" / "sms-outbox.jsonl"),
        "SAMAD_TRACKING_URL": "http://127.0.0.1:8002",
        "SAMAD_CONSOLE_URL": "http://127.0.0.1:8005",
        # Locally the console reaches tracking from 127.0.0.1 and forwards each citizen's address:
        # tracking believes it from there (in production, only from the console's and ingress' pods).
        "SAMAD_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "PYTHONUNBUFFERED": "1",
        # Personal fields sealed under the dev profile's keys (docs/privacy.md).
        **keys.service_env(ROOT / ".local" / "dev"),
    }
    if tracing:
        env["SAMAD_OTLP_ENDPOINT"] = OTLP_ENDPOINT
        env["SAMAD_JAEGER_URL"] = JAEGER_URL
        env["SAMAD_ZIPKIN_ENDPOINT"] = ZIPKIN_URL
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    for name, port in SERVICES:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append((name, proc))
        threading.Thread(target=pump, args=(name, proc.stdout, logs / f"{name}.log"), daemon=True).start()

    stopping = threading.Event()

    def stop(*_args: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    ready = wait_ready(procs, stopping)
    if ready:
        print(
            "\n  SAMAD-111 is up.\n"
            "  console   http://127.0.0.1:8005/       (the citizen's pages; staff sign in at /login: the desk is /desk)\n"
            "  intake    http://127.0.0.1:8001/docs   (operator API, Open311 at /open311/v2/)\n"
            "  tracking  http://127.0.0.1:8002/docs   (staff and citizen APIs, reports)\n"
            "  notify    http://127.0.0.1:8003/docs   (SMS ledger; outbox in .local/dev/sms-outbox.jsonl)\n"
            "  routing   http://127.0.0.1:8004/docs   (triage, duty roster, /v1/roster.ics)\n"
            "  AsyncAPI: make docs  (writes docs/asyncapi/<service>.yaml)\n"
            "  Kafka 127.0.0.1:9092, FerretDB mongodb://127.0.0.1:27017/   Ctrl-C stops everything.\n"
            + (
                f"  Traces    {ZIPKIN_URL}/zipkin/?annotationQuery=samad.tracking_code%3D<code>   (the UI:"
                " Zipkin)\n"
                f"            {JAEGER_URL}/api/traces?service=intake   (Jaeger v2's API; in a terminal:"
                " uv run samad trace <tracking code>)\n"
                if tracing
                else "  Traces: off (SAMAD_TRACING=1 make up starts Jaeger and sends every service's spans there)\n"
            )
            + f"  Identity provider (Keycloak) {identity['issuer']}\n"
            "  Local users (development only; new passwords at every start; realm deploy/local/keycloak/):\n"
            + "".join(
                f"    {name:<16} {user['password']:<18} {', '.join(user['roles'])}"
                + (
                    f" ({user['agency']}{', head' if user.get('agency_head') else ''})"
                    if user.get("agency")
                    else ""
                )
                + "\n"
                for name, user in sorted(identity["users"].items())
            )
            + "  A token for curl: uv run samad tokens issue --role operator\n",
            flush=True,
        )
    while not stopping.is_set():
        if any(p.poll() is not None for _, p in procs):
            dead = [n for n, p in procs if p.poll() is not None]
            print(f"\n  service exited: {', '.join(dead)}; stopping everything", flush=True)
            break
        time.sleep(0.5)
    for _, proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for name, proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            print(f"  {name} did not stop in 30s; killing it", flush=True)
            proc.kill()
    subprocess.run([*stack, "stop", "--profile", "dev"], cwd=ROOT)
    return 0


def wait_ready(procs: list[tuple[str, subprocess.Popen[bytes]]], stopping: threading.Event) -> bool:
    import httpx

    pending = {name: port for name, port in SERVICES}
    deadline = time.monotonic() + 90
    while pending and not stopping.is_set() and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if any(p.poll() is not None for _, p in procs):
            return False
        time.sleep(0.3)
    return not pending


if __name__ == "__main__":
    sys.exit(main())
