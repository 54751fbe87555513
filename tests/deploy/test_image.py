"""The container image's rules, checked by reading deploy/docker/Dockerfile and .dockerignore (no engine here)."""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field

from tests.deploy.conftest import ROOT

DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with line continuations joined and comments dropped."""
    logical, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            alias = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, alias))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, rest))
    return args, stages


ARGS, STAGES = parse_dockerfile(DOCKERFILE.read_text())
RUNTIME = STAGES[-1]


def test_the_image_is_multi_stage_and_the_runtime_has_no_build_tools() -> None:
    assert len(STAGES) >= 3
    copies = [rest for kw, rest in RUNTIME.instructions if kw == "COPY"]
    assert copies and all(rest.startswith("--from=build") for rest in copies), copies
    assert not any("uv" in rest.split() for kw, rest in RUNTIME.instructions if kw in ("RUN", "COPY"))
    assert not any("apt-get install" in rest for kw, rest in RUNTIME.instructions if kw == "RUN")


def test_every_base_image_is_pinned() -> None:
    for stage in STAGES:
        image = stage.base
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert "${" not in image, f"unresolved {image}"
        assert name and tag and tag != "latest", image
        assert re.match(r"^\d+\.\d+\.\d+", tag), f"{image}: pin a full version"
    assert RUNTIME.base == STAGES[1].base, "build and runtime must share the interpreter path"
    assert "slim" in RUNTIME.base


def test_dependencies_come_from_the_lock_only() -> None:
    syncs = [rest for stage in STAGES for kw, rest in stage.instructions if kw == "RUN" and "uv sync" in rest]
    assert len(syncs) == 2
    for command in syncs:
        assert "--frozen" in command and "--no-dev" in command
    assert "--no-install-project" in syncs[0] and "--no-editable" in syncs[1]
    assert not any(
        "pip install" in rest for stage in STAGES for kw, rest in stage.instructions if kw == "RUN"
    )


def test_the_runtime_runs_as_a_non_root_user() -> None:
    users = [rest for kw, rest in RUNTIME.instructions if kw == "USER"]
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "numeric non-root uid, so runAsNonRoot can verify it"
    created = " ".join(rest for kw, rest in RUNTIME.instructions if kw == "RUN")
    assert f"--uid {uid}" in created


def test_the_image_carries_oci_labels() -> None:
    labels = " ".join(rest for kw, rest in RUNTIME.instructions if kw == "LABEL")
    found = set(re.findall(r"(org\.opencontainers\.image\.[a-z.]+)=", labels))
    required = {"title", "description", "version", "revision", "created", "licenses"}
    assert {f"org.opencontainers.image.{k}" for k in required} <= found


def test_the_command_picks_the_service() -> None:
    assert not [rest for kw, rest in RUNTIME.instructions if kw == "ENTRYPOINT"]
    env = " ".join(rest for kw, rest in RUNTIME.instructions if kw == "ENV")
    assert "SAMAD_HTTP_HOST=0.0.0.0" in env
    assert "/opt/samad/venv/bin" in env
    exposed = {int(p) for kw, rest in RUNTIME.instructions if kw == "EXPOSE" for p in shlex.split(rest)}
    assert exposed == {8001, 8002, 8003, 8004}


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a folder match covers its files."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatchcase(p, pat) or fnmatch.fnmatchcase(p, pat.replace("**/", "")) for p in prefixes
        ):
            ignored = not negate
    return ignored


def test_the_build_context_holds_what_the_build_copies_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        rest.split()[:-1] for kw, rest in STAGES[1].instructions if kw == "COPY" and "--from" not in rest
    ]
    needed = [src for sources in copied for src in sources] + ["uv.lock", "pyproject.toml"]
    for src in needed:
        assert (ROOT / src).exists(), src
        assert not dockerignored(src, patterns), f"{src} is copied but ignored"
    assert not dockerignored("contracts/data/agencies.yaml", patterns)
    for path in (
        ".git/config",
        ".venv/bin/python",
        ".local/bin/kustomize",
        "tests/conftest.py",
        "deploy/.env",
        ".env",
        "services/intake/__pycache__/app.cpython-311.pyc",
    ):
        assert dockerignored(path, patterns), f"{path} would be sent to the builder"
