"""Re-route a case an agency declined ("not ours"): the next best agency none of the decliners, or triage."""

from __future__ import annotations

import logging

from contracts.events import CaseRerouteRequested, Envelope
from services.common.sealing import Sealer
from services.routing.adapters.cases import RoutingStore
from services.routing.domain.cases import CaseRecord, already_answered, stale_decline, unseen_case
from services.routing.domain.classifier import Classifier
from services.routing.domain.routing import describe, reroute, status_after
from services.routing.service.answer import Answers, again, hop_of

log = logging.getLogger("samad.routing")


class Reroute:
    def __init__(
        self,
        cases: RoutingStore,
        classifier: Classifier,
        answers: Answers,
        *,
        province: str,
        threshold: float,
        max_declines: int,
        sealer: Sealer | None = None,
    ) -> None:
        self.sealer = sealer  # opens the stored sealed description to classify it again
        self.cases = cases
        self.classifier = classifier
        self.answers = answers
        self.province = province
        self.threshold = threshold
        self.max_declines = max_declines

    async def _text(self, record: CaseRecord) -> str:
        if self.sealer is None or record.description_sealed is None:
            return record.text
        description = await self.sealer.open(record.description_sealed, "description", record.case_id)
        return f"{record.subject}\n{description or ''}".strip()

    async def __call__(self, event: Envelope, replay: bool = False) -> list[Envelope]:
        data = event.data
        assert isinstance(data, CaseRerouteRequested)
        record = await self.cases.get_case(data.case_id)
        if record is None:
            placeholder = unseen_case(data.case_id, self.province, event.time)
            await self.cases.create_case(placeholder)
            record = await self.cases.get_case(data.case_id) or placeholder
        if already_answered(record, event.id):
            return again(record, event.id, replay)
        if stale_decline(record, data.agency):
            await self.cases.add_declined(record.case_id, data.agency, event.id)
            log.info("case %s: stale decline by %s recorded", record.case_id, data.agency.value)
            return []
        declined = tuple(dict.fromkeys((*record.declined, data.agency)))
        decision = reroute(
            self.classifier.classify(await self._text(record), record.category),
            declined,
            data.reason,
            self.threshold,
            self.max_declines,
        )
        envelope = await self.answers.envelope(decision, record, event)
        status, agency = status_after(decision)
        stored = await self.cases.add_hop(
            record.case_id,
            hop_of(event.id, envelope, decision),
            status=status,
            agency=agency,
            declined=declined,
        )
        if not stored:
            return again(await self.cases.get_case(record.case_id), event.id, replay)
        log.info("case %s: declined by %s, %s", record.case_id, data.agency.value, describe(decision))
        return [envelope]
