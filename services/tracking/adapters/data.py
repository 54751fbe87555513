"""Reading tracking's data files: the SLA table, the escalation ladder and the official holidays (YAML
under data/)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from services.tracking.domain.calendar import WorkCalendar
from services.tracking.domain.escalation import EscalationConfigError, EscalationPolicy
from services.tracking.domain.sla import SlaPolicy


def _read(name: str, directory: str | None) -> Any:
    if directory:
        return yaml.safe_load((Path(directory) / name).read_text(encoding="utf-8"))
    text = resources.files("services.tracking").joinpath("data", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_escalation(directory: str | None = None) -> EscalationPolicy:
    """The escalation ladders, checked as a whole (EscalationConfigError names what is wrong and where);
    a directory without the file keeps the default ladder."""
    if directory and not (Path(directory) / "escalation.yaml").exists():
        return EscalationPolicy()
    try:
        raw = _read("escalation.yaml", directory)
    except yaml.YAMLError as exc:
        raise EscalationConfigError(f"escalation.yaml is not valid YAML: {exc}") from exc
    return EscalationPolicy.from_mapping(raw)


def load_calendar(directory: str | None = None) -> WorkCalendar:
    return WorkCalendar.from_mapping(_read("holidays.yaml", directory) or {})


@cache
def load_policy(directory: str | None = None) -> SlaPolicy:
    """The SLA policy with its working calendar, from ``directory`` or the shipped data files."""
    return SlaPolicy.from_mapping(
        _read("sla.yaml", directory) or {}, load_calendar(directory), load_escalation(directory)
    )
