"""The explainable classifier: weighted terms from the rule book, matched on normalised Persian text.

How a complaint is scored, in the order a supervisor can check it:
1. The text (subject and description) is reduced to matching form and split into words.
2. Scanning left to right, the longest term of any agency that starts at a word wins and consumes its
   words: «بیمه بیکاری» (labour) is read before «بیمه» (social security) can be. A word may carry an
   ending («قبضم», «کنتورها»); a longer word with one slip of the keyboard matches at a reduced weight.
3. «together» rules add their weight when all their words occur anywhere in the text.
4. An operator's category adds a decisive weight for its agency.
5. Each agency's points are the sum over distinct terms. Confidence = share of all points × strength,
   where strength = 1 - exp(-points / STRENGTH_SCALE) says how much evidence there is at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import process
from rapidfuzz.distance import OSA

from contracts.catalogue import AgencyCode, agency
from contracts.persian import to_persian_digits
from services.routing.domain.rules import RuleBook, Term
from services.routing.domain.text import stems, tokens, words_match

STRENGTH_SCALE = 2.5
CATEGORY_WEIGHT = 5.0
FUZZY_FACTOR = 0.7
FUZZY_MIN_LENGTH = 5
DEFAULT_THRESHOLD = 0.45


class EvidenceKind(StrEnum):
    term = "term"
    fuzzy = "fuzzy"
    together = "together"
    category = "category"


@dataclass(frozen=True)
class Evidence:
    agency: AgencyCode
    category: str
    rule: str  # the rule as written in the rule book (matching form)
    found: str  # the words of the complaint that matched
    weight: float
    kind: EvidenceKind

    def describe(self, category_fa: str) -> str:
        name = agency(self.agency).fa
        weight = _fa_number(self.weight)
        if self.kind == EvidenceKind.category:
            return f"دستهٔ انتخاب‌شدهٔ اپراتور «{category_fa}» ← {name} (وزن {weight})"
        if self.kind == EvidenceKind.together:
            return f"هم‌آیی واژه‌های «{self.rule}» ← {name}، دستهٔ «{category_fa}» (وزن {weight})"
        if self.kind == EvidenceKind.fuzzy:
            return f"واژهٔ «{self.found}» نزدیک به «{self.rule}» ← {name}، دستهٔ «{category_fa}» (وزن {weight})"
        return f"عبارت «{self.rule}» ← {name}، دستهٔ «{category_fa}» (وزن {weight})"


@dataclass(frozen=True)
class Scored:
    agency: AgencyCode
    points: float
    confidence: float


@dataclass(frozen=True)
class Classification:
    """The classifier's view of one complaint: every agency with points, best first, and why."""

    ranking: tuple[Scored, ...]
    evidence: tuple[Evidence, ...]
    category_titles: dict[str, str]

    @property
    def best(self) -> Scored | None:
        return self.ranking[0] if self.ranking else None

    @property
    def confidence(self) -> float:
        return self.ranking[0].confidence if self.ranking else 0.0

    def excluding(self, declined: Iterable[AgencyCode]) -> Classification:
        """The same evidence with some agencies ruled out; confidences are recomputed among the rest."""
        out = set(declined)
        points = {s.agency: s.points for s in self.ranking if s.agency not in out}
        return Classification(
            _rank(points), tuple(e for e in self.evidence if e.agency not in out), self.category_titles
        )

    def candidates(self, limit: int = 3) -> list[Scored]:
        return list(self.ranking[:limit])

    def explanation(self, chosen: AgencyCode | None = None, limit: int = 6) -> list[str]:
        """Persian lines a supervisor can check: the rules that decided, then the scores."""
        target = chosen or (self.best.agency if self.best else None)
        if target is None:
            return ["هیچ عبارتی از قواعد مسیریابی در متن پیدا نشد"]
        lines = [
            e.describe(self.category_titles.get(e.category, e.category))
            for e in sorted(self.evidence, key=lambda e: -e.weight)
            if e.agency == target
        ][:limit]
        lines.append(self.summary(target))
        return lines

    def summary(self, target: AgencyCode) -> str:
        total = sum(s.points for s in self.ranking)
        mine = next((s for s in self.ranking if s.agency == target), None)
        if mine is None:
            return f"امتیاز {agency(target).fa}: صفر"
        text = (
            f"امتیاز {agency(target).fa}: {_fa_number(mine.points)} از {_fa_number(total)}؛ "
            f"اطمینان {_fa_number(mine.confidence, 2)}"
        )
        runner = next((s for s in self.ranking if s.agency != target), None)
        if runner is not None:
            text += f"؛ گزینهٔ بعدی {agency(runner.agency).fa} با {_fa_number(runner.points)}"
        return text


def _fa_number(value: float, digits: int = 1) -> str:
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else str(round(value))
    return to_persian_digits(text).replace(".", "٫")


