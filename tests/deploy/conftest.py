"""Fixtures for the deployment tests: the offline toolchain (deploy/tools/manifests.py) and rendered overlays."""

from __future__ import annotations

import importlib.util
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_toolchain() -> ModuleType:
    path = ROOT / "deploy" / "tools" / "manifests.py"
    spec = importlib.util.spec_from_file_location("samad_deploy_manifests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _prepare() -> tuple[ModuleType, float]:
    module = _load_toolchain()
    started = time.monotonic()
    module.kustomize()
    module.crd_schemas()
    module.compose_schema()
    return module, time.monotonic() - started


_preparing: list[Future[tuple[ModuleType, float]]] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    """On a fresh clone the toolchain takes 20 s or more to build and fetch, most of it waiting on
    go, Maven and a JVM: when deployment tests are among those collected, that starts in a thread now,
    beside the tests that run before them."""
    if any(item.nodeid.startswith("tests/deploy/") for item in session.items):
        _preparing.append(ThreadPoolExecutor(1, thread_name_prefix="deploy-toolchain").submit(_prepare))


@pytest.fixture(scope="session")
def toolchain() -> ModuleType:
    """kustomize, the operators' CRDs and the Compose schema; installed on first use, cached in .local/."""
    started = time.monotonic()
    module, took = _preparing[0].result() if _preparing else _prepare()
    print(f"\ndeploy toolchain ready in {took:.1f} s (waited {time.monotonic() - started:.1f} s for it)")
    return module


@pytest.fixture(scope="session")
def rendered(toolchain: ModuleType) -> dict[str, list[dict[str, Any]]]:
    """`kustomize build` of every target: overlays/dev, overlays/prod and each operator Job."""
    return {target: toolchain.render(target) for target in toolchain.TARGETS}


def objects(rendered: dict[str, list[dict[str, Any]]], target: str, kind: str) -> list[dict[str, Any]]:
    return [obj for obj in rendered[target] if obj["kind"] == kind]


def one(rendered: dict[str, list[dict[str, Any]]], target: str, kind: str, name: str) -> dict[str, Any]:
    found = [obj for obj in objects(rendered, target, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"{target}: expected one {kind}/{name}, found {len(found)}"
    return found[0]


# The services and their HTTP ports.
SERVICES = {"intake": 8001, "tracking": 8002, "notify": 8003, "routing": 8004, "console": 8005}


def service_container(rendered: dict[str, list[dict[str, Any]]], target: str, name: str) -> dict[str, Any]:
    (container,) = one(rendered, target, "Deployment", name)["spec"]["template"]["spec"]["containers"]
    return container


def container_env(
    rendered: dict[str, list[dict[str, Any]]], target: str, container: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The environment a container starts with: name -> {"value": ...} or {"valueFrom": ...}.

    ConfigMaps named by envFrom are read from the same render (later sources win, `env` wins over
    `envFrom`, as in Kubernetes); a Secret named by envFrom is unknown here and contributes nothing.
    """
    maps = {c["metadata"]["name"]: c.get("data", {}) for c in objects(rendered, target, "ConfigMap")}
    env: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        assert "prefix" not in source, source
        if "configMapRef" in source:
            for key, value in maps[source["configMapRef"]["name"]].items():
                env[key] = {"value": value}
    for var in container.get("env", []):
        env[var["name"]] = {k: v for k, v in var.items() if k != "name"}
    return env
