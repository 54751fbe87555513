"""Recording: citizen-facing case events and escalation steps become SMS ledger records (the
consumer's handler).

The consumer only writes ledger records (``pending``, ``deferred`` or ``skipped_stale``) and commits;
sending happens elsewhere. A fetched batch is worked as a whole: each case's events are folded onto
its contact in their order, each changed contact is written once, and every new record of the batch
goes in one insert. The record's id comes from the event id, so the same event arriving again (a
redelivery, a rewind, a replay) finds its record and sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from contracts.events import CaseRegistered, EventData
from services.common.clock import Clock
from services.common.kafka import Incoming
from services.common.logs import mask_phone
from services.common.recent import Recent
from services.common.sealing import Sealer, open_event
from services.notify.adapters.contacts import Contacts
from services.notify.adapters.ledger import Ledger
from services.notify.domain.messages import SMS_EVENT_TYPES, CaseContact, apply, intents_for
from services.notify.domain.policy import decide
from services.notify.domain.records import SmsRecord, new_record, sealed, skip_erased
from services.notify.domain.rendering import render
from services.notify.domain.templates import Template, TemplateKey
from services.notify.service.config import NotifyConfig
from services.notify.service.metrics import REPLAYED, SMS_DUPLICATES, SMS_RECORDED
from services.notify.service.send import HANDED_MAX, Senders

log = logging.getLogger("samad.notify")


class Recorder:
    def __init__(
        self,
        *,
        ledger: Ledger,
        contacts: Contacts,
        templates: dict[TemplateKey, Template],
        senders: Senders,
        clock: Clock,
        config: NotifyConfig,
        provider: str,
        sealer: Sealer | None = None,
    ) -> None:
        # Opens a sealed contact's phone to record its SMS, and seals the record's recipient and
        # text under the citizen's key (docs/privacy.md); None: plain records.
        self.sealer = sealer
        self.ledger, self.contacts = ledger, contacts
        self.templates = templates
        self.senders = senders
        self.clock = clock
        self.config = config
        self.provider = provider  # the gateway's name, written on new records
        # Records of an insert that failed (the database went away mid-command): some may be in the
        # ledger. When their events come again (the consumer retries the batch) they are found there,
        # and are handed to the senders then rather than left for the scanner's next round.
        self._unsure: Recent[str, bool] = Recent(HANDED_MAX)

    async def handle(self, batch: Sequence[Incoming]) -> None:
        """Project the batch's events onto the case contacts and write the ledger records their SMS
        need. A few commands serve the whole batch (the contacts read and written by ``_id``, one
        insert of every new record), not a few per event."""
        items = [item for item in batch if item.event.type in SMS_EVENT_TYPES]
        if not items:
            return
        now = self.clock.now()
        afters = await self._contacts_after([item.event.data for item in items], now)
        wanted: list[tuple[Incoming, SmsRecord]] = []
        for item, sealed_after in zip(items, afters, strict=True):
            after, erased = await self._opened(sealed_after)
            # Staff's answer or question quoted in the SMS, sealed under the citizen's key like the phone:
            # opened to compose the text; when it cannot be (the key is erased), the SMS is skipped.
            data, text_erased = await open_event(self.sealer, item.event.data)
            erased |= text_erased
            intents = intents_for(data, after, item.event.time)
            for intent in intents:
                template = self.templates[intent.template]
                record = new_record(
                    event=item.event,
                    intent=intent,
                    template=template,
                    rendered=render(template, intent.values),
                    decision=decide(
                        now=now,
                        event_time=item.event.time,
                        stale_after=self.config.stale_after,
                        urgent=template.urgent,
                        quiet=self.config.quiet,
                    ),
                    provider=self.provider,
                    now=now,
                    replay_run=item.replay_run,
                )
                citizens = sealed_after is not None and after is not None and intent.recipient == after.phone
                if citizens and sealed_after is not None and sealed_after.phone_sealed is not None:
                    # The citizen's SMS (not an escalation's to staff): kept sealed, or skipped if erased.
                    record = await self._sealed(record, sealed_after.phone_sealed.kid, erased, now)
                wanted.append((item, record))
            if not intents and after is None:
                log.warning(
                    "no citizen contact for case %s: %s not sent", item.event.subject, item.event.type
                )
        if not wanted:
            return
        # Whether the citizen opted out is asked once, by the sender, right before sending: the
        # latest answer, one read per SMS (an opted-out citizen's record goes pending, then skipped).
        try:
            existing = await self.ledger.insert_many([record for _, record in wanted])
        except BaseException:
            for _, record in wanted:
                self._unsure.put(record.sms_id, True)
            raise
        for n, (item, record) in enumerate(wanted):
            unsure = self._unsure.pop(record.sms_id, False)
            state = None
            if n not in existing:
                state = self._recorded(record)
            elif unsure:
                # The insert that failed may have written it: the senders see it now rather than at
                # the scanner's next round (reading it first, as the copy here may not be the one stored).
                log.info("sms %s may have been written by an insert that failed: handed on", record.sms_id)
                self.senders.hand(record, as_stored=False)
            else:
                SMS_DUPLICATES.inc()
                log.debug("sms %s for event %s is already in the ledger", record.sms_id, item.event.id)
            if item.replay_run:
                REPLAYED.labels(state or "duplicate").inc()
                log.info(
                    "replayed event %s (%s) from replay run %s: %s",
                    item.event.id,
                    item.event.type,
                    item.replay_run,
                    f"recorded as {state}" if state else "already in the ledger, nothing sent",
                )

    async def _opened(self, contact: CaseContact | None) -> tuple[CaseContact | None, bool]:
        """The contact with its sealed phone opened, and whether it was erased (phone left empty)."""
        if contact is None or contact.phone_sealed is None or contact.phone:
            return contact, False
        phone = (
            await self.sealer.open(contact.phone_sealed, "citizen.phone", contact.case_id)
            if self.sealer
            else None
        )
        return replace(contact, phone=phone or ""), phone is None

    async def _sealed(self, record: SmsRecord, kid: str, erased: bool, now: datetime) -> SmsRecord:
        """The citizen's SMS as the ledger keeps it: sealed, or skipped when their key is erased."""
        if erased or self.sealer is None:
            skipped = replace(
                record, recipient="", text="", parts=tuple(replace(p, prefix="") for p in record.parts)
            )
            return skip_erased(skipped, now=now) or skipped
        recipient = await self.sealer.seal(kid, "recipient", record.case_id, record.recipient)
        text = await self.sealer.seal(kid, "text", record.case_id, record.text)
        assert recipient is not None and text is not None
        return sealed(record, recipient, text)

    async def _contacts_after(self, data: Sequence[EventData], now: datetime) -> list[CaseContact | None]:
        """Each event's case contact once it is applied: a case's events in the batch are folded, in
        their order, onto its stored contact, and each contact that changed is written once.

        A case whose first event here is its registration is nearly always new: its contact is
        inserted without looking for one. Only a case that has one already (a redelivery, or a replay
        in another order) is read, and its events are folded again onto what is stored."""
        positions: dict[str, list[int]] = {}
        for n, d in enumerate(data):
            positions.setdefault(d.case_id, []).append(n)  # type: ignore[attr-defined]
        afters: list[CaseContact | None] = [None] * len(data)

        def fold(case_id: str, contact: CaseContact | None) -> CaseContact | None:
            for n in positions[case_id]:
                contact = apply(contact, data[n])
                afters[n] = contact
            return contact

        presumed_new = {cid for cid, ps in positions.items() if isinstance(data[ps[0]], CaseRegistered)}
        stored = await self.contacts.load(cid for cid in positions if cid not in presumed_new)
        inserts = [c for cid in presumed_new if (c := fold(cid, None)) is not None]
        had_one = await self.contacts.add_many(inserts, now)
        stored.update(await self.contacts.load(had_one))
        changed: list[CaseContact] = []
        for cid in [*(c for c in positions if c not in presumed_new), *had_one]:
            before = stored.get(cid)
            after = fold(cid, before)
            if after is not None and after != before:
                changed.append(after)
        await self.contacts.put_many(changed, now)
        return afters

    def _recorded(self, record: SmsRecord) -> str:
        """A new record is in the ledger: hand it to the senders, or note when it falls due."""
        SMS_RECORDED.labels(record.template, record.state.value).inc()
        log.info(
            "sms %s (%s) to %s: %s%s",
            record.sms_id,
            record.template,
            mask_phone(record.recipient),
            record.state.value,
            f" ({record.reason})" if record.reason else "",
        )
        self.senders.hand(record, as_stored=True)
        return str(record.state.value)
