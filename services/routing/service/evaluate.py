"""Measure the classifier on a labelled set, and build the labelled split (once)."""

from __future__ import annotations

from services.routing.adapters.datasets import LabelledSets
from services.routing.domain.evaluation import Evaluation, evaluate
from services.routing.service.classify import Classify


class Evaluate:
    def __init__(self, classify: Classify, sets: LabelledSets) -> None:
        self.classify = classify
        self.sets = sets

    def __call__(self, name: str, threshold: float | None = None) -> Evaluation:
        """Raises ValueError, naming where the set was read, when it has no labelled complaint."""
        limit = self.classify.threshold if threshold is None else threshold
        rows = self.sets.load(name)
        try:
            return evaluate(rows, lambda text: self.classify.decide(text, threshold=limit), name, limit)
        except ValueError:
            raise ValueError(f"no labelled complaints in {self.sets.where(name)}") from None


class BuildDatasets:
    def __init__(self, sets: LabelledSets) -> None:
        self.sets = sets

    def __call__(self, force: bool = False) -> tuple[int, int]:
        """(complaints in the tuning part, in the held-out part)."""
        return self.sets.build(force=force)
