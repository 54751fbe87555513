"""The install step's part for the console: `npm ci` only when the lockfile changed, a clear message
without npm, and Debian's chromium installed with apt-get only when it is missing."""

from __future__ import annotations

import importlib.util
import os
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


# --- chromium ------------------------------------------------------------------------------------


@pytest.fixture
def chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = _load("chromium")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4").write_text("")
    monkeypatch.setattr(module, "APT_LISTS", lists)
    return module


def _fake_apt(bin_dir: Path, log: Path, *, fail_first_install: bool = False) -> None:
    """apt-get that logs its arguments and whose install puts a `chromium` on PATH."""
    failing = f'[ -e {log}.failed ] || {{ touch {log}.failed; echo "E: 404 Not Found" >&2; exit 100; }}\n'
    _script(
        bin_dir / "apt-get",
        f'echo "$DEBIAN_FRONTEND $@" >> {log}\n'
        'for a in "$@"; do if [ "$a" = install ]; then\n'
        + (failing if fail_first_install else "")
        + f'printf "#!/bin/sh\\n" > {bin_dir}/chromium; chmod +x {bin_dir}/chromium; fi; done\n',
    )


def test_an_installed_chromium_is_left_alone(chromium: ModuleType, bin_dir: Path, tmp_path: Path) -> None:
    _script(bin_dir / "chromium", "")
    _fake_apt(bin_dir, tmp_path / "apt.log")
    chromium.install()
    assert not (tmp_path / "apt.log").exists()


def test_a_missing_chromium_is_installed_with_apt_get(
    chromium: ModuleType, bin_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "apt.log"
    _fake_apt(bin_dir, log)
    chromium.install()
    assert [line.split()[0:1] + line.split()[-4:] for line in log.read_text().splitlines()] == [
        ["noninteractive", "install", "-y", "--no-install-recommends", "chromium"]
    ]
    assert chromium.find() == str(bin_dir / "chromium")


def test_without_package_lists_apt_get_update_runs_first(
    chromium: ModuleType, bin_dir: Path, tmp_path: Path
) -> None:
    for f in chromium.APT_LISTS.iterdir():
        f.unlink()
    log = tmp_path / "apt.log"
    _fake_apt(bin_dir, log)
    chromium.install()
    commands = [line.split()[-1] if "update" in line else "install" for line in log.read_text().splitlines()]
    assert commands == ["update", "install"]


def test_stale_package_lists_are_refreshed_once(chromium: ModuleType, bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "apt.log"
    _fake_apt(bin_dir, log, fail_first_install=True)
    chromium.install()
    commands = ["update" if line.endswith("update") else "install" for line in log.read_text().splitlines()]
    assert commands == ["install", "update", "install"]


def test_an_apt_failure_names_the_command_and_shows_its_output(chromium: ModuleType, bin_dir: Path) -> None:
    _script(
        bin_dir / "apt-get",
        'case "$*" in *install*) echo "E: Unable to locate package chromium" >&2; exit 100;; esac\n',
    )
    with pytest.raises(
        chromium.ChromiumError, match=r"apt-get install chromium failed \(exit 100\):\n.*locate"
    ):
        chromium.install()


def test_without_apt_get_the_message_names_what_is_missing(chromium: ModuleType, bin_dir: Path) -> None:
    with pytest.raises(chromium.ChromiumError, match=r"`chromium` executable on PATH.*apt-get is missing"):
        chromium.install()


def test_a_user_who_is_not_root_installs_through_sudo(
    chromium: ModuleType, bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "apt.log"
    _fake_apt(bin_dir, log)
    _script(bin_dir / "sudo", f'echo "sudo $@" >> {log}\n[ "$1" = -n ] && shift\nexec "$@"\n')
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 1000)
    with open(os.devnull) as not_a_terminal:  # so sudo must not prompt for a password
        monkeypatch.setattr(sys, "stdin", not_a_terminal)
        chromium.install()
    first = log.read_text().splitlines()[0].split()
    assert first[:4] == ["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive"]


def test_a_user_who_is_not_root_and_has_no_sudo_is_told_to_use_root(
    chromium: ModuleType, bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_apt(bin_dir, tmp_path / "apt.log")
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 1000)
    with pytest.raises(
        chromium.ChromiumError, match=r"needs root: run `apt-get install -y chromium` as root"
    ):
        chromium.install()
