"""Classify a text, measure the classifier on a labelled set, build the split: on the in-memory sets."""

from __future__ import annotations

import pytest

from contracts.catalogue import AgencyCode
from services.routing.adapters.datasets import InMemoryLabelledSets
from services.routing.domain.evaluation import Example
from tests.unit.routing.helpers import container

SET = [
    Example("w1", "قبض آب این ماه چهار برابر شده", AgencyCode.water_wastewater),
    Example("t1", "برگ تشخیص مالیاتی مغازه اشتباه صادر شده", AgencyCode.tax_affairs),
    Example("v1", "سلام، لطفاً رسیدگی کنید", AgencyCode.welfare),  # too vague: triage
    Example("x1", "بدون برچسب", None),
]


def test_classify_returns_the_decision_and_the_agencies_considered() -> None:
    c = container()
    out = c.classify("قبض آب این ماه چهار برابر شده")
    assert out.result.agency == AgencyCode.water_wastewater and out.result.confidence >= 0.45
    assert out.candidates[0].agency == AgencyCode.water_wastewater and out.candidates[0].points > 0
    assert c.classify("سلام").result.agency is None
    # A threshold above every confidence sends even a clear text to triage.
    assert c.classify.decide("قبض آب این ماه چهار برابر شده", threshold=1.01).agency is None


def test_evaluate_counts_triage_as_not_right_and_lists_the_misses() -> None:
    c = container(datasets=InMemoryLabelledSets({"mine": SET}))
    result = c.evaluate("mine")
    f = result.figures
    assert (f["set"], f["complaints"]) == ("mine", 3)
    assert f["accuracy"] == round(2 / 3, 4) and f["triage_share"] == round(1 / 3, 4)
    assert f["routed_precision"] == 1.0
    assert f["per_agency_accuracy"] == {"water_wastewater": 1.0, "tax_affairs": 1.0, "welfare": 0.0}
    [miss] = result.misses
    assert miss.example.id == "v1" and miss.got is None


def test_a_set_without_labels_is_refused_and_the_split_is_written_once() -> None:
    sets = InMemoryLabelledSets({"unlabelled": [SET[3]]})
    c = container(datasets=sets)
    with pytest.raises(ValueError, match="no labelled complaints in memory:unlabelled"):
        c.evaluate("unlabelled")
    assert c.build_datasets() == (1, 0)
    with pytest.raises(FileExistsError):
        c.build_datasets()
