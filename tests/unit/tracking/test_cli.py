"""`samad tracking calendar` and the reports' date checks (no services needed); `samad tokens issue`
without a local provider."""

from __future__ import annotations

from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()


def test_tokens_issue_says_when_there_is_no_local_provider() -> None:
    out = runner.invoke(app, ["tokens", "issue", "--role", "operator", "--profile", "no-such-profile"])
    assert out.exit_code != 0
    assert "make up" in out.output


def test_calendar_lists_holidays_and_slas() -> None:
    out = runner.invoke(app, ["tracking", "calendar", "--upcoming", "3"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "1405" in out.output and "1406" in out.output
    assert "water_wastewater" in out.output and "2 working days" in out.output


def test_reports_refuse_bad_days_before_reading_anything() -> None:
    # Nothing listens on this address: a report that read the database would fail differently.
    env = {"COLUMNS": "200", "SAMAD_MONGO_URL": "mongodb://127.0.0.1:9/"}
    out = runner.invoke(app, ["report", "funnel", "--from", "nope"], env=env)
    assert out.exit_code == 2 and "not a date (use 1405-09-01 or 2026-11-22)" in out.output
    out = runner.invoke(app, ["report", "weeks", "--from", "2026-12-01", "--to", "1405-09-01"], env=env)
    assert out.exit_code == 2 and "--from is after --to" in out.output
    out = runner.invoke(app, ["report", "counties", "--from", "1380-01-01", "--to", "1405-09-01"], env=env)
    assert out.exit_code == 2 and "a report covers at most 366 days" in out.output
