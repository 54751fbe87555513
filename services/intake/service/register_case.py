"""Register a citizen's case, or link a repeat call to the open case it repeats, once per Idempotency-Key.

A case is ``case.registered`` with a tracking code no other case holds; a new report from the same
phone about the same open problem is ``case.repeat_call`` on that case instead (domain/cases.py).

The tracking code is the citizen's proof of the case, so it is drawn at random (``secrets``), never
computed from the case id, the Idempotency-Key or a CSV ``call_ref``. It is claimed in the store with
the case id before it is published; a retry, even after a crash between claim and publication, finds
the claim recorded under the case id and publishes the same code.

An operator waits on the phone for the code, so the database's answers are awaited together where
nothing orders them: the key's reservation, the caller's list of cases (which also holds the case's
own view on a retry) and, unless the operator named the case a call repeats, the claim of a code all
start at once. A
report that then turns out to repeat an open case leaves its code unused, as a crash between claim
and publication would: a code no case publishes, never one two cases share.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from contracts import tracking_code
from contracts.events import Channel, Envelope
from services.common.bounded import together
from services.common.clock import Clock
from services.common.logs import mask_phone
from services.common.publishing import Publisher
from services.common.sealing import Sealer, seal_envelope
from services.intake.adapters.store import IntakeStore
from services.intake.domain import events, ids
from services.intake.domain.cases import CaseView, Repeat, RepeatPolicy, find_repeat
from services.intake.domain.operators import Acting, case_operator
from services.intake.domain.requests import CaseIn
from services.intake.domain.validation import Invalid
from services.intake.service.idempotency import Answer, Idempotency
from services.intake.service.log_call import CallToLog, Rejected

# Draws of a new code when the one drawn is already another case's (each draw hits a taken code with
# odds of cases/9x10^8, so running out means the store, not chance, is at fault).
MAX_CODE_ATTEMPTS = 20

log = logging.getLogger("samad.intake")

CASES_REGISTERED = Counter("samad_intake_cases_registered_total", "Cases registered", ["channel"])
REPEAT_CALLS = Counter("samad_intake_repeat_calls_total", "Reports linked to an open case")


class RegisterCase:
    def __init__(
        self,
        idempotency: Idempotency,
        store: IntakeStore,
        publisher: Publisher,
        clock: Clock,
        *,
        repeat_policy: RepeatPolicy,
        status_base_url: str,
        new_code: Callable[[], str] = tracking_code.random_code,
        sealer: Sealer | None = None,
    ) -> None:
        self.idempotency = idempotency
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.repeat_policy = repeat_policy
        self.status_base_url = status_base_url.rstrip("/")
        self.new_code = new_code
        # Seals the citizen's personal fields in the events (docs/privacy.md); None: plain events.
        self.sealer = sealer

    def citizen_key(self, phone: str) -> str:
        """How the case view names the citizen: their key id when sealing, else their phone."""
        return self.sealer.key_id(phone) if self.sealer is not None else phone

    async def opened(self, view: CaseView) -> CaseView:
        """The view with its sealed description opened (empty once the citizen's key is erased)."""
        if self.sealer is None or view.description_sealed is None:
            return view
        text = await self.sealer.open(view.description_sealed, "description", view.case_id)
        return replace(view, description=text or "")

    def status_url(self, tracking_code: str) -> str:
        return f"{self.status_base_url}/v1/status/{tracking_code}"

    async def __call__(
        self,
        case: CaseIn,
        *,
        key: str,
        by: Acting | None = None,
        scope: str = "cases",
        channel: Channel | None = None,
        public: bool = False,
        call_started_at: datetime | None = None,
        call: CallToLog | None = None,
    ) -> Answer:
        """201 with the new case, or 200 with the open case a repeat call was linked to. ``by``: who
        sends it (an operator acts only as themselves); without it the case keeps the operator it names.
        ``public``: the submitter chose to publish the description, which only an Open311 request can
        (a case registered by an operator never is public). ``call_started_at``: when the call the case
        comes from started, when known (an imported log registers its cases long after its calls);
        reports count the case in that call's period. It is not part of the request's fingerprint.
        ``call``: the answered call the case comes from, logged by the same request under the same key
        (service/log_call_with_case.py): its ``call.received`` is acknowledged before the case's event,
        and the answer holds both."""
        if call is not None:
            case = case.model_copy(update={"call_id": call.call_ids.call_id})
        operator_id = case_operator(case.operator_id, by)
        public = public and channel == Channel.open311
        body = case.as_sent() | {
            "operator_id": operator_id,
            "channel": (channel or Channel(case.channel)).value,
        }
        if public:  # (only then, so the fingerprints of keys stored before the choice existed hold)
            body["public"] = True
        if call is not None:
            body = {"call": call.body, "case": body}

        now = self.clock.now()
        case_ids = ids.case_ids(f"{scope}:{key}")
        # Started beside the key's reservation (they depend on nothing it decides); awaited by the
        # registration, and in any case before answering, so nothing is left running.
        reads = asyncio.ensure_future(self._reads(case, case_ids.case_id, now))
        claim = (
            None if case.repeat_of is not None else asyncio.ensure_future(self._claim_code(case_ids.case_id))
        )
        ahead: list[asyncio.Future[Any]] = [reads] if claim is None else [reads, claim]

        # The registration's write-through to the case view, done while the key's answer is stored.
        write_through: list[Callable[[], Awaitable[object]]] = []

        async def produce() -> Answer:
            first: Envelope | None = None
            if call is None:
                already, found = await reads
            else:
                (already, found), first = await asyncio.gather(reads, call.event())
            answer = await self._register(
                case,
                case_ids,
                already,
                found,
                claim,
                now,
                operator_id,
                channel,
                public,
                call_started_at,
                write_through,
                first,
            )
            if call is None or first is None:
                return answer
            return Answer(201, {"call": call.logged(first), "case": answer.body})

        async def beside() -> None:
            for write in write_through:
                await write()

        try:
            return await self.idempotency.once(scope, key, ids.fingerprint(scope, body), produce, beside)
        finally:
            # A replay, a refusal or a failure: what was started still finishes (a claim half done
            # would leave a code recorded for no case), its errors already answered or not needed.
            await asyncio.gather(*ahead, return_exceptions=True)

    async def _reads(
        self, case: CaseIn, case_id: str, now: datetime
    ) -> tuple[CaseView | None, list[CaseView]]:
        """The case's view (there after a retry whose first attempt got as far as Kafka) and the
        caller's open cases within the repeat window, in one lookup of the caller's list (the case is
        listed before its view is written, so a view written is found there)."""
        return await self.store.phone_cases(
            self.citizen_key(case.phone), now - self.repeat_policy.window, case_id
        )

    async def _register(
        self,
        case: CaseIn,
        case_ids: ids.CaseIds,
        already: CaseView | None,
        found: list[CaseView],
        claim: Awaitable[str] | None,
        now: datetime,
        operator_id: str | None,
        channel: Channel | None,
        public: bool,
        call_started_at: datetime | None,
        write_through: list[Callable[[], Awaitable[object]]],
        first: Envelope | None = None,
    ) -> Answer:
        repeat = None if already is not None else await self._repeat_of(case, found, case_ids.case_id, now)
        if repeat is not None:
            return await self._link(case, case_ids, repeat, operator_id, now, first)
        # A retry whose first attempt got as far as Kafka (the view has the case) republishes the same
        # event: same id, so consumers see it once.
        registered_at = already.registered_at if already is not None else now
        if already is not None:
            code = already.tracking_code
        else:
            code = await (claim if claim is not None else self._claim_code(case_ids.case_id))
        event = events.case_registered(
            case,
            case_ids,
            tracking_code=code,
            operator_id=operator_id,
            now=registered_at,
            channel=channel,
            public=public,
            call_started_at=call_started_at,
        )
        event = await seal_envelope(self.sealer, event)
        if already is None:
            # The case joins its caller's list while the event is published: listed before its view
            # is written (a failure in between leaves an id without a view, which lookups skip).
            listing = self.store.list_for_phone(self.citizen_key(case.phone), case_ids.case_id, registered_at)
            await together(self._publish(first, event), listing)
        else:
            await self._publish(first, event)
        # Write-through: a repeat call a second later must already see this case (written while the
        # key's answer is stored; should it fail, intake's consumer writes it from the event).
        write_through.append(lambda: self.store.apply_event(event, new=already is None, listed=True))
        CASES_REGISTERED.labels((channel or Channel(case.channel)).value).inc()
        log.info("case %s registered", case_ids.case_id)
        return Answer(
            201,
            {
                "status": "registered",
                "case_id": case_ids.case_id,
                "tracking_code": code,
                "status_url": self.status_url(code),
                "duplicate_of": None,
                "event_id": event.id,
            },
        )

    async def _repeat_of(
        self, case: CaseIn, found: list[CaseView], case_id: str, now: datetime
    ) -> Repeat | None:
        """The open case this report repeats among the caller's open cases ``found``, if any (never
        the case itself, on a retry): the one the operator named, or one found by its text."""
        candidates = [await self.opened(c) for c in found]
        if case.repeat_of is not None:
            named = [c for c in candidates if case.repeat_of in (c.case_id, c.tracking_code) and c.open]
            if not named:
                raise Rejected(
                    [
                        (
                            "repeat_of",
                            Invalid(
                                "not_open_case_of_caller",
                                "not an open case of this caller",
                                "این پرونده از پرونده‌های باز همین شماره نیست؛ پرونده را از فهرست تماس‌گیرنده انتخاب کنید",
                            ),
                        )
                    ]
                )
            return Repeat(named[0], 1.0)
        return find_repeat(
            phone=self.citizen_key(case.phone),
            agency=case.agency,
            description=case.description,
            candidates=candidates,
            now=now,
            policy=self.repeat_policy,
            exclude_case_id=case_id,
        )

    async def _link(
        self,
        case: CaseIn,
        case_ids: ids.CaseIds,
        repeat: Repeat,
        operator_id: str | None,
        now: datetime,
        first: Envelope | None = None,
    ) -> Answer:
        event = events.repeat_call(case, case_ids, repeat, operator_id=operator_id, now=now)
        event = await seal_envelope(self.sealer, event, self.citizen_key(case.phone))
        await self._publish(first, event)
        REPEAT_CALLS.inc()
        log.info(
            "repeat call from %s linked to case %s (similarity %.2f)",
            mask_phone(case.phone),
            repeat.case.case_id,
            repeat.similarity,
        )
        return Answer(
            200,
            {
                "status": "repeat_call",
                "case_id": repeat.case.case_id,
                "tracking_code": repeat.case.tracking_code,
                "status_url": self.status_url(repeat.case.tracking_code),
                "duplicate_of": repeat.case.case_id,
                "similarity": repeat.similarity,
                "event_id": event.id,
            },
        )

    async def _publish(self, first: Envelope | None, event: Envelope) -> None:
        """The case's event; after ``first`` (the call it comes from) is acknowledged, when the request
        logs its call too: the same order as a call logged and then a case registered."""
        if first is not None:
            await self.publisher.publish([first])
        await self.publisher.publish([event])

    async def _claim_code(self, case_id: str) -> str:
        """The case's tracking code: a fresh random one claimed now, or the one claimed for it before
        (a retry: the store answers with that one and gives the fresh one back). A drawn code another
        case holds is never shared: another is drawn."""
        for _ in range(MAX_CODE_ATTEMPTS):
            code = await self.store.claim_tracking_code(self.new_code(), case_id)
            if code is not None:
                return code
        raise RuntimeError(f"no free tracking code for case {case_id} in {MAX_CODE_ATTEMPTS} draws")
