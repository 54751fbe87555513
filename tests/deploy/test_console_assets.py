"""The install step's part for the console: `npm ci` only when the lockfile changed, and a clear message
without npm."""

from __future__ import annotations

import importlib.util
import shutil
import stat
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"samad_local_{name}", ROOT / "deploy" / "local" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only the fake tools a test puts there, and the few the install and fakes use."""
    path = tmp_path / "bin"
    path.mkdir()
    for tool in ("env", "rm", "mkdir", "chmod", "touch"):
        found = shutil.which(tool)
        assert found is not None, tool
        (path / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(path))
    return path


# --- npm -----------------------------------------------------------------------------------------


@pytest.fixture
def assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = _load("console_assets")
    folder = tmp_path / "assets"
    folder.mkdir()
    (folder / "package-lock.json").write_text('{"lockfileVersion": 3}')
    monkeypatch.setattr(module, "ASSETS", folder)
    monkeypatch.setattr(module, "LOCKFILE", folder / "package-lock.json")
    monkeypatch.setattr(module, "NODE_MODULES", folder / "node_modules")
    monkeypatch.setattr(module, "NPM_MARKER", folder / "node_modules" / ".samad-lockfile.sha256")
    return module


def _fake_npm(bin_dir: Path, log: Path) -> None:
    # As the real `npm ci`: start from an empty node_modules, then install.
    _script(bin_dir / "npm", f'echo "$@" >> {log}\nrm -rf node_modules && mkdir node_modules\n')


def test_npm_ci_runs_once_per_lockfile(assets: ModuleType, bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "npm.log"
    _fake_npm(bin_dir, log)
    assets.npm_ci()
    assets.npm_ci()
    assert log.read_text().splitlines() == ["ci --ignore-scripts --no-audit --no-fund --loglevel=error"]
    assets.LOCKFILE.write_text('{"lockfileVersion": 3, "packages": {}}')
    assets.npm_ci()
    assert len(log.read_text().splitlines()) == 2


def test_a_deleted_node_modules_is_installed_again(assets: ModuleType, bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "npm.log"
    _fake_npm(bin_dir, log)
    assets.npm_ci()
    (assets.NODE_MODULES / ".samad-lockfile.sha256").unlink()
    assets.npm_ci()
    assert len(log.read_text().splitlines()) == 2


def test_without_npm_the_message_says_what_to_install(assets: ModuleType, bin_dir: Path) -> None:
    with pytest.raises(assets.ConsoleAssetsError, match=r"npm is not on PATH.*install Node\.js with npm"):
        assets.npm_ci()


def test_a_failing_npm_ci_shows_its_output(assets: ModuleType, bin_dir: Path) -> None:
    _script(bin_dir / "npm", 'echo "npm error The package-lock.json is out of sync" >&2\nexit 1\n')
    with pytest.raises(assets.ConsoleAssetsError, match=r"npm ci in .* failed \(exit 1\):\n.*out of sync"):
        assets.npm_ci()
    assert not assets.NPM_MARKER.exists()


def test_the_font_face_rules_name_each_subset_and_its_weight() -> None:
    css = _load("console_assets").font_face_css()
    assert 'src: url("Vazirmatn-Regular.woff2") format("woff2");\n  font-weight: 400;' in css
    assert 'src: url("Vazirmatn-Bold.woff2") format("woff2");\n  font-weight: 700;' in css
    assert css.count("unicode-range: U+0020-007E, ") == 2 and "U+0600-06FF" in css and "U+200C-200F" in css
