"""Routing decisions: operator override, thresholds, re-routing chains, manual triage."""

from __future__ import annotations

import pytest

from contracts.catalogue import AgencyCode, agency
from contracts.events import RouteReason, TriageReason
from services.routing.adapters.rule_files import load_rulebook
from services.routing.domain.classifier import Classifier
from services.routing.domain.routing import Routed, Triage, manual, reroute, route_new_case

WATER_AND_SCHOOL = "آب آشامیدنی مدرسه روستا آلوده است و قبض آب مدرسه هم زیاد آمده"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rulebook())


def test_the_operators_agency_wins_over_the_classifier(classifier: Classifier) -> None:
    c = classifier.classify("قبض آب چهار برابر شده")
    d = route_new_case(c, AgencyCode.education, threshold=0.45)
    assert isinstance(d, Routed)
    assert (d.agency, d.reason, d.confidence) == (AgencyCode.education, RouteReason.operator, 1.0)
    # The supervisor still sees that the classifier thought otherwise.
    assert any("شرکت آب و فاضلاب مشهد" in line for line in d.explanation)


def test_a_confident_classifier_routes(classifier: Classifier) -> None:
    d = route_new_case(classifier.classify("قبض آب چهار برابر شده"), None, threshold=0.45)
    assert isinstance(d, Routed) and d.reason == RouteReason.classifier
    assert d.agency == AgencyCode.water_wastewater and d.confidence >= 0.45


def test_below_the_threshold_the_case_goes_to_triage_with_candidates(classifier: Classifier) -> None:
    c = classifier.classify(WATER_AND_SCHOOL)
    routed = route_new_case(c, None, threshold=0.1)
    assert isinstance(routed, Routed)
    d = route_new_case(c, None, threshold=0.99)
    assert isinstance(d, Triage) and d.reason == TriageReason.low_confidence
    agencies = [a for a, _ in d.candidates]
    assert agencies[:2] == [AgencyCode.water_wastewater, AgencyCode.education]
    assert all(0 <= score <= 1 for _, score in d.candidates)
    assert "آستانه" in d.explanation[0]


def test_nothing_recognised_goes_to_triage_without_candidates(classifier: Classifier) -> None:
    d = route_new_case(classifier.classify("سلام خسته نباشید"), None, threshold=0.45)
    assert isinstance(d, Triage) and d.candidates == []


def test_first_decline_moves_to_the_next_best_agency(classifier: Classifier) -> None:
    c = classifier.classify(WATER_AND_SCHOOL)
    d = reroute(c, [AgencyCode.water_wastewater], "مربوط به مدرسه است", threshold=0.45)
    assert isinstance(d, Routed)
    assert d.agency == AgencyCode.education and d.reason == RouteReason.reroute
    assert d.declined == [AgencyCode.water_wastewater]
    assert "مربوط به مدرسه است" in d.explanation[0]


def test_a_sealed_decline_reason_is_not_quoted_in_the_routing_explanation(classifier: Classifier) -> None:
    c = classifier.classify(WATER_AND_SCHOOL)
    d = reroute(c, [AgencyCode.water_wastewater], None, threshold=0.45)
    assert isinstance(d, Routed) and d.agency == AgencyCode.education
    assert (
        d.explanation[0].endswith(agency(AgencyCode.water_wastewater).fa) and "دلیل" not in d.explanation[0]
    )


def test_second_decline_sends_the_case_to_a_person(classifier: Classifier) -> None:
    c = classifier.classify(WATER_AND_SCHOOL)
    d = reroute(c, [AgencyCode.water_wastewater, AgencyCode.education], "ما نیستیم", threshold=0.45)
    assert isinstance(d, Triage) and d.reason == TriageReason.declined_twice
    assert d.declined == [AgencyCode.water_wastewater, AgencyCode.education]
    assert all(a not in d.declined for a, _ in d.candidates)


def test_a_decline_with_no_confident_alternative_goes_to_triage(classifier: Classifier) -> None:
    c = classifier.classify("قبض آب چهار برابر شده")  # nothing points elsewhere
    d = reroute(c, [AgencyCode.water_wastewater], "قبض درست است", threshold=0.45)
    assert isinstance(d, Triage) and d.reason == TriageReason.low_confidence
    assert d.declined == [AgencyCode.water_wastewater]


def test_manual_routing_records_who_and_why() -> None:
    d = manual(AgencyCode.welfare, "sup-7", "پروندهٔ معلولیت", [AgencyCode.relief_committee])
    assert (d.agency, d.reason, d.confidence) == (AgencyCode.welfare, RouteReason.manual, 1.0)
    assert "sup-7" in d.explanation[0] and d.declined == [AgencyCode.relief_committee]
