"""Every overlay renders, and every object in it is valid against the schema that will judge it in a cluster."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.conftest import ROOT, one

DOCS = ROOT / "docs" / "deploy.md"


def test_every_target_renders_to_objects(
    toolchain: ModuleType, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    assert set(rendered) == set(toolchain.TARGETS)
    for target, objs in rendered.items():
        assert objs, f"{target} rendered nothing"
        names = [(o["kind"], o["metadata"]["name"]) for o in objs]
        assert len(names) == len(set(names)), f"{target} renders duplicates"


@pytest.mark.parametrize(
    "target", ["overlays/dev", "overlays/prod", "jobs/offsets-show", "jobs/replay-rebuild-tracking"]
)
def test_every_object_is_valid_and_none_is_skipped(
    toolchain: ModuleType, rendered: dict[str, list[dict[str, Any]]], target: str
) -> None:
    verdicts = [toolchain.validate_object(obj) for obj in rendered[target]]
    by_method: dict[str, int] = {}
    for verdict in verdicts:
        by_method[verdict.method] = by_method.get(verdict.method, 0) + 1
    print(f"\n{target}: {len(verdicts)} objects")
    for method, count in sorted(by_method.items()):
        print(f"  {count:3d} by {method}")
    assert "none" not in by_method, [v.ref for v in verdicts if v.method == "none"]
    bad = {v.ref: v.errors for v in verdicts if v.errors}
    assert not bad, bad


def test_operator_kinds_are_judged_by_the_operators_own_crds(
    toolchain: ModuleType, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    expected = {
        "Kafka": "io.strimzi:api",
        "KafkaNodePool": "io.strimzi:api",
        "KafkaTopic": "io.strimzi:api",
        "KafkaUser": "io.strimzi:api",
        "ScaledObject": "github.com/kedacore/keda/v2",
        "TriggerAuthentication": "github.com/kedacore/keda/v2",
        "MongoDBCommunity": "github.com/mongodb/mongodb-kubernetes-operator",
        "ServiceMonitor": "github.com/prometheus-operator/prometheus-operator",
        "PrometheusRule": "github.com/prometheus-operator/prometheus-operator",
    }
    seen = {}
    for obj in rendered["overlays/prod"]:
        if obj["kind"] in expected:
            seen[obj["kind"]] = toolchain.validate_object(obj).method
    assert set(seen) == set(expected)
    for kind, source in expected.items():
        assert source in seen[kind], (kind, seen[kind])


def test_an_unknown_kind_fails_instead_of_being_skipped(toolchain: ModuleType) -> None:
    for obj in (
        {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "keda.sh/v1alpha2", "kind": "ScaledObject", "metadata": {"name": "w"}},
        {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaConnect", "metadata": {"name": "w"}},
    ):
        verdict = toolchain.validate_object(obj)
        assert verdict.method == "none"
        assert verdict.errors


MUTATIONS = [
    ("Kafka", "samad", lambda o: o["spec"]["kafka"].update(listners=[]), "listners"),
    ("KafkaTopic", "samad-cases-v1", lambda o: o["spec"].update(partitions="twelve"), "twelve"),
    (
        "KafkaUser",
        "samad-routing",
        lambda o: o["spec"]["authorization"]["acls"][0]["operations"].append("Fly"),
        "Fly",
    ),
    ("ScaledObject", "samad-routing", lambda o: o["spec"].update(maxReplicas=3), "maxReplicas"),
    ("MongoDBCommunity", "samad-mongodb", lambda o: o["spec"]["users"][0].update(password="x"), "password"),
    (
        "ServiceMonitor",
        "samad-intake",
        lambda o: o["spec"]["endpoints"][0].update(intervall="1s"),
        "intervall",
    ),
    (
        "Deployment",
        "samad-intake",
        lambda o: o["spec"]["template"]["spec"]["containers"][0].update(livenesProbe={}),
        "livenesProbe",
    ),
    ("NetworkPolicy", "samad-intake", lambda o: o["spec"].update(policyTypes="Ingress"), "policyTypes"),
]


@pytest.mark.parametrize(("kind", "name", "mutate", "word"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_typo_or_wrong_type_is_caught(
    toolchain: ModuleType,
    rendered: dict[str, list[dict[str, Any]]],
    kind: str,
    name: str,
    mutate: Any,
    word: str,
) -> None:
    obj = copy.deepcopy(one(rendered, "overlays/prod", kind, name))
    assert not toolchain.validate_object(obj).errors
    mutate(obj)
    errors = toolchain.validate_object(obj).errors
    assert errors and any(word in line for line in errors), errors


def _documented_kinds() -> set[tuple[str, str]]:
    """Rows of the table in docs/deploy.md: | `Kind` | `apiVersion` | how it is validated |."""
    rows = re.findall(
        r"^\|\s*`([A-Za-z]+)`\s*\|\s*`([\w./-]+)`\s*\|\s*(.+?)\s*\|\s*$", DOCS.read_text(), re.M
    )
    return {(kind, api) for kind, api, how in rows if how.strip()}


def test_docs_say_how_every_rendered_kind_is_validated(rendered: dict[str, list[dict[str, Any]]]) -> None:
    rendered_kinds = {(o["kind"], o["apiVersion"]) for objs in rendered.values() for o in objs}
    documented = _documented_kinds()
    assert rendered_kinds <= documented, sorted(rendered_kinds - documented)


def test_the_validator_runs_from_the_command_line(
    toolchain: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert toolchain.main(["jobs/offsets-show"]) == 0
    out = capsys.readouterr().out
    assert "Job/samad-offsets-show" in out
    assert "0 invalid object(s)" in out


def test_the_toolchain_caches_under_local(toolchain: ModuleType) -> None:
    assert Path(toolchain.kustomize()).is_relative_to(ROOT / ".local")
    assert toolchain.CACHE.is_relative_to(ROOT / ".local")
