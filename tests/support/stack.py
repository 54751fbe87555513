"""The test profile of the local stack: its own ports and data, started once per test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "local" / "stack.py"

KAFKA = os.environ.get("SAMAD_TEST_KAFKA", "127.0.0.1:19092")
MONGO = os.environ.get("SAMAD_TEST_MONGO", "mongodb://127.0.0.1:27018/")


def stack(command: str) -> None:
    subprocess.run([sys.executable, str(STACK), command, "--profile", "test"], check=True, cwd=ROOT)


def running() -> bool:
    return (
        subprocess.run(
            [sys.executable, str(STACK), "status", "--profile", "test"], cwd=ROOT, capture_output=True
        ).returncode
        == 0
    )


def sealing_env() -> dict[str, str]:
    """SAMAD_KEKS and SAMAD_INDEX_KEY of the test profile (deploy/local/keys.py made them at its start)."""
    found = json.loads((ROOT / ".local" / "test" / "keys.json").read_text())
    return {"SAMAD_KEKS": found["keks"], "SAMAD_INDEX_KEY": found["index_key"]}


def jaeger() -> dict[str, str]:
    """Start the test profile's Jaeger if it is not running (idempotent); its OTLP endpoint and query URL."""
    subprocess.run([sys.executable, str(STACK), "start-jaeger", "--profile", "test"], check=True, cwd=ROOT)
    found: dict[str, str] = json.loads((ROOT / ".local" / "test" / "jaeger.json").read_text())
    return found
