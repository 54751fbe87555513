"""The rulebook source port: where the classifier's rules come from. The YAML files in
services/routing/data/rules (or another directory), and an in-memory fake built from plain mappings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from services.routing.domain.rules import RuleBook, RuleBookError, build_rulebook

RULES_DIR = Path(__file__).resolve().parents[1] / "data" / "rules"


class RulebookSource(Protocol):
    def load(self) -> RuleBook:
        """The rule book, validated; ``RuleBookError`` names the file and the entry that is wrong."""
        ...


class RuleFiles:
    """Every ``*.yaml`` file of a directory, one per agency."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory else RULES_DIR

    def load(self) -> RuleBook:
        files = sorted(self.directory.glob("*.yaml"))
        if not files:
            raise RuleBookError(f"no *.yaml rules files in {self.directory}")
        documents = []
        for path in files:
            try:
                documents.append((path.name, yaml.safe_load(path.read_text(encoding="utf-8"))))
            except yaml.YAMLError as exc:
                raise RuleBookError(f"{path.name}: not valid YAML: {exc}") from exc
        return build_rulebook(documents)


class InMemoryRules:
    """Rules given as (name, mapping) pairs, the shape the YAML files parse to."""

    def __init__(self, documents: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        self.documents = list(documents)

    def load(self) -> RuleBook:
        return build_rulebook(self.documents)


def load_rulebook(directory: Path | str | None = None) -> RuleBook:
    """The rule book from a directory of rules files (default: the packaged rules)."""
    return RuleFiles(directory).load()
