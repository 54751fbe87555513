"""The browser of the browser tests: Debian's `chromium` package, installed with apt-get when missing.

Playwright drives this system executable (tests/support/browser.py); no browser build is downloaded.
On a machine without apt-get, or as a user who is neither root nor allowed to use sudo, the install
stops with a message naming what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

EXECUTABLE = "chromium"
PACKAGE = "chromium"
APT_LISTS = Path("/var/lib/apt/lists")
# apt-get waits this long for another apt or dpkg run to release its lock instead of failing at once.
APT_LOCK_TIMEOUT_S = 600


class ChromiumError(RuntimeError):
    pass


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def find() -> str | None:
    """The chromium executable on PATH, or None."""
    return shutil.which(EXECUTABLE)


def _privileged_prefix() -> list[str]:
    """Nothing as root; sudo otherwise (asking for a password only when someone can type it)."""
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo is None:
        raise ChromiumError(
            f"{EXECUTABLE} is not on PATH, and installing it needs root: run "
            f"`apt-get install -y {PACKAGE}` as root (sudo is not installed), then run the install again"
        )
    return [sudo] if sys.stdin.isatty() else [sudo, "-n"]


def _lists_present() -> bool:
    """Whether apt has package lists at all (a fresh container image has none until apt-get update)."""
    return APT_LISTS.is_dir() and any(APT_LISTS.glob("*_Packages*"))


def _apt(prefix: list[str], apt_get: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [
        *prefix,
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        apt_get,
        "-q",
        "-o",
        f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_S}",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)


def _install_argv() -> tuple[str, ...]:
    # Chromium's recommended packages (a desktop's notification daemon, printer set-up, GL drivers) are
    # not needed to run it headless; its dependencies bring a font (fontconfig depends on one).
    return ("install", "-y", "--no-install-recommends", PACKAGE)


def install() -> None:
    """Install Debian's chromium when no chromium executable is on PATH; idempotent and quick otherwise."""
    if find() is not None:
        return
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise ChromiumError(
            f"the browser tests need a `{EXECUTABLE}` executable on PATH and there is none; apt-get is "
            f"missing too, so it cannot be installed here: install Chromium with the system's package "
            f"manager so that `{EXECUTABLE}` is on PATH"
        )
    prefix = _privileged_prefix()
    started = time.monotonic()
    say(f"installing Debian's {PACKAGE} with apt-get for the browser tests (a few minutes the first time)")
    updated = False
    if not _lists_present():
        _check(_apt(prefix, apt_get, "update"), "apt-get update")
        updated = True
    result = _apt(prefix, apt_get, *_install_argv())
    if result.returncode != 0 and not updated:
        # Stale package lists name versions the mirror no longer has, or lack the package: refresh once.
        _check(_apt(prefix, apt_get, "update"), "apt-get update")
        result = _apt(prefix, apt_get, *_install_argv())
    _check(result, f"apt-get install {PACKAGE}")
    path = find()
    if path is None:
        raise ChromiumError(f"apt-get installed {PACKAGE} but no `{EXECUTABLE}` executable is on PATH")
    say(f"installed: {PACKAGE} ({path}) in {time.monotonic() - started:.0f} s")


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode == 0:
        return
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
    hint = ""
    if "sudo" in tail and ("password" in tail or "terminal" in tail):
        hint = f"\nsudo needs a password: run `sudo apt-get install -y {PACKAGE}` yourself, then the install again"
    raise ChromiumError(f"{what} failed (exit {result.returncode}):\n{tail}{hint}")
