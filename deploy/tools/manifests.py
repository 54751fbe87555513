"""Offline rendering and validation of the Kubernetes manifests: kustomize, API schemas and operator CRDs.

Everything is fetched through the ordinary package clients (the Go module proxy for Go modules, Maven
for Strimzi's artifacts) and cached under .local/; a second run needs no network.

    uv run python deploy/tools/manifests.py            # render and validate every target
    uv run python deploy/tools/manifests.py overlays/prod

Every rendered object is validated by exactly one method, chosen by its API group:
- built-in Kubernetes kinds: strict JSON schemas of the Kubernetes API (the kubernetes-validate package),
  for every version in KUBERNETES_VERSIONS;
- operator kinds: the openAPIV3Schema of the operator's own CustomResourceDefinition, made strict the way
  the API server prunes (unknown fields are errors).
An object no method covers is an error, never a skip.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
LOCAL = ROOT / ".local"
BIN = LOCAL / "bin"
CACHE = LOCAL / "deploy-tools"

# kustomize v5.8.3 needs Go 1.27; v5.8.2 builds with the Go this project requires.
KUSTOMIZE_VERSION = "v5.8.2"
# The oldest and the newest Kubernetes the manifests are meant for.
KUBERNETES_VERSIONS = ("1.32.0", "1.37.0")
# Strimzi publishes its API model and its CRD generator on Maven; 0.45.0 is the newest release with both.
STRIMZI_VERSION = "0.45.0"
STRIMZI_KINDS = {
    "Kafka": "io.strimzi.api.kafka.model.kafka.Kafka",
    "KafkaNodePool": "io.strimzi.api.kafka.model.nodepool.KafkaNodePool",
    "KafkaTopic": "io.strimzi.api.kafka.model.topic.KafkaTopic",
    "KafkaUser": "io.strimzi.api.kafka.model.user.KafkaUser",
    "KafkaRebalance": "io.strimzi.api.kafka.model.rebalance.KafkaRebalance",
}


@dataclass(frozen=True)
class GoCrds:
    module: str
    version: str
    files: tuple[str, ...]

    @property
    def source(self) -> str:
        return f"Go module {self.module}@{self.version}"


GO_CRDS: dict[str, GoCrds] = {
    "keda.sh": GoCrds(
        "github.com/kedacore/keda/v2",
        "v2.18.0",
        (
            "config/crd/bases/keda.sh_scaledobjects.yaml",
            "config/crd/bases/keda.sh_triggerauthentications.yaml",
            "config/crd/bases/keda.sh_scaledjobs.yaml",
        ),
    ),
    "mongodbcommunity.mongodb.com": GoCrds(
        "github.com/mongodb/mongodb-kubernetes-operator",
        "v0.13.0",
        ("config/crd/bases/mongodbcommunity.mongodb.com_mongodbcommunity.yaml",),
    ),
    "monitoring.coreos.com": GoCrds(
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        (
            "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
        ),
    ),
}
# The Compose Specification's JSON schema, as Docker Compose itself loads it.
COMPOSE_GO = GoCrds("github.com/compose-spec/compose-go/v2", "v2.16.2", ("schema/compose-spec.json",))
STRIMZI_GROUP = "kafka.strimzi.io"
STRIMZI_SOURCE = f"Maven io.strimzi:api:{STRIMZI_VERSION} through io.strimzi:crd-generator:{STRIMZI_VERSION}"

# What the test suite renders: both overlays and every operator Job.
TARGETS = ("overlays/dev", "overlays/prod", "jobs/offsets-show", "jobs/replay-rebuild-tracking")


class ToolError(RuntimeError):
    """A tool could not be installed or run; the message says which and why."""


def _run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if proc.returncode != 0:
        raise ToolError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialise installs so two test runs on one machine do not build into the same folder."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go_env() -> dict[str, str]:
    if shutil.which("go") is None:
        raise ToolError("the Go toolchain is needed to install kustomize and fetch CRDs (go not on PATH)")
    env = dict(os.environ)
    env.update(
        GOBIN=str(BIN),
        GOMODCACHE=str(CACHE / "gomod"),
        # Writable module cache, so `make clean` (rm -rf .local) works.
        GOFLAGS="-modcacherw",
        GOTOOLCHAIN=env.get("GOTOOLCHAIN", "local"),
    )
    return env


def kustomize() -> Path:
    """The pinned kustomize, built with `go install` on first use."""
    binary = BIN / "kustomize"
    stamp = CACHE / "kustomize.version"
    with _locked("kustomize"):
        if binary.exists() and stamp.exists() and stamp.read_text() == KUSTOMIZE_VERSION:
            return binary
        BIN.mkdir(parents=True, exist_ok=True)
        _run(["go", "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"], env=_go_env())
        stamp.write_text(KUSTOMIZE_VERSION)
    return binary


def go_module_dir(module: str, version: str) -> Path:
    """Download a Go module's source zip (no build) and return its extracted folder."""
    with _locked("gomod"):
        out = _run(["go", "mod", "download", "-json", f"{module}@{version}"], env=_go_env(), cwd=CACHE)
    info = json.loads(out)
    if info.get("Error"):
        raise ToolError(f"go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def strimzi_crd_dir() -> Path:
    """Strimzi's CRDs, generated from its published API model by its own generator (as its build does)."""
    out = CACHE / f"strimzi-{STRIMZI_VERSION}"
    with _locked("strimzi"):
        if all((out / f"{kind}.yaml").exists() for kind in STRIMZI_KINDS):
            return out
        for tool in ("mvn", "java"):
            if shutil.which(tool) is None:
                raise ToolError(f"{tool} is needed to generate Strimzi's CRDs from its Maven artifacts")
        out.mkdir(parents=True, exist_ok=True)
        classpath_file = out / "classpath.txt"
        _run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(ROOT / "deploy" / "tools" / "strimzi-crds" / "pom.xml"),
                f"-Dstrimzi.version={STRIMZI_VERSION}",
                "dependency:build-classpath",
                f"-Dmdep.outputFile={classpath_file}",
            ]
        )
        targets = [f"{cls}={out / (kind + '.yaml')}" for kind, cls in STRIMZI_KINDS.items()]
        _run(
            [
                "java",
                "-cp",
                classpath_file.read_text().strip(),
                "io.strimzi.crdgenerator.CrdGenerator",
                "--target-kube",
                "1.16+",
                "--crd-api-version",
                "v1",
                "--api-versions",
                "v1beta2",
                "--storage-version",
                "v1beta2",
                "--yaml",
                *targets,
            ]
        )
    return out


