"""The container image's rules, checked by reading deploy/docker/Dockerfile, .dockerignore and the wheel
settings in pyproject.toml (no engine here)."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import ModuleType

import pytest

from tests.deploy.conftest import ROOT, SERVICES

DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"


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
BY_NAME = {stage.name: stage for stage in STAGES if stage.name}


def stage_named(name: str) -> Stage:
    assert name in BY_NAME, f"no stage named {name}: {list(BY_NAME)}"
    return BY_NAME[name]


def runs(st: Stage) -> list[str]:
    return [rest for kw, rest in st.instructions if kw == "RUN"]


def plain_copies(st: Stage) -> list[list[str]]:
    """Sources of each COPY from the build context (not --from another stage)."""
    copies = []
    for kw, rest in st.instructions:
        if kw == "COPY" and "--from" not in rest:
            copies.append([w for w in rest.split()[:-1] if not w.startswith("--")])
    return copies


def test_the_image_is_multi_stage_and_the_runtime_has_no_build_tools() -> None:
    assert len(STAGES) >= 4
    assert RUNTIME.name == "runtime" and {"build", "assets"} <= set(BY_NAME)
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
    assert RUNTIME.base == stage_named("build").base, "build and runtime must share the interpreter path"
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
    assert exposed == set(SERVICES.values())


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
    needed = [src for st in STAGES for sources in plain_copies(st) for src in sources]
    needed += ["uv.lock", "pyproject.toml"]
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
        # The image installs the console's npm packages and makes its assets itself, from the lockfile.
        "services/console/assets/node_modules/htmx.org/dist/htmx.min.js",
        "services/console/static/fonts/Vazirmatn-Regular.woff2",
        "services/console/static/vendor/htmx.min.js",
        "deploy/local/stack.py",
    ):
        assert dockerignored(path, patterns), f"{path} would be sent to the builder"
    for path in ("services/console/static/console.css", "services/console/templates/base.html"):
        assert not dockerignored(path, patterns), f"{path} is needed and ignored"


# --- the console's browser assets ------------------------------------------------------------------


@pytest.fixture(scope="module")
def console_assets() -> ModuleType:
    path = ROOT / "deploy" / "local" / "console_assets.py"
    spec = importlib.util.spec_from_file_location("samad_image_console_assets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_console_npm_packages_are_installed_from_the_lockfile_in_a_pinned_node_stage(
    console_assets: ModuleType,
) -> None:
    assets = stage_named("assets")
    assert assets.base.startswith("node:") and "bookworm" in assets.base, assets.base
    assets_dir = "services/console/assets"
    assert sorted(src for sources in plain_copies(assets) for src in sources) == [
        f"{assets_dir}/package-lock.json",
        f"{assets_dir}/package.json",
    ]
    # `npm ci` (the lockfile exactly, never `npm install`), as the project's own install step runs it.
    npm = [r for r in runs(assets) if "npm " in r]
    assert len(npm) == 1 and ("npm " + " ".join(console_assets.NPM_CI)) in npm[0], npm
    assert not any("npm install" in r or "npm i " in r for st in STAGES for r in runs(st))


def test_the_build_runs_the_projects_asset_step_before_the_wheel_is_built(console_assets: ModuleType) -> None:
    build = stage_named("build")
    steps = [(kw, rest) for kw, rest in build.instructions if kw in ("COPY", "RUN")]

    def index(predicate: str) -> int:
        found = [i for i, (kw, rest) in enumerate(steps) if predicate in f"{kw} {rest}"]
        assert found, f"no step with {predicate!r} in the build stage"
        return found[0]

    node_modules = index("--from=assets")
    assert steps[node_modules][1].split()[-1].endswith("services/console/assets/node_modules")
    generate = index("console_assets.py --no-npm")
    wheel = index("--no-editable")
    check = index("console_assets.py --check-installed")
    assert node_modules < generate < wheel < check
    assert index("COPY services") < generate, "the assets are generated into the copied source tree"
    # The step runs with the locked environment (fontTools and brotli are project dependencies).
    assert steps[generate][1].startswith("/opt/samad/venv/bin/python ")
    # What it writes is what the console serves and what the installed package is checked for.
    written = console_assets.generated_files()
    assert {name.split("/")[0] for name in written} == {"fonts", "vendor"}
    assert any(name.endswith(".woff2") for name in written) and "vendor/htmx.min.js" in written


def _gitignore_match(pattern: str, path: str) -> bool:
    return PurePosixPath(path).match(pattern) or fnmatch.fnmatchcase(path, pattern)


def test_the_wheel_carries_the_generated_assets_and_not_the_npm_workspace(console_assets: ModuleType) -> None:
    wheel = tomllib.loads(PYPROJECT.read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    # Git-ignored, so only `artifacts` brings them into a wheel built from a checkout.
    artifacts = [a for a in wheel.get("artifacts", []) if not a.startswith("!")]
    for name in console_assets.generated_files():
        path = f"services/console/static/{name}"
        assert any(_gitignore_match(a, path) for a in artifacts), f"{path} is not a wheel artifact"
    assert "services/console/assets" in wheel.get("exclude", [])
    assert console_assets.ASSETS.relative_to(ROOT).as_posix() == "services/console/assets"


# What a page loads: <script src>, <img src>, <link href> (stylesheets, icons, fonts), CSS url() and @import.
LOADS = re.compile(
    r"""\bsrc\s*=\s*["']([^"']+)|<link\b[^>]*\bhref\s*=\s*["']([^"']+)"""
    r"""|url\(\s*["']?([^"')\s]+)|@import\s+["']([^"']+)"""
)


def test_the_console_loads_nothing_from_another_site() -> None:
    """Templates, stylesheet and script load only the console's own files (no CDN at run time)."""
    console = ROOT / "services" / "console"
    sources = [*console.glob("templates/**/*.html"), console / "static" / "console.css"]
    sources.append(console / "static" / "console.js")
    assert len(sources) > 5
    assert LOADS.search('<script src="https://cdn.example/htmx.js">')  # the pattern finds a load
    loaded = 0
    for source in sources:
        for match in LOADS.finditer(source.read_text(encoding="utf-8")):
            target = next(g for g in match.groups() if g)
            loaded += 1
            assert not re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", target, re.I), f"{source.name} loads {target}"
    assert loaded, "no page loads anything: the pattern no longer matches the templates"
