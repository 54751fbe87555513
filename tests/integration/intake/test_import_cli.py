"""`samad intake import-calls` on the scenario file, as an operator runs it, against the real Kafka."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from typing import Any

from pymongo import MongoClient

from contracts.topics import CALLS, CASES
from contracts.tracking_code import from_seed
from services.intake.adapters.call_log import SCENARIO
from tests.integration.intake.conftest import read_to_end
from tests.support.kafka import TopicReader
from tests.support.stack import KAFKA, MONGO, ROOT


def samad(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", *args],
        cwd=ROOT,
        env={**os.environ, **env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def of_session(records: list[Any], session: str) -> list[dict[str, Any]]:
    events = [json.loads(r.value) for r in records]
    return [e for e in events if e.get("data", {}).get("duty_session_id") == session]


async def test_the_duty_session_imports_as_110_81_65_and_a_rerun_publishes_nothing() -> None:
    tag = uuid.uuid4().hex[:10]
    session = f"duty-test-{tag}"
    env = {
        "SAMAD_KAFKA_BOOTSTRAP": KAFKA,
        "SAMAD_MONGO_URL": MONGO,
        "SAMAD_DB_NAME": f"samad_intake_test_{tag}",
    }
    args = ("intake", "import-calls", str(SCENARIO), "--duty-session", session, "--key-prefix", f"{tag}-")
    calls, cases = await TopicReader.from_now(CALLS), await TopicReader.from_now(CASES)
    try:
        dry = samad(*args, "--dry-run", env=env)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "would publish" in dry.stdout

        first = samad(*args, env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        call_events = of_session(await read_to_end(calls), session)
        case_events = of_session(await read_to_end(cases), session)
        assert len(call_events) == 110
        assert Counter(e["data"]["outcome"] for e in call_events)["answered"] == 81
        assert [e["type"] for e in case_events] == ["ir.samad.case.registered"] * 65
        answered_calls = {e["data"]["call_id"] for e in call_events if e["data"]["outcome"] == "answered"}
        assert {e["data"]["call_id"] for e in case_events} <= answered_calls  # each case from its call
        # Codes are drawn at random: knowing the file (its call_refs) does not give them away.
        assert all(e["data"]["tracking_code"] != from_seed(e["data"]["case_id"]) for e in case_events)

        again = samad(*args, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already imported" in again.stdout
        assert len(of_session(await read_to_end(calls), session)) == 110  # nothing new
        assert len(of_session(await read_to_end(cases), session)) == 65
    finally:
        with MongoClient[dict[str, Any]](MONGO) as client:
            client.drop_database(env["SAMAD_DB_NAME"])


def test_a_bad_file_exits_non_zero_with_the_reasons(tmp_path: Any) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "call_ref,started_at,outcome,caller_phone,county,subject,description\n"
        "x1,2018-02-27 09:00:00,answered,09151234567,tehran,قطعی آب,آب قطع است\n",
        encoding="utf-8",
    )
    result = samad("intake", "import-calls", str(bad), "--dry-run", env={})
    assert result.returncode == 1
    assert "county" in result.stdout and "rows rejected" in result.stdout
    missing = tmp_path / "missing.csv"
    missing.write_text("a,b\n1,2\n", encoding="utf-8")
    assert samad("intake", "import-calls", str(missing), env={}).returncode == 2