def _strength(points: float) -> float:
    return 1.0 - math.exp(-points / STRENGTH_SCALE)


def _rank(points: dict[AgencyCode, float]) -> tuple[Scored, ...]:
    total = sum(p for p in points.values() if p > 0)
    scored = [
        Scored(a, round(p, 3), round((p / total) * _strength(p), 4))
        for a, p in points.items()
        if p > 0 and total > 0
    ]
    return tuple(sorted(scored, key=lambda s: (-s.points, s.agency.value)))


def is_slip(token: str, word: str) -> bool:
    """A keyboard slip of a long rule word: two neighbouring letters swapped, or one inner letter lost.

    Substituted letters are not slips here: «تعویض»/«تعریض» and «دبستان»/«دهستان» are different words,
    and a lost last letter is usually a different ending, not a typo.
    """
    if len(word) < FUZZY_MIN_LENGTH or token == word:
        return False
    if len(token) == len(word):
        diff = [k for k in range(len(word)) if token[k] != word[k]]
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and token[diff[0]] == word[diff[1]]
            and token[diff[1]] == word[diff[0]]
        )
    if len(token) == len(word) - 1 and len(word) >= FUZZY_MIN_LENGTH + 1:
        return any(word[:k] + word[k + 1 :] == token for k in range(1, len(word) - 1))
    return False


def _rest_matches(words: list[str], i: int, term: Term) -> bool:
    """The term's words after the first (already matched at word i) follow in the text."""
    if i + len(term.words) > len(words):
        return False
    return all(words_match(term.words[k], words[i + k]) for k in range(1, len(term.words)))


class Classifier:
    """Scores complaints against a rule book. Pure and deterministic: same text, same answer."""

    def __init__(self, rulebook: RuleBook) -> None:
        self.rulebook = rulebook
        self._fuzzy_vocabulary = [w for w in rulebook.vocabulary if len(w) >= FUZZY_MIN_LENGTH]
        self._titles = {c.code: c.fa for c in rulebook.categories.values()}

    def classify(self, text: str, category: str | None = None) -> Classification:
        words = tokens(text)
        evidence: dict[tuple[str, AgencyCode], Evidence] = {}

        def add(e: Evidence) -> None:
            key = (e.rule, e.agency)
            if key not in evidence or evidence[key].weight < e.weight:
                evidence[key] = e

        i = 0
        while i < len(words):
            matched = self._terms_at(words, i)
            if matched:
                span = len(matched[0][0].words)
                for term, kind in matched:
                    weight = term.weight * (FUZZY_FACTOR if kind == EvidenceKind.fuzzy else 1.0)
                    found = " ".join(words[i : i + span])
                    add(Evidence(term.agency, term.category, term.text, found, weight, kind))
                i += span
            else:
                i += 1
        present = set(words)
        for rule in self.rulebook.together:
            if all(any(words_match(w, t) for t in present) for w in rule.words):
                add(
                    Evidence(
                        rule.agency, rule.category, rule.text, rule.text, rule.weight, EvidenceKind.together
                    )
                )
        if category:
            cat = self.rulebook.category_names.get(
                category.strip().lower()
            ) or self.rulebook.category_names.get(" ".join(tokens(category)))
            if cat is not None:
                add(
                    Evidence(cat.agency, cat.code, cat.code, category, CATEGORY_WEIGHT, EvidenceKind.category)
                )
        points: dict[AgencyCode, float] = {}
        for e in evidence.values():
            points[e.agency] = points.get(e.agency, 0.0) + e.weight
        return Classification(_rank(points), tuple(evidence.values()), self._titles)

    def _terms_at(self, words: list[str], i: int) -> list[tuple[Term, EvidenceKind]]:
        """The longest terms matching at word i (exactly or with endings; else with one slip)."""
        index = self.rulebook.by_first_word
        found: list[tuple[Term, EvidenceKind]] = []
        for stem in stems(words[i]):
            found.extend((t, EvidenceKind.term) for t in index.get(stem, ()) if _rest_matches(words, i, t))
        if not found and len(words[i]) >= FUZZY_MIN_LENGTH - 1:
            for near, _distance, _ in process.extract(
                words[i], self._fuzzy_vocabulary, scorer=OSA.distance, score_cutoff=1, limit=5
            ):
                if is_slip(words[i], near):
                    found.extend(
                        (t, EvidenceKind.fuzzy) for t in index.get(near, ()) if _rest_matches(words, i, t)
                    )
        if not found:
            return []
        longest = max(len(t.words) for t, _ in found)
        unique: dict[tuple[str, AgencyCode], tuple[Term, EvidenceKind]] = {}
        for t, kind in found:
            if len(t.words) == longest:
                unique.setdefault((t.text, t.agency), (t, kind))
        return list(unique.values())
