"""Measuring the classifier on labelled complaints: accuracy, share sent to triage, precision of routed cases.

A case sent to triage counts as not right: the figures say how often routing picks the right agency on
its own, and how rarely a case it does route goes to the wrong one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.catalogue import AgencyCode
from services.routing.domain.routing import ClassifyResult


@dataclass(frozen=True)
class Example:
    """One labelled complaint (agency None: unlabelled)."""

    id: str
    text: str
    agency: AgencyCode | None

    def to_json(self) -> str:
        return json.dumps(
            {"id": self.id, "text": self.text, "agency": self.agency.value if self.agency else None},
            ensure_ascii=False,
        )


@dataclass(frozen=True)
class Miss:
    example: Example
    got: AgencyCode | None  # None: sent to triage
    confidence: float


@dataclass(frozen=True)
class Evaluation:
    figures: dict[str, Any]
    misses: list[Miss]


def evaluate(
    rows: Sequence[Example], decide: Callable[[str], ClassifyResult], set_name: str, threshold: float
) -> Evaluation:
    """Score ``decide`` on the labelled rows (there must be at least one)."""
    labelled = [r for r in rows if r.agency is not None]
    if not labelled:
        raise ValueError("no labelled complaints")
    right = routed = routed_right = 0
    per_agency: Counter[str] = Counter()
    per_agency_right: Counter[str] = Counter()
    misses: list[Miss] = []
    for r in labelled:
        assert r.agency is not None
        result = decide(r.text)
        per_agency[r.agency.value] += 1
        if result.agency is not None:
            routed += 1
            routed_right += result.agency == r.agency
        if result.agency == r.agency:
            right += 1
            per_agency_right[r.agency.value] += 1
        else:
            misses.append(Miss(r, result.agency, result.confidence))
    figures = {
        "set": set_name,
        "complaints": len(labelled),
        "threshold": threshold,
        "accuracy": round(right / len(labelled), 4),
        "triage_share": round((len(labelled) - routed) / len(labelled), 4),
        "routed_precision": round(routed_right / routed, 4) if routed else None,
        "per_agency_accuracy": {
            a.value: round(per_agency_right[a.value] / per_agency[a.value], 3)
            for a in AgencyCode
            if per_agency[a.value]
        },
    }
    return Evaluation(figures, misses)
