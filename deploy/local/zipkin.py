"""The local trace UI: Zipkin's server (its executable jar from Maven Central, which carries the web UI),
with in-memory storage, for `SAMAD_TRACING=1 make up`. The services send every span to Jaeger over
OTLP (what production uses, and what `samad trace` and the tests read) and, with
SAMAD_ZIPKIN_ENDPOINT set, a copy to Zipkin, whose pages show a case's trace as a timeline.

Jaeger's own web UI is not published to a package registry (only as release archives), which is why
the local stack pairs Jaeger with Zipkin rather than building it. Zipkin is fetched on first use only
(about 130 MB), so `make test` never downloads it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import keycloak  # noqa: E402 - deploy/local/keycloak.py, beside this file: the Java finder

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
ZIPKIN_POM = Path(__file__).resolve().parent / "zipkin" / "pom.xml"
ZIPKIN_JAR = LOCAL / "zipkin" / "zipkin-server.jar"


class ZipkinError(RuntimeError):
    pass


def say(msg: str) -> None:
    print(f"[zipkin] {msg}", flush=True)


def install() -> None:
    """Fetch the server jar into .local/zipkin unless it is there."""
    if ZIPKIN_JAR.exists():
        return
    say("fetching Zipkin's server with Maven (once, about 130 MB)")
    tmp = keycloak.maven_fetch(ZIPKIN_POM, "zipkin.home", LOCAL / "zipkin.tmp")
    ZIPKIN_JAR.parent.mkdir(parents=True, exist_ok=True)
    (tmp / ZIPKIN_JAR.name).rename(ZIPKIN_JAR)
    shutil.rmtree(tmp, ignore_errors=True)
    say(f"installed: {ZIPKIN_JAR.relative_to(ROOT)}")


def argv(port: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run Zipkin on 127.0.0.1:``port`` only, spans kept in memory."""
    if not ZIPKIN_JAR.exists():
        raise ZipkinError("Zipkin missing: start the stack with --trace-ui (it fetches it)")
    java = keycloak.find_java_home() / "bin" / "java"
    return (
        [
            str(java),
            "-Xmx512m",
            # Armeria (Zipkin's HTTP server) listens where its first port entry says: this address only.
            "-Darmeria.ports[0].ip=127.0.0.1",
            f"-Darmeria.ports[0].port={port}",
            "-Darmeria.ports[0].protocols[0]=http",
            "-jar",
            str(ZIPKIN_JAR),
        ],
        {"STORAGE_TYPE": "mem", "MEM_MAX_SPANS": "500000", "QUERY_PORT": str(port)},
    )
