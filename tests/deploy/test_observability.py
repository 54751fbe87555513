"""The alert rules and the Grafana dashboards: Prometheus' own promtool checks the rules and runs their
unit tests, parses every dashboard query, and every metric they name is one the services export."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from tests.deploy.conftest import objects, one

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ROOT / "deploy" / "k8s" / "base" / "platform"
DASHBOARDS = sorted((PLATFORM / "dashboards").glob("*.json"))
OVERLAYS = ("overlays/dev", "overlays/prod")
# Series the services do not export but Prometheus makes itself.
PROMETHEUS_SERIES = {"up"}
# Every module that defines a metric: importing the HTTP apps imports them all.
APPS = [f"services.{s}.entrypoints.http" for s in ("intake", "routing", "tracking", "notify", "console")]
METRIC = re.compile(r"\b(samad_[a-z0-9_]+|up)\b")


def _load_promtool() -> ModuleType:
    path = ROOT / "deploy" / "local" / "promtool.py"
    spec = importlib.util.spec_from_file_location("samad_local_promtool", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def promtool() -> Path:
    """promtool from its Go module (built by the install step; built here if it is missing)."""
    binary: Path = _load_promtool().install()
    return binary


def rule_groups() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PLATFORM / "alerts.yaml").read_text())
    assert doc["kind"] == "PrometheusRule"
    groups: list[dict[str, Any]] = doc["spec"]["groups"]
    return groups


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def exported_series() -> set[str]:
    """Every series name the services can expose at /metrics, from prometheus_client's registry."""
    for app in APPS:
        importlib.import_module(app)
    names: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("_sum", "_count", "_created"),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # rows keep theirs inside


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels(dashboard) for t in p.get("targets", []) if t.get("expr")]


def as_promql(expr: str) -> str:
    """A dashboard query as Prometheus reads it once Grafana has filled in its variables."""
    return expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")


def run(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], cwd=cwd, capture_output=True, text=True, check=False)


# --- alerts -----------------------------------------------------------------------------------------


def test_promtool_checks_the_alert_rules(promtool: Path, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}, allow_unicode=True))
    done = run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout + done.stderr


def test_promtool_unit_tests_of_the_alerts_pass(promtool: Path, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}, allow_unicode=True))
    shutil.copy(PLATFORM / "alerts.test.yaml", tmp_path / "alerts.test.yaml")
    done = run(promtool, "test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_a_broken_expectation_fails_the_alert_unit_tests(promtool: Path, tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against rules with the stall threshold moved do."""
    groups = rule_groups()
    for rule in (r for g in groups for r in g["rules"]):
        if rule.get("alert") == "SamadConsumerStalled":
            rule["expr"] = rule["expr"].replace("> 300", "> 3000")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, allow_unicode=True))
    shutil.copy(PLATFORM / "alerts.test.yaml", tmp_path / "alerts.test.yaml")
    done = run(promtool, "test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert done.returncode != 0
    assert "SamadConsumerStalled" in done.stdout + done.stderr


def test_every_alert_the_issue_asks_for_is_there_and_unit_tested() -> None:
    wanted = {
        "SamadConsumerStalled",
        "SamadConsumerLagGrowing",
        "SamadEventsWaiting",
        "SamadDeadLetters",
        "SamadSmsFailureRate",
        "SamadReadinessFlapping",
    }
    names = {a["alert"] for a in alerts()}
    assert wanted <= names
    tests = yaml.safe_load((PLATFORM / "alerts.test.yaml").read_text())["tests"]
    tested = {
        case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case.get("exp_alerts")
    }
    assert names - tested == set(), "alerts never shown firing in alerts.test.yaml"


def test_alerts_name_only_metrics_the_services_export() -> None:
    exported = exported_series() | PROMETHEUS_SERIES
    for alert in alerts():
        used = set(METRIC.findall(alert["expr"]))
        assert used, alert["alert"]
        assert used <= exported, f"{alert['alert']}: {sorted(used - exported)} not exported by any service"


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for alert in alerts():
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]


# --- dashboards -------------------------------------------------------------------------------------


def test_there_are_the_three_dashboards() -> None:
    assert {p.stem for p in DASHBOARDS} == {"samad-pipeline", "samad-sms", "samad-sla"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_a_dashboard_is_valid_json_with_unique_panels_and_a_datasource_choice(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] == path.stem and dashboard["title"].startswith("SAMAD-111")
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
    assert queries(dashboard), f"{path.name}: no queries"
    (datasource,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert datasource["query"] == "prometheus"
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}", f"{path.name}: {panel['title']}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{path.name}: {panel['title']} is wider than the dashboard"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_dashboard_query_names_metrics_the_services_export(path: Path) -> None:
    exported = exported_series() | PROMETHEUS_SERIES
    for title, expr in queries(json.loads(path.read_text())):
        used = set(METRIC.findall(expr))
        assert used, f"{path.name}: {title}: no metric"
        assert used <= exported, (
            f"{path.name}: {title}: {sorted(used - exported)} not exported by any service"
        )


def test_promtool_parses_every_dashboard_query(promtool: Path, tmp_path: Path) -> None:
    """Each query becomes a recording rule, so promtool's rule check parses it as Prometheus would."""
    rules = []
    for path in DASHBOARDS:
        for n, (title, expr) in enumerate(queries(json.loads(path.read_text()))):
            rules.append({"record": f"dashboard:{path.stem.replace('-', '_')}:{n}", "expr": as_promql(expr)})
            assert "$" not in as_promql(expr), f"{path.name}: {title}: unknown variable in {expr}"
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})
    )
    done = run(promtool, "check", "rules", "queries.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_bad_query_is_caught_by_the_parse(promtool: Path, tmp_path: Path) -> None:
    rules = [{"record": "dashboard:bad", "expr": "sum by (service (rate(samad_events_consumed_total[5m]))"}]
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})
    )
    assert run(promtool, "check", "rules", "queries.yaml", cwd=tmp_path).returncode != 0


def test_the_manifests_provision_the_dashboards_for_grafana(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for overlay in OVERLAYS:
        cm = one(rendered, overlay, "ConfigMap", "samad-grafana-dashboards")
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert set(cm["data"]) == {p.name for p in DASHBOARDS}
        for name, text in cm["data"].items():
            assert json.loads(text) == json.loads((PLATFORM / "dashboards" / name).read_text())
        rules = objects(rendered, overlay, "PrometheusRule")
        assert [r["metadata"]["name"] for r in rules] == ["samad"]
