"""Routing decisions: operator's choice, classifier, triage, re-routing after "not ours", manual triage.

Pure functions from what is known about a case to what routing says next; the service layer stores
the result and publishes it as case.routed or case.triage_required.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.catalogue import AgencyCode, agency
from contracts.events import RouteReason, TriageReason, deterministic_id
from contracts.persian import to_persian_digits
from services.routing.domain.classifier import Classification, Classifier

MAX_DECLINES = 2
TRIAGE_CANDIDATES = 3


@dataclass(frozen=True)
class Routed:
    agency: AgencyCode
    reason: RouteReason
    confidence: float
    explanation: list[str]
    declined: list[AgencyCode] = field(default_factory=list)


@dataclass(frozen=True)
class Triage:
    reason: TriageReason
    candidates: list[tuple[AgencyCode, float]]
    explanation: list[str]
    declined: list[AgencyCode] = field(default_factory=list)


Decision = Routed | Triage


def status_after(decision: Decision) -> tuple[str, AgencyCode | None]:
    """The case's status and agency once the decision is taken: routed to an agency, or in triage."""
    if isinstance(decision, Routed):
        return "routed", decision.agency
    return "triage", None


def decision_event_id(cause_id: str) -> str:
    """The id of routing's answer to one cause event: the same cause always yields the same id."""
    return deterministic_id("routing", "decision", cause_id)


def describe(decision: Decision) -> str:
    """One line for the log."""
    if isinstance(decision, Routed):
        return f"routed to {decision.agency.value} ({decision.reason.value}, {decision.confidence:.2f})"
    return f"triage ({decision.reason.value})"


def _fa(value: float) -> str:
    return to_persian_digits(f"{value:.2f}").replace(".", "٫")


def _candidates(c: Classification) -> list[tuple[AgencyCode, float]]:
    return [(s.agency, s.confidence) for s in c.candidates(TRIAGE_CANDIDATES)]


def _triage_lines(c: Classification, why: str) -> list[str]:
    lines = [why]
    for s in c.candidates(TRIAGE_CANDIDATES):
        lines.extend(c.explanation(s.agency, limit=3))
    if not c.ranking:
        lines.append("هیچ عبارتی از قواعد مسیریابی در متن پیدا نشد")
    return lines


def route_new_case(
    classification: Classification, operator_agency: AgencyCode | None, threshold: float
) -> Decision:
    """The operator's explicit choice wins; else the classifier above the threshold; else triage."""
    if operator_agency is not None:
        lines = [f"اپراتور دستگاه «{agency(operator_agency).fa}» را انتخاب کرد"]
        best = classification.best
        if best is not None and best.agency != operator_agency:
            lines.append(
                f"پیشنهاد طبقه‌بند: {agency(best.agency).fa} (اطمینان {_fa(best.confidence)})؛ "
                "انتخاب اپراتور مقدم است"
            )
        return Routed(operator_agency, RouteReason.operator, 1.0, lines)
    best = classification.best
    if best is not None and best.confidence >= threshold:
        return Routed(best.agency, RouteReason.classifier, best.confidence, classification.explanation())
    why = f"اطمینان طبقه‌بند ({_fa(classification.confidence)}) کمتر از آستانهٔ {_fa(threshold)} است"
    return Triage(
        TriageReason.low_confidence, _candidates(classification), _triage_lines(classification, why)
    )


def reroute(
    classification: Classification,
    declined: Sequence[AgencyCode],
    reason_text: str | None,
    threshold: float,
    max_declines: int = MAX_DECLINES,
) -> Decision:
    """After an agency said "not ours": the next best agency none of the decliners, or triage.

    The decliner's reason is quoted in the explanation only when it came in plain form: a sealed one
    (staff's text about the citizen, docs/privacy.md) stays in its own event, where tracking opens it
    for staff, and is not copied in clear onto the routing events that follow.

    After ``max_declines`` declines a person decides (triage, declined_twice); before that the next
    best agency is chosen only if the classifier is confident enough among the agencies left.
    """
    out = list(dict.fromkeys(declined))
    names = "، ".join(agency(a).fa for a in out)
    header = f"اعلام عدم صلاحیت: {names}" + (f" — دلیل: {reason_text}" if reason_text else "")
    rest = classification.excluding(out)
    if len(out) >= max_declines:
        why = f"{header}؛ پس از {len(out)} بار اعلام عدم صلاحیت، تصمیم با کارشناس سامد است"
        return Triage(TriageReason.declined_twice, _candidates(rest), _triage_lines(rest, why), out)
    best = rest.best
    if best is not None and best.confidence >= threshold:
        return Routed(best.agency, RouteReason.reroute, best.confidence, [header, *rest.explanation()], out)
    why = f"{header}؛ گزینهٔ بعدی مطمئن نیست (اطمینان {_fa(rest.confidence)})"
    return Triage(TriageReason.low_confidence, _candidates(rest), _triage_lines(rest, why), out)


def manual(chosen: AgencyCode, actor_name: str, note: str | None, declined: Sequence[AgencyCode]) -> Routed:
    lines = [f"تصمیم کارشناس ({actor_name}): ارجاع به {agency(chosen).fa}"]
    if note:
        lines.append(f"توضیح: {note}")
    if chosen in declined:
        lines.append("این دستگاه پیش‌تر اعلام عدم صلاحیت کرده بود؛ کارشناس ارجاع دوباره را تأیید کرد")
    return Routed(chosen, RouteReason.manual, 1.0, lines, list(declined))


@dataclass(frozen=True)
class ClassifyResult:
    agency: AgencyCode | None
    confidence: float
    explanation: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "agency": self.agency.value if self.agency else None,
            "confidence": round(self.confidence, 4),
            "explanation": self.explanation,
        }


def decide_text(
    classifier: Classifier,
    threshold: float,
    text: str,
    category: str | None = None,
    operator_agency: AgencyCode | None = None,
) -> ClassifyResult:
    """What routing decides for a new case with this text: the consumer, the API and the CLI use this."""
    decision = route_new_case(classifier.classify(text, category), operator_agency, threshold)
    if isinstance(decision, Routed):
        return ClassifyResult(decision.agency, decision.confidence, decision.explanation)
    top = decision.candidates[0][1] if decision.candidates else 0.0
    return ClassifyResult(None, top, decision.explanation)
