"""The rule book: per agency and per category, the weighted terms that point a complaint to an agency.

It is built from plain mappings (the YAML files in services/routing/data/rules/, read by an adapter),
validated here so that a mistake in a data file names the file and the entry. Terms are normalised
with the same matching form as the complaints, so «ي/ی», «ك/ک», digits and half-spaces never matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.catalogue import AgencyCode
from services.routing.domain.text import tokens

MIN_WEIGHT = 0.5
MAX_WEIGHT = 6.0


class RuleBookError(ValueError):
    """A rules file that cannot be used; the message says which file and which entry."""


@dataclass(frozen=True)
class Category:
    code: str
    fa: str
    agency: AgencyCode
    # Other names for this category (e.g. the category codes intake's operators pick).
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Term:
    """A phrase (one or more words, in order) that counts ``weight`` for ``agency``."""

    text: str
    words: tuple[str, ...]
    weight: float
    agency: AgencyCode
    category: str


@dataclass(frozen=True)
class Together:
    """Words that count only when they all occur somewhere in the complaint (any order)."""

    text: str
    words: tuple[str, ...]
    weight: float
    agency: AgencyCode
    category: str


@dataclass(frozen=True)
class RuleBook:
    terms: tuple[Term, ...]
    together: tuple[Together, ...]
    categories: Mapping[str, Category]
    # Category code or its Persian title (matching form) -> category, for operators' category field.
    category_names: Mapping[str, Category] = field(default_factory=dict)
    # First word -> terms starting with it, longest first: the index the classifier scans with.
    by_first_word: Mapping[str, tuple[Term, ...]] = field(default_factory=dict)

    @property
    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.by_first_word)


def _weight(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleBookError(f"{where}: the weight must be a number, not {value!r}")
    if not MIN_WEIGHT <= float(value) <= MAX_WEIGHT:
        raise RuleBookError(f"{where}: the weight {value} is outside {MIN_WEIGHT}..{MAX_WEIGHT}")
    return float(value)


def _entries(value: Any, where: str) -> list[tuple[str, Any]]:
    """Terms may be written as a mapping {phrase: weight} or as a list of one-entry mappings."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, Sequence) and not isinstance(value, str):
        out: list[tuple[str, Any]] = []
        for item in value:
            if not isinstance(item, Mapping) or len(item) != 1:
                raise RuleBookError(f"{where}: each entry must be «phrase: weight», got {item!r}")
            out.extend((str(k), v) for k, v in item.items())
        return out
    raise RuleBookError(f"{where}: expected «phrase: weight» entries, got {type(value).__name__}")


def build_rulebook(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> RuleBook:
    """Build and validate a rule book from (file name, parsed YAML document) pairs, one per agency."""
    terms: dict[tuple[tuple[str, ...], AgencyCode], Term] = {}
    together: list[Together] = []
    categories: dict[str, Category] = {}
    seen_agencies: set[AgencyCode] = set()
    for name, doc in documents:
        if not isinstance(doc, Mapping):
            raise RuleBookError(f"{name}: the file must be a mapping with «agency» and «categories»")
        try:
            agency = AgencyCode(str(doc.get("agency")))
        except ValueError as exc:
            raise RuleBookError(f"{name}: unknown agency code {doc.get('agency')!r}") from exc
        if agency in seen_agencies:
            raise RuleBookError(f"{name}: agency {agency.value} already has a rules file")
        seen_agencies.add(agency)
        cats = doc.get("categories")
        if not isinstance(cats, Sequence) or isinstance(cats, str) or not cats:
            raise RuleBookError(f"{name}: «categories» must be a non-empty list")
        for cat in cats:
            if not isinstance(cat, Mapping) or not cat.get("code") or not cat.get("fa"):
                raise RuleBookError(f"{name}: every category needs «code» and «fa»: {cat!r}")
            code = str(cat["code"])
            where = f"{name} / {code}"
            if code in categories:
                raise RuleBookError(f"{where}: category code used twice (also in {categories[code].agency})")
            aliases = cat.get("aliases") or []
            if not isinstance(aliases, Sequence) or isinstance(aliases, str):
                raise RuleBookError(f"{where}: «aliases» must be a list of names")
            categories[code] = Category(code, str(cat["fa"]), agency, tuple(str(a) for a in aliases))
            for phrase, weight in _entries(cat.get("terms"), f"{where} / terms"):
                words = tuple(tokens(phrase))
                if not words:
                    raise RuleBookError(f"{where}: the term {phrase!r} has no words")
                key = (words, agency)
                if key in terms:
                    raise RuleBookError(f"{where}: the term «{phrase}» is listed twice for {agency.value}")
                terms[key] = Term(
                    " ".join(words), words, _weight(weight, f"{where} / {phrase}"), agency, code
                )
            for phrase, weight in _entries(cat.get("together"), f"{where} / together"):
                words = tuple(tokens(phrase.replace("+", " ")))
                if len(words) < 2:
                    raise RuleBookError(f"{where}: «together» needs two or more words: {phrase!r}")
                together.append(
                    Together(" + ".join(words), words, _weight(weight, f"{where} / {phrase}"), agency, code)
                )
    missing = set(AgencyCode) - seen_agencies
    if missing:
        raise RuleBookError(f"no rules file for: {', '.join(sorted(a.value for a in missing))}")
    index: dict[str, list[Term]] = {}
    for term in terms.values():
        index.setdefault(term.words[0], []).append(term)
    names: dict[str, Category] = {}
    for cat in categories.values():
        for name in (cat.code, *cat.aliases):
            other = names.get(name.lower())
            if other is not None and other.code != cat.code:
                raise RuleBookError(f"category name {name!r} is used by both {other.code} and {cat.code}")
            names[name.lower()] = cat
        names[" ".join(tokens(cat.fa))] = cat
    return RuleBook(
        terms=tuple(terms.values()),
        together=tuple(together),
        categories=categories,
        category_names=names,
        by_first_word={
            w: tuple(sorted(ts, key=lambda t: (-len(t.words), t.agency.value))) for w, ts in index.items()
        },
    )
