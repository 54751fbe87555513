"""Route a registered case: the operator's choice, else the classifier above the threshold, else triage."""

from __future__ import annotations

import logging
from dataclasses import replace

from contracts.events import CaseRegistered, Envelope
from services.common.sealing import Sealer, open_event
from services.routing.adapters.cases import RoutingStore
from services.routing.domain.cases import CaseRecord
from services.routing.domain.classifier import Classifier
from services.routing.domain.routing import describe, route_new_case, status_after
from services.routing.service.answer import Answers, again, hop_of

log = logging.getLogger("samad.routing")


class RouteCase:
    def __init__(
        self,
        cases: RoutingStore,
        classifier: Classifier,
        answers: Answers,
        threshold: float,
        sealer: Sealer | None = None,
    ) -> None:
        self.sealer = sealer  # opens a sealed description to classify it (docs/privacy.md)
        self.cases = cases
        self.classifier = classifier
        self.answers = answers
        self.threshold = threshold

    async def __call__(self, event: Envelope, replay: bool = False) -> list[Envelope]:
        data = event.data
        assert isinstance(data, CaseRegistered)
        # No lookup first: a registration is nearly always new, and one seen before (a redelivery, a
        # replay, another replica) fails the create below and is answered from the stored record.
        opened, _ = await open_event(self.sealer, data)
        assert isinstance(opened, CaseRegistered)
        # An erased citizen's description opens empty: the subject alone is classified.
        text = f"{data.subject}\n{opened.description or ''}"
        decision = route_new_case(
            self.classifier.classify(text, data.category), data.operator_agency, self.threshold
        )
        record = CaseRecord(
            case_id=data.case_id,
            province=data.province,
            subject=data.subject,
            description=data.description or "",
            description_sealed=data.description_sealed,
            category=data.category,
            operator_agency=data.operator_agency,
            registered_at=data.registered_at,
            registered_event_id=event.id,
            duty_session_id=data.duty_session_id,
        )
        envelope = await self.answers.envelope(decision, record, event)
        status, agency = status_after(decision)
        record = replace(record, status=status, agency=agency, hops=(hop_of(event.id, envelope, decision),))
        if not await self.cases.create_case(record):
            # Another consumer instance got there first: publish what it stored.
            return again(await self.cases.get_case(data.case_id), event.id, replay)
        log.info("case %s: %s", data.case_id, describe(decision))
        return [envelope]
