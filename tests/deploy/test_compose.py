"""deploy/compose.yaml: valid against the Compose Specification, and it runs the platform as intended."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from contracts.topics import TOPICS
from tests.deploy.conftest import ROOT, SERVICES

COMPOSE = ROOT / "deploy" / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # resolves the YAML anchors and merges
    return loaded


def test_compose_file_matches_the_compose_specification(
    toolchain: ModuleType, compose: dict[str, Any]
) -> None:
    schema = toolchain.compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, errors
    # The schema is strict: a misspelt key is an error, not ignored.
    broken = {
        **compose,
        "services": {**compose["services"], "intake": {**compose["services"]["intake"], "helthcheck": {}}},
    }
    assert any("helthcheck" in e.message for e in validator.iter_errors(broken))


def _docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    return probe.returncode == 0


def test_docker_compose_config_accepts_it_where_the_client_exists(compose: dict[str, Any]) -> None:
    """`docker compose config` where a Compose client exists; the schema test above covers every machine."""
    if not _docker_compose_available():
        print("\nno `docker compose` client here: compose.yaml is checked by the schema and the tests below")
        assert compose["services"]
        return
    env = dict(os.environ, SAMAD_AUTH_SECRET="compose-config-check")
    proc = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_it_runs_kafka_mongodb_and_the_five_services_from_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "kafka-topics", "mongodb", *SERVICES} <= set(services)
    images = {services[s]["image"] for s in SERVICES}
    assert len(images) == 1
    (image,) = images
    assert not image.endswith(":latest") and re.search(r":\d", image)
    for name in ("kafka", "kafka-topics", "mongodb"):
        tag = services[name]["image"].rpartition(":")[2]
        assert re.match(r"^\d+\.\d+\.\d+$", tag), services[name]["image"]
    for svc, port in SERVICES.items():
        spec = services[svc]
        assert spec["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert spec["command"] == ["python", "-m", f"services.{svc}", "--port", str(port)]
        assert spec["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert spec["user"] == "10001:10001" and spec["read_only"] is True and spec["cap_drop"] == ["ALL"]
        assert "/tmp" in spec["tmpfs"]


def test_services_are_configured_for_the_containers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for svc in SERVICES:
        env = services[svc]["environment"]
        assert env["SAMAD_DB_NAME"] == f"samad_{svc}"
        assert env["SAMAD_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["SAMAD_MONGO_URL"].startswith("mongodb://mongodb:27017")
        assert env["SAMAD_HTTP_HOST"] == "0.0.0.0"
        # A shared signing key is for development only; production would refuse to start with it.
        assert env["SAMAD_ENVIRONMENT"] == "development"
        # The signing secret is never in the file: Compose refuses to start without it.
        assert re.fullmatch(r"\$\{SAMAD_AUTH_SECRET:\?.+\}", env["SAMAD_AUTH_SECRET"])
    assert services["intake"]["environment"]["SAMAD_TRACKING_URL"] == "http://tracking:8002"
    # The console reaches each service by its Compose name and port, and says where browsers reach it:
    # plain http on the host, so its session cookie must not be Secure there.
    console = services["console"]["environment"]
    for svc, port in SERVICES.items():
        if svc != "console":
            assert console[f"SAMAD_{svc.upper()}_URL"] == f"http://{svc}:{port}", svc
    assert console["SAMAD_CONSOLE_URL"] == "http://127.0.0.1:8005"
    notify = services["notify"]["environment"]
    assert notify["SAMAD_SMS_PROVIDER"] == "file"
    assert notify["SAMAD_SMS_FILE_PATH"].startswith("/tmp/"), "the root filesystem is read-only"


def test_start_order_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "mongodb", *SERVICES):
        check = services[name]["healthcheck"]["test"]
        assert check[0] == "CMD" and len(check) > 1, name
    for svc, port in SERVICES.items():
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(services[svc]["healthcheck"]["test"])
        depends = services[svc]["depends_on"]
        assert depends["mongodb"]["condition"] == "service_healthy"
        assert depends["kafka-topics"]["condition"] == "service_completed_successfully"
    assert services["kafka-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_the_topics_are_created_as_the_contracts_define_them(compose: dict[str, Any]) -> None:
    script = compose["services"]["kafka-topics"]["command"][0]
    created = {}
    for line in script.splitlines():
        if "--create" not in line:
            continue
        topic = re.search(r"--topic (\S+)", line)
        partitions = re.search(r"--partitions (\d+)", line)
        assert topic and partitions, line
        configs = dict(c.split("=", 1) for c in re.findall(r"--config (\S+)", line))
        created[topic.group(1)] = (int(partitions.group(1)), configs)
    assert set(created) == {t.name for t in TOPICS}
    for spec in TOPICS:
        count, configs = created[spec.name]
        assert count == spec.partitions
        assert configs == spec.config
    assert compose["services"]["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