# --- CRD schemas ------------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """A CRD's structural schema as a strict JSON schema: unknown fields fail, like kubeconform -strict.

    The API server silently prunes unknown fields of a structural schema, so a typo in a manifest is
    lost without a word; here it is an error.  Kubernetes' own extensions are translated:
    x-kubernetes-int-or-string, nullable, x-kubernetes-preserve-unknown-fields.
    """
    if not isinstance(schema, dict):
        return schema
    node = dict(schema)
    for key in ("properties", "patternProperties"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _strict(sub) for name, sub in node[key].items()}
    for key in ("items", "not"):
        if isinstance(node.get(key), dict):
            node[key] = _strict(node[key])
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _strict(node["additionalProperties"])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            node[key] = [_strict(sub) for sub in node[key]]
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.pop("nullable", False) and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not preserve
    ):
        node["additionalProperties"] = False
    return node


@dataclass(frozen=True)
class CrdSchema:
    group: str
    version: str
    kind: str
    source: str
    schema: dict[str, Any]


def _crds_from(path: Path, source: str) -> Iterator[CrdSchema]:
    with open(path) as handle:
        docs = list(yaml.load_all(handle, Loader=yaml.CSafeLoader))
    for doc in docs:
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            raw = (version.get("schema") or {}).get("openAPIV3Schema") or spec.get("validation", {}).get(
                "openAPIV3Schema"
            )
            if raw is None:
                raise ToolError(f"{path.name}: {spec['names']['kind']} {version['name']} has no schema")
            yield CrdSchema(spec["group"], version["name"], spec["names"]["kind"], source, _strict(raw))


@cache
def crd_schemas() -> dict[tuple[str, str, str], CrdSchema]:
    """Every operator CRD the manifests may use, keyed by (group, version, kind)."""
    found: dict[tuple[str, str, str], CrdSchema] = {}
    for group, spec in GO_CRDS.items():
        folder = go_module_dir(spec.module, spec.version)
        for rel in spec.files:
            for crd in _crds_from(folder / rel, spec.source):
                if crd.group != group:
                    raise ToolError(f"{rel} defines {crd.group}, expected {group}")
                found[(crd.group, crd.version, crd.kind)] = crd
    folder = strimzi_crd_dir()
    for kind in STRIMZI_KINDS:
        for crd in _crds_from(folder / f"{kind}.yaml", STRIMZI_SOURCE):
            found[(crd.group, crd.version, crd.kind)] = crd
    return found


OPERATOR_GROUPS = frozenset(GO_CRDS) | {STRIMZI_GROUP}


def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema from compose-go (the library Docker Compose is built on)."""
    folder = go_module_dir(COMPOSE_GO.module, COMPOSE_GO.version)
    with open(folder / COMPOSE_GO.files[0]) as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


