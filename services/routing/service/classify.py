"""Classify a text: what routing would decide for a new case with it, and the agencies it considered.

The consumer, the HTTP API and the command line decide through the same function and threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.catalogue import AgencyCode
from services.routing.domain.classifier import Classifier
from services.routing.domain.routing import ClassifyResult, decide_text


@dataclass(frozen=True)
class Considered:
    agency: AgencyCode
    score: float
    points: float


@dataclass(frozen=True)
class Classified:
    result: ClassifyResult
    candidates: list[Considered]


class Classify:
    def __init__(self, classifier: Classifier, threshold: float) -> None:
        self.classifier = classifier
        self.threshold = threshold

    def decide(
        self, text: str, category: str | None = None, threshold: float | None = None
    ) -> ClassifyResult:
        limit = self.threshold if threshold is None else threshold
        return decide_text(self.classifier, limit, text, category)

    def __call__(self, text: str, category: str | None = None) -> Classified:
        candidates = [
            Considered(c.agency, c.confidence, c.points)
            for c in self.classifier.classify(text, category).candidates()
        ]
        return Classified(self.decide(text, category), candidates)
