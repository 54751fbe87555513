"""`faststream docs gen` produces the AsyncAPI document of every service, naming the topics it uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.topics import CALLS, CASES, NOTIFICATIONS

ROOT = Path(__file__).resolve().parents[3]
EXPECTED = {
    "intake": {CALLS, CASES},
    "routing": {CASES},
    "tracking": {CALLS, CASES, NOTIFICATIONS},
    "notify": {CASES, NOTIFICATIONS},
}


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_asyncapi_document_is_generated(service: str, tmp_path: Path) -> None:
    out = tmp_path / f"{service}.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "faststream",
            "docs",
            "gen",
            "--factory",
            f"services.{service}.entrypoints.asyncapi:asyncapi",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    doc = json.loads(out.read_text())
    assert doc["asyncapi"].startswith(("2.", "3."))
    assert doc["info"]["title"]
    text = json.dumps(doc["channels"])
    for topic in EXPECTED[service]:
        assert topic in text, f"{service}'s AsyncAPI document does not mention {topic}"
