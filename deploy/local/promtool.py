"""Prometheus' promtool, built from its Go module with `go install`, for the tests that check and unit-test
the alert rules and parse the dashboards' queries (tests/deploy/test_alerts.py, test_dashboards.py).

Prometheus publishes its Go module as v0.x versions (v0.316.0 is Prometheus 3.x's tree); the binary
lands in .local/bin/promtool and is rebuilt only when the marker next to it names another build.
Prometheus' own build tag ``remove_all_sd`` leaves out every service-discovery plugin (the cloud and
Kubernetes clients), which checking and testing rules never use: a third fewer packages to fetch and
compile, and a 52 MB binary instead of 84 MB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL_BIN = ROOT / ".local" / "bin" / "promtool"
PROMTOOL_PACKAGE = "github.com/prometheus/prometheus/cmd/promtool"
PROMTOOL_VERSION = "v0.316.0"
PROMTOOL_TAGS = "remove_all_sd"
PROMTOOL_BUILD = f"{PROMTOOL_VERSION}+{PROMTOOL_TAGS}"


class PromtoolError(RuntimeError):
    pass


def installed() -> bool:
    marker = PROMTOOL_BIN.with_suffix(".build")
    return PROMTOOL_BIN.exists() and marker.exists() and marker.read_text().strip() == PROMTOOL_BUILD


def install() -> Path:
    if installed():
        return PROMTOOL_BIN
    go = shutil.which("go")
    if go is None:
        raise PromtoolError("go is not on PATH: install Go 1.26+ (https://go.dev/doc/install)")
    print(f"[promtool] building promtool {PROMTOOL_VERSION} with go install", flush=True)
    started = time.monotonic()
    PROMTOOL_BIN.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOBIN": str(PROMTOOL_BIN.parent),
        "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local"),
    }
    subprocess.run(
        [
            go,
            "install",
            "-trimpath",
            "-ldflags=-s -w",
            f"-tags={PROMTOOL_TAGS}",
            f"{PROMTOOL_PACKAGE}@{PROMTOOL_VERSION}",
        ],
        env=env,
        check=True,
    )
    PROMTOOL_BIN.with_suffix(".build").write_text(PROMTOOL_BUILD + "\n")
    size = PROMTOOL_BIN.stat().st_size / 1024 / 1024
    print(
        f"[promtool] built .local/bin/promtool ({size:.0f} MiB) in {time.monotonic() - started:.0f}s",
        flush=True,
    )
    return PROMTOOL_BIN
