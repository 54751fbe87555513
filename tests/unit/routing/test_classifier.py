"""The rule-based classifier: normalisation, longest match, endings, slips, categories, explanations."""

from __future__ import annotations

import pytest

from contracts.catalogue import AgencyCode
from services.routing.adapters.rule_files import load_rulebook
from services.routing.domain.classifier import Classifier, EvidenceKind, is_slip
from services.routing.domain.rules import RuleBookError, build_rulebook
from services.routing.domain.text import tokens


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rulebook())


def top(c: Classifier, text: str, category: str | None = None) -> AgencyCode | None:
    best = c.classify(text, category).best
    return best.agency if best else None


def test_each_agency_is_recognised_from_a_typical_complaint(classifier: Classifier) -> None:
    examples = {
        AgencyCode.social_security: "حق بیمه من را کارفرما پرداخت نکرده",
        AgencyCode.welfare: "ویلچر برای فرزند معلولم می‌خواهم",
        AgencyCode.martyrs_foundation: "درصد جانبازی پدرم اعلام نشده",
        AgencyCode.civil_registration: "کارت ملی هوشمندم صادر نشده",
        AgencyCode.relief_committee: "مستمری مددجویی کمیته امداد قطع شده",
        AgencyCode.tax_affairs: "برگ تشخیص مالیاتی اشتباه است",
        AgencyCode.industry_mine_trade: "گرانفروشی در فروشگاه محله",
        AgencyCode.housing_foundation: "وام مسکن روستایی قسط دوم نیامده",
        AgencyCode.economy_finance: "سود سهام عدالت واریز نشده",
        AgencyCode.agriculture_jihad: "پول گندم خرید تضمینی را نداده‌اند",
        AgencyCode.roads_urban_development: "جاده روستا پر از چاله است",
        AgencyCode.cooperatives_labour: "یارانه ما قطع شده",
        AgencyCode.water_wastewater: "قبض آب چند برابر شده",
        AgencyCode.education: "مدرسه شهریه اجباری می‌گیرد",
    }
    for expected, text in examples.items():
        assert top(classifier, text) == expected, text


def test_arabic_letters_digits_and_half_spaces_do_not_change_the_result(classifier: Classifier) -> None:
    variants = [
        "کارت ملی هوشمند من بعد از ۲ سال صادر نشده",
        "كارت ملي هوشمند من بعد از 2 سال صادر نشده",  # Arabic kaf and yeh, ASCII digit
        "کارت‌ملی هوشمند من بعد از ٢ سال صادر نشده",  # half-space, Arabic-Indic digit
    ]
    results = [classifier.classify(v) for v in variants]
    assert {r.best.agency for r in results if r.best} == {AgencyCode.civil_registration}
    assert len({r.confidence for r in results}) == 1


def test_the_longer_term_wins_and_hides_the_shorter_one(classifier: Classifier) -> None:
    # «بیمه بیکاری» is labour's; the «بیمه» inside it must not count for social security.
    c = classifier.classify("درخواست بیمه بیکاری من بررسی نشده")
    assert c.best is not None and c.best.agency == AgencyCode.cooperatives_labour
    assert all(e.agency != AgencyCode.social_security for e in c.evidence)


def test_word_endings_match_the_rule_word(classifier: Classifier) -> None:
    c = classifier.classify("کنتورهای ساختمان خراب است و قبضم زیاد آمده")
    rules = {e.rule for e in c.evidence if e.agency == AgencyCode.water_wastewater}
    assert "کنتور" in rules


def test_a_keyboard_slip_in_a_long_word_still_counts_but_less() -> None:
    assert is_slip("کشاوزری", "کشاورزی")  # two letters swapped
    assert not is_slip("تعویض", "تعریض")  # a different letter is a different word
    assert not is_slip("دهستان", "دبستان")
    c = Classifier(load_rulebook()).classify("مرکز خدمات کشاوزری دهستان کارشناس ندارد")
    slips = [e for e in c.evidence if e.kind == EvidenceKind.fuzzy]
    assert slips and slips[0].agency == AgencyCode.agriculture_jihad
    assert slips[0].weight < 4.0


def test_an_operator_category_counts_as_strong_evidence(classifier: Classifier) -> None:
    # intake's category code, known to routing as an alias of its own category.
    c = classifier.classify("مشکل دارم و کسی جواب نمی‌دهد", "sewage_and_billing")
    assert c.best is not None and c.best.agency == AgencyCode.water_wastewater
    assert c.evidence[0].kind == EvidenceKind.category


def test_no_known_words_means_no_candidate(classifier: Classifier) -> None:
    c = classifier.classify("سلام، لطفاً کمک کنید")
    assert c.best is None and c.confidence == 0.0
    assert c.explanation() == ["هیچ عبارتی از قواعد مسیریابی در متن پیدا نشد"]


def test_the_explanation_names_the_terms_and_the_agency_in_persian(classifier: Classifier) -> None:
    c = classifier.classify("آب شرب روستای ما قطع است و فشار آب کم است")
    lines = c.explanation()
    assert any("«فشار آب»" in line and "شرکت آب و فاضلاب مشهد" in line for line in lines)
    assert "اطمینان" in lines[-1]


def test_confidence_falls_when_two_agencies_share_the_evidence(classifier: Classifier) -> None:
    clear = classifier.classify("قبض آب و کنتور آب خراب است")
    mixed = classifier.classify("قبض آب مدرسه دخترم زیاد شده")
    assert 0 <= mixed.confidence < clear.confidence <= 1


def test_excluding_agencies_renormalises_among_the_rest(classifier: Classifier) -> None:
    c = classifier.classify("آب آشامیدنی مدرسه آلوده است")
    rest = c.excluding([AgencyCode.water_wastewater])
    assert rest.best is not None and rest.best.agency == AgencyCode.education
    assert all(s.agency != AgencyCode.water_wastewater for s in rest.ranking)


def test_tokens_use_the_shared_matching_form() -> None:
    assert tokens("مي‌خواهم  كارت ملي ۱۲۳") == ["می", "خواهم", "کارت", "ملی", "123"]


def _doc(agency: str, terms: object) -> dict[str, object]:
    return {"agency": agency, "categories": [{"code": f"c_{agency}", "fa": "دسته", "terms": terms}]}


def _all_but(first: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
    docs = [(f"{a.value}.yaml", _doc(a.value, {"واژه " + a.value: 2})) for a in AgencyCode]
    return [("first.yaml", first), *docs[1:]]


def test_rule_files_with_mistakes_are_refused_with_the_file_named() -> None:
    with pytest.raises(RuleBookError, match=r"bad\.yaml: unknown agency"):
        build_rulebook([("bad.yaml", _doc("ministry_of_magic", {"x": 1}))])
    with pytest.raises(RuleBookError, match="outside"):
        build_rulebook(_all_but(_doc("social_security", {"بیمه": 60})))
    with pytest.raises(RuleBookError, match="must be a number"):
        build_rulebook(_all_but(_doc("social_security", {"بیمه": "زیاد"})))
    with pytest.raises(RuleBookError, match="no rules file for"):
        build_rulebook([("only.yaml", _doc("social_security", {"بیمه": 2}))])


def test_rules_are_normalised_like_the_complaints() -> None:
    docs = _all_but(_doc("social_security", {"بيمه تكميلي": 3}))  # Arabic letters in the rule
    c = Classifier(build_rulebook(docs)).classify("بیمه تکمیلی من تمدید نشد")
    assert c.best is not None and c.best.agency == AgencyCode.social_security