# --- rendering and validation -------------------------------------------------------------------


def render(target: str) -> list[dict[str, Any]]:
    """`kustomize build` of deploy/k8s/<target>, parsed into objects."""
    out = _run([str(kustomize()), "build", str(K8S / target)])
    return [doc for doc in yaml.load_all(out, Loader=yaml.CSafeLoader) if doc]


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass
class Verdict:
    ref: str
    kind: str
    api_version: str
    method: str
    errors: list[str] = field(default_factory=list)


def ref_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('name')}"


def _kubernetes_method() -> str:
    return (
        f"Kubernetes API schemas, strict (kubernetes-validate; Kubernetes {', '.join(KUBERNETES_VERSIONS)})"
    )


def _error_lines(errors: Iterator[jsonschema.ValidationError]) -> list[str]:
    lines = []
    for error in errors:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        lines.append(f"{where}: {error.message[:300]}")
    return lines


def validate_object(obj: dict[str, Any]) -> Verdict:
    api_version = str(obj.get("apiVersion", ""))
    kind = str(obj.get("kind", ""))
    group, version = split_api_version(api_version)
    if group in OPERATOR_GROUPS:
        crd = crd_schemas().get((group, version, kind))
        if crd is None:
            return Verdict(
                ref_of(obj), kind, api_version, "none", [f"no CRD schema for {api_version} {kind}"]
            )
        verdict = Verdict(ref_of(obj), kind, api_version, f"{crd.group} CRD from {crd.source}")
        validator = jsonschema.Draft7Validator(crd.schema)
        verdict.errors = _error_lines(validator.iter_errors(obj))
        return verdict
    verdict = Verdict(ref_of(obj), kind, api_version, _kubernetes_method())
    for k8s in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, k8s, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            verdict.method = "none"
            verdict.errors.append(f"Kubernetes {k8s} has no schema for {api_version} {kind}")
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            verdict.errors.append(f"Kubernetes {k8s}: {where}: {error.message[:300]}")
    return verdict


def validate_target(target: str) -> list[Verdict]:
    return [validate_object(obj) for obj in render(target)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("targets", nargs="*", default=list(TARGETS), help="folders under deploy/k8s")
    args = parser.parse_args(argv)
    failed = 0
    for target in args.targets:
        verdicts = validate_target(target)
        print(f"== {target}: {len(verdicts)} objects")
        for verdict in verdicts:
            status = "ok " if not verdict.errors else "BAD"
            print(f"  {status} {verdict.ref:<48} {verdict.method}")
            for line in verdict.errors:
                print(f"        {line}")
            failed += bool(verdict.errors)
    print(f"{failed} invalid object(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
