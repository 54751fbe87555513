"""The local trace receiver: Jaeger v2 (an OpenTelemetry Collector distribution) built from its Go
module, with in-memory storage, an OTLP/HTTP receiver and the query service (HTTP API and UI page).

Jaeger tags each v2 release with a v1.x Go module version as well (v2.11.0 is v1.74.0, so v1.75.0 is the
release after it; its binary `cmd/jaeger` is the v2 server). Its go.mod has
a replace directive, which `go install module@version` refuses, so the module is downloaded and built
from its own folder, as FerretDB is. The binary lands in .local/bin/jaeger; nothing is rebuilt while
the marker next to it names the same build.

Jaeger's web UI is a separate project (jaeger-ui) built with its own toolchain and published as release
archives only, not to a package registry, so this build serves Jaeger's placeholder page at `/` and the
full query API (`/api/services`, `/api/traces?service=...&tags=...`, `/api/traces/<trace id>`): the
`samad trace` command reads a case's trace from there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
JAEGER_BIN = LOCAL / "bin" / "jaeger"
JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_VERSION = "v1.75.0"
JAEGER_BUILD = f"{JAEGER_VERSION}+trimpath"
# How many traces the in-memory store keeps before it drops the oldest.
MAX_TRACES = 50_000


class JaegerError(RuntimeError):
    pass


def say(msg: str) -> None:
    print(f"[jaeger] {msg}", flush=True)


def installed() -> bool:
    marker = JAEGER_BIN.with_suffix(".build")
    return JAEGER_BIN.exists() and marker.exists() and marker.read_text().strip() == JAEGER_BUILD


def install() -> None:
    """Build Jaeger into .local/bin unless the same build is there. With empty Go caches that is about
    520 CPU seconds and 1.3 GB of modules (docs/observability.md); with warm ones, a link."""
    if installed():
        return
    go = shutil.which("go")
    if go is None:
        raise JaegerError("go is not on PATH: install Go 1.24+ (https://go.dev/doc/install)")
    say(f"building Jaeger {JAEGER_VERSION} (Jaeger v2) with go install")
    started = time.monotonic()
    out = subprocess.run(
        [go, "mod", "download", "-json", f"{JAEGER_MODULE}@{JAEGER_VERSION}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    src = Path(json.loads(out)["Dir"])
    build = LOCAL / "src" / "jaeger"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(src, build)
    for p in [build, *build.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    env = {
        **os.environ,
        "GOBIN": str(JAEGER_BIN.parent),
        "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local"),
    }
    JAEGER_BIN.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go, "install", "-trimpath", "-ldflags=-s -w", "./cmd/jaeger"], cwd=build, env=env, check=True
    )
    shutil.rmtree(build, ignore_errors=True)
    JAEGER_BIN.with_suffix(".build").write_text(JAEGER_BUILD + "\n")
    size = JAEGER_BIN.stat().st_size / 1024 / 1024
    say(f"built .local/bin/jaeger ({size:.0f} MiB) in {time.monotonic() - started:.0f}s")


def config(otlp_port: int, query_port: int, grpc_port: int) -> str:
    """Jaeger's configuration: OTLP over HTTP in, memory storage, the query service; only 127.0.0.1,
    only the ports given (the defaults would collide with another developer's stack)."""
    return f"""\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: warn

extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_port}
    grpc:
      endpoint: 127.0.0.1:{grpc_port}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: {MAX_TRACES}

receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_port}

processors:
  batch:

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def argv(config_path: Path) -> list[str]:
    if not JAEGER_BIN.exists():
        raise JaegerError("Jaeger missing: run `python deploy/local/stack.py install` (or make install)")
    return [str(JAEGER_BIN), f"--config={config_path}"]
