"""Delivery receipts against the independent SMSC, whenever they come: right behind the submit_sm_resp,
before it, before the next part's answer, twice, with an empty ``text:``, across a session lost
between two parts, and inside a deliver_sm the SMPP library cannot parse.

Each case ends the same way: every SMS ``delivered`` once on the ledger, its ``sms.delivered``
published once (what tracking puts on the case's timeline), no receipt left unmatched, and the
SMSC's received parts — what the handset gets — holding each message exactly once and whole.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from contracts.events import CaseStatus
from services.notify.bootstrap import NotifyContainer
from services.notify.domain.ledger import SmsState
from services.notify.domain.records import SmsRecord
from tests.integration.notify.conftest import Published, Smsc, make_notify
from tests.integration.notify.helpers import phone_for, registered, status
from tests.integration.notify.test_smpp import LONG_ANSWER, incoming, provider_for
from tests.support.kafka import wait_for


def handset_view(smsc: Smsc, record: SmsRecord) -> list[dict[str, Any]]:
    """The parts of this SMS the SMSC received: by recipient and, for a long one, its reference."""
    to = record.recipient.lstrip("+")
    parts = [p for p in smsc.state()["submitted"] if p["destination"] == to]
    if len(record.parts) == 1:
        return [p for p in parts if not p["udh"] and p["text"] == record.text]
    ref = f"{record.local_id % 256:02x}"
    return [p for p in parts if p["udh"][4:6] == ref]


def assert_whole_once(smsc: Smsc, record: SmsRecord) -> None:
    parts = handset_view(smsc, record)
    if len(record.parts) == 1:
        assert len(parts) == 1, parts
        return
    numbers = Counter(int(p["udh"][-2:], 16) for p in parts)
    assert numbers == Counter(range(1, len(record.parts) + 1)), parts  # each part exactly once
    assert {p["udh"][6:8] for p in parts} == {f"{len(record.parts):02x}"}
    joined = "".join(p["text"] for p in sorted(parts, key=lambda p: p["udh"]))
    assert joined == record.text


async def run_case(
    smsc: Smsc, mongo_db: Any, unique: str, **config: Any
) -> tuple[NotifyContainer, Published]:
    published = Published()
    notify = make_notify(mongo_db, provider_for(smsc), published)
    await notify.startup()
    await notify.start()
    await wait_for(notify.provider.ready, timeout=15)
    smsc.configure(**config)
    case_id, phone = f"case-{unique}", phone_for(unique)
    await notify.recorder.handle(
        [
            incoming(registered(case_id, phone)),
            incoming(status(case_id, CaseStatus.resolved, answer=LONG_ANSWER)),
        ]
    )
    return notify, published


async def assert_all_delivered_once(
    smsc: Smsc, notify: NotifyContainer, published: Published, unique: str
) -> None:
    case_id = f"case-{unique}"
    await wait_for(lambda: len(published.of("delivered")) >= 2, timeout=30)
    records = await notify.ledger.list(case_id=case_id)
    assert len(records) == 2 and all(len(r.parts) == 2 for r in records)
    for record in records:
        assert record.state is SmsState.delivered, (record.state, record.history)
        assert [h.to for h in record.history].count(SmsState.delivered) == 1
        assert [record.part_state(p).value for p in record.parts] == ["delivered"] * len(record.parts)
        assert_whole_once(smsc, record)
    delivered = Counter(e.data.sms_id for e in published.of("delivered"))  # type: ignore[attr-defined]
    assert delivered == Counter({r.sms_id: 1 for r in records})
    assert await notify.receipts.unmatched() == []


RECEIPT_TIMINGS = {
    "right_after_the_submit_sm_resp": {"receipt_mode": "immediate"},
    "before_the_submit_sm_resp": {"receipt_mode": "before_response"},
    "before_the_next_parts_submit_sm_resp": {"receipt_mode": "before_next_response"},
    "twice": {"receipt_mode": "immediate", "duplicate_receipts": True},
    "with_an_empty_text": {"receipt_mode": "immediate", "receipt_text": "empty"},
}


@pytest.mark.parametrize("config", list(RECEIPT_TIMINGS.values()), ids=list(RECEIPT_TIMINGS))
async def test_every_receipt_is_applied_once_to_its_part_whenever_it_comes(
    smsc: Smsc, mongo_db: Any, unique: str, config: dict[str, Any]
) -> None:
    notify, published = await run_case(smsc, mongo_db, unique, **config)
    try:
        await assert_all_delivered_once(smsc, notify, published, unique)
        if config.get("duplicate_receipts"):
            await wait_for(lambda: smsc.state()["receipts_acked"] >= 8, timeout=10)
            assert len(published.of("delivered")) == 2
    finally:
        await notify.stop()


async def test_a_message_cut_between_its_parts_is_completed_without_sending_a_part_twice(
    smsc: Smsc, mongo_db: Any, unique: str
) -> None:
    """The session drops after part 1 was accepted and before part 2's answer: part 2 was not
    accepted and goes again on the next session, with the same reference and part number; part 1
    is not sent again, and its receipt (never acknowledged on the lost session) comes on the next."""
    notify, published = await run_case(smsc, mongo_db, unique, receipt_mode="immediate", drop_between_parts=1)
    try:
        await assert_all_delivered_once(smsc, notify, published, unique)
        state = smsc.state()
        assert state["drops"] == 1 and state["binds"] >= 2
    finally:
        await notify.stop()


async def test_a_deliver_sm_the_library_cannot_parse_neither_drops_the_session_nor_loses_receipts(
    smsc: Smsc, mongo_db: Any, unique: str
) -> None:
    """A receipt whose source TON is 9 (outside 0-6) is read field by field, recorded and answered
    with a deliver_sm_resp; the session stays, and the receipts behind it are applied."""
    notify, published = await run_case(smsc, mongo_db, unique, receipt_mode="immediate", malformed_receipts=2)
    try:
        await assert_all_delivered_once(smsc, notify, published, unique)
        state = smsc.state()
        assert state["malformed_sent"] == 2 and state["malformed_statuses"] == [0, 0]
        assert state["binds"] == 1 and state["receipts_refused"] == 0
    finally:
        await notify.stop()
