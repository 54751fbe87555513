"""`samad routing classify` and `samad routing evaluate` as a user runs them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()


def test_classify_reads_and_writes_json_lines() -> None:
    lines = [
        {"text": "قبض آب این ماه چهار برابر شده"},
        {"text": "سلام"},
        {"text": "كارت ملي من صادر نشده"},
    ]
    given = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json\n"
    result = runner.invoke(app, ["routing", "classify"], input=given)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 4
    assert out[0]["agency"] == "water_wastewater" and 0.45 <= out[0]["confidence"] <= 1
    assert any("قبض آب" in line for line in out[0]["explanation"])
    assert out[1]["agency"] is None  # triage
    assert out[2]["agency"] == "civil_registration"
    assert out[3]["agency"] is None and "error" in out[3]


def test_evaluate_reports_accuracy_triage_and_precision() -> None:
    result = runner.invoke(app, ["routing", "evaluate", "--set", "dev", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["complaints"] == 42
    assert 0 <= figures["triage_share"] <= 1
    assert figures["accuracy"] >= 0.9 and figures["routed_precision"] >= 0.95
