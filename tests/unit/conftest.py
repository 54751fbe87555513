"""Unit tests run apps on fakes; their tokens are signed with a shared test key (tests/support/tokens.py)."""

from __future__ import annotations

import pytest

from tests.support.tokens import UNIT_ISSUER, UNIT_KEY


@pytest.fixture(autouse=True)
def _unit_token_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMAD_AUTH_SECRET", UNIT_KEY)
    monkeypatch.setenv("SAMAD_AUTH_ALGORITHMS", '["HS256"]')
    monkeypatch.setenv("SAMAD_AUTH_ISSUER", UNIT_ISSUER)
