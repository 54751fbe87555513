"""Reads the rule book from the YAML files in services/routing/data/rules (or another directory)."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.routing.domain.rules import RuleBook, RuleBookError, build_rulebook

RULES_DIR = Path(__file__).resolve().parents[1] / "data" / "rules"


def load_rulebook(directory: Path | str | None = None) -> RuleBook:
    folder = Path(directory) if directory else RULES_DIR
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise RuleBookError(f"no *.yaml rules files in {folder}")
    documents = []
    for path in files:
        try:
            documents.append((path.name, yaml.safe_load(path.read_text(encoding="utf-8"))))
        except yaml.YAMLError as exc:
            raise RuleBookError(f"{path.name}: not valid YAML: {exc}") from exc
    return build_rulebook(documents)
