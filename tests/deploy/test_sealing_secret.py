"""Crypto-shredding keys reach every service that seals or opens personal data, and the operator Jobs,
from the samad-sealing Secret only: never a literal value in a manifest."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from services.ops.domain.privacy import RetentionPolicy
from tests.deploy.conftest import objects, service_container

SEALING = ("intake", "routing", "tracking", "notify")


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("target", ["overlays/dev", "overlays/prod"])
@pytest.mark.parametrize("service", SEALING)
def test_services_read_the_sealing_keys_from_the_secret(
    rendered: dict[str, list[dict[str, Any]]], target: str, service: str
) -> None:
    env = _env(service_container(rendered, target, f"samad-{service}"))
    for name, key in (("SAMAD_KEKS", "keks"), ("SAMAD_INDEX_KEY", "index-key")):
        assert "value" not in env[name], f"{service}: {name} must not be written in the manifest"
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "samad-sealing" and ref["key"] == key
        assert ref.get("optional") is False


def test_no_overlay_renders_the_sealing_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for target in rendered:
        assert not [
            s for s in objects(rendered, target, "Secret") if s["metadata"]["name"] == "samad-sealing"
        ]


def test_operator_jobs_read_the_sealing_keys_from_the_secret(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    jobs = [t for t in rendered if t.startswith("jobs/")]
    assert jobs
    for target in jobs:
        for job in objects(rendered, target, "Job"):
            (container,) = job["spec"]["template"]["spec"]["containers"]
            env = _env(container)
            assert env["SAMAD_KEKS"]["valueFrom"]["secretKeyRef"]["name"] == "samad-sealing"
            assert env["SAMAD_INDEX_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "samad-sealing"


@pytest.mark.parametrize("target", ["overlays/dev", "overlays/prod"])
def test_a_nightly_cronjob_applies_the_retention_policy(
    rendered: dict[str, list[dict[str, Any]]], target: str
) -> None:
    [cron] = [
        c for c in objects(rendered, target, "CronJob") if c["metadata"]["name"] == "samad-privacy-purge"
    ]
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"] == "Asia/Tehran"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "samad-ops"
    (container,) = pod["containers"]
    assert container["command"] == ["samad"]
    assert container["args"][:3] == ["privacy", "purge", "--apply"]
    env = _env(container)
    assert env["SAMAD_KEKS"]["valueFrom"]["secretKeyRef"]["name"] == "samad-sealing"
    assert env["SAMAD_MONGO_URL"]["valueFrom"]["secretKeyRef"]["name"] == "samad-ops-mongodb"
    # The policy it applies is configuration: a ConfigMap mounted where SAMAD_PRIVACY_RETENTION_FILE points.
    path = env["SAMAD_PRIVACY_RETENTION_FILE"]["value"]
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config = next(
        c
        for c in objects(rendered, target, "ConfigMap")
        if c["metadata"]["name"] == volume["configMap"]["name"]
    )
    policy = RetentionPolicy.from_mapping(yaml.safe_load(config["data"][path.rsplit("/", 1)[1]]))
    assert policy.erase_after.days > 365
    assert pod["securityContext"]["runAsNonRoot"] is True
