"""Reading the inbox's ready answers (services/console/data/responses.yaml, or another file)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from contracts.catalogue import agencies
from services.console.domain.inbox import ReadyAnswers, ResponsesError


def load_ready_answers(path: str | None = None) -> ReadyAnswers:
    """The ready answers, checked as a whole (ResponsesError says what is wrong and where)."""
    try:
        if path:
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = resources.files("services.console").joinpath("data", "responses.yaml").read_text("utf-8")
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ResponsesError(f"responses.yaml is not valid YAML: {exc}") from exc
    return ReadyAnswers.from_mapping(raw, frozenset(a.code.value for a in agencies().values()))
