"""The SMPP provider and notify's ledger against an independent SMSC (the npm ``smpp`` package):
transceiver bind, UCS-2 concatenated parts, receipts, throttling, a repeated receipt, keep-alive,
reconnect and an inbound opt-out."""

from __future__ import annotations

from typing import Any

from contracts.events import CaseStatus
from services.common.kafka import Incoming
from services.notify.adapters.providers.base import OutgoingSms, SendError
from services.notify.adapters.providers.smpp import SmppProvider
from services.notify.bootstrap import NotifyContainer
from services.notify.domain.ledger import SmsState
from services.notify.domain.policy import ErrorKind
from tests.integration.notify.conftest import Published, Smsc, make_notify
from tests.integration.notify.helpers import phone_for, registered, status
from tests.support.kafka import wait_for

LONG_ANSWER = "لوله اصلی آب محله تعویض شد و فشار آب به حالت عادی بازگشت؛ از صبر شما سپاسگزاریم."


def provider_for(smsc: Smsc, **kw: Any) -> SmppProvider:
    kw.setdefault("response_timeout", 3.0)  # short, so the tests that cut sessions finish quickly
    return SmppProvider("127.0.0.1", smsc.port, "samad", "secret", **kw)


def incoming(event: Any) -> Incoming:
    return Incoming(event, "samad.cases.v1", 0, 0, {})


async def run_case(notify: NotifyContainer, unique: str, *events: Any) -> None:
    await notify.recorder.handle([incoming(e) for e in events])


async def test_long_persian_sms_goes_as_ucs2_concatenated_parts_and_is_delivered(
    smsc: Smsc, mongo_db: Any, unique: str
) -> None:
    published = Published()
    notify = make_notify(mongo_db, provider_for(smsc, enquire_link_interval=0.5), published)
    await notify.startup()
    await notify.start()
    try:
        await wait_for(notify.provider.ready, timeout=15)
        case_id, phone = f"case-{unique}", phone_for(unique)
        await run_case(
            notify,
            unique,
            registered(case_id, phone),
            status(case_id, CaseStatus.resolved, answer=LONG_ANSWER),
        )
        await wait_for(lambda: len(published.of("delivered")) == 2, timeout=20)

        parts = smsc.state()["submitted"]
        assert {p["data_coding"] for p in parts} == {8}
        assert all(p["destination"] == phone.lstrip("+") for p in parts)
        records = {r.template: r for r in await notify.ledger.list(case_id=case_id)}
        resolved = records["resolved"]
        assert resolved.segments == 2 and resolved.state is SmsState.delivered
        mine = [p for p in parts if p["message_id"] in resolved.message_ids]
        assert len(mine) == 2
        # Concatenation information element: IEI 0x00, length 3, one reference, 2 parts, numbered 1 and 2.
        udhs = sorted(p["udh"] for p in mine)
        ref = udhs[0][4:6]
        assert udhs == [f"0003{ref}0201", f"0003{ref}0202"]
        joined = "".join(p["text"] for p in sorted(mine, key=lambda p: p["udh"]))
        assert joined == resolved.text
        # Each part carries the id the SMSC gave it, in the order of the concatenation header.
        by_udh = {p["udh"][-2:]: p["message_id"] for p in mine}
        assert [part.message_id for part in resolved.parts] == [by_udh["01"], by_udh["02"]]
        assert len(published.of("sent")) == 2
        # The link was kept alive while idle.
        await wait_for(lambda: smsc.state()["enquire_links"] >= 1, timeout=10)
    finally:
        await notify.stop()


async def test_throttled_part_is_retried_alone_and_nothing_is_sent_twice(
    smsc: Smsc, mongo_db: Any, unique: str
) -> None:
    published = Published()
    notify = make_notify(mongo_db, provider_for(smsc), published)
    await notify.startup()
    await notify.start()
    try:
        await wait_for(notify.provider.ready, timeout=15)
        smsc.configure(throttle_next=2)
        case_id, phone = f"case-{unique}", phone_for(unique)
        await run_case(notify, unique, registered(case_id, phone))
        await wait_for(lambda: len(published.of("delivered")) == 1, timeout=20)
        state = smsc.state()
        assert state["throttled"] == 2
        [record] = await notify.ledger.list(case_id=case_id)
        accepted = [p for p in state["submitted"] if p["destination"] == phone.lstrip("+")]
        assert len(accepted) == len(record.parts)  # each part accepted exactly once
        # The throttling was absorbed by the in-call retries of the one claim: the record was neither
        # requeued for a later claim nor failed, and went straight through.
        assert record.claims == 1
        assert [h.to for h in record.history] == ["pending", "sending", "submitted", "delivered"]
    finally:
        await notify.stop()


async def test_a_receipt_sent_twice_is_recorded_once(smsc: Smsc, mongo_db: Any, unique: str) -> None:
    published = Published()
    notify = make_notify(mongo_db, provider_for(smsc), published)
    await notify.startup()
    await notify.start()
    try:
        await wait_for(notify.provider.ready, timeout=15)
        smsc.configure(duplicate_receipts=True)
        case_id, phone = f"case-{unique}", phone_for(unique)
        await run_case(notify, unique, registered(case_id, phone))
        [record] = await notify.ledger.list(case_id=case_id)
        expected = len(record.parts) * 2
        await wait_for(lambda: smsc.state()["receipts_acked"] >= expected, timeout=20)
        await wait_for(lambda: len(published.of("delivered")) >= 1, timeout=10)
        assert len(published.of("delivered")) == 1
        [record] = await notify.ledger.list(case_id=case_id)
        assert record.state is SmsState.delivered
        assert [h.to for h in record.history].count(SmsState.delivered) == 1
    finally:
        await notify.stop()


async def test_undeliverable_receipt_fails_the_sms(smsc: Smsc, mongo_db: Any, unique: str) -> None:
    published = Published()
    notify = make_notify(mongo_db, provider_for(smsc), published)
    await notify.startup()
    await notify.start()
    try:
        await wait_for(notify.provider.ready, timeout=15)
        smsc.configure(receipt="undeliverable")
        case_id, phone = f"case-{unique}", phone_for(unique)
        await run_case(notify, unique, registered(case_id, phone))
        await wait_for(lambda: len(published.of("failed")) == 1, timeout=20)
        failed = published.of("failed")[0].data
        assert "UNDELIV" in failed.error  # type: ignore[attr-defined]
    finally:
        await notify.stop()


async def test_reconnects_after_the_smsc_drops_the_session(smsc: Smsc, mongo_db: Any, unique: str) -> None:
    provider = provider_for(smsc)
    published = Published()
    notify = make_notify(mongo_db, provider, published)
    await notify.startup()
    await notify.start()
    try:
        await wait_for(provider.ready, timeout=15)
        smsc.drop()
        await wait_for(lambda: smsc.state()["binds"] >= 2 and smsc.state()["sessions"] == 1, timeout=20)
        await wait_for(provider.ready, timeout=15)
        case_id, phone = f"case-{unique}", phone_for(unique)
        await run_case(notify, unique, registered(case_id, phone))
        await wait_for(lambda: len(published.of("delivered")) == 1, timeout=20)
    finally:
        await notify.stop()


async def test_inbound_cancel_word_opts_the_citizen_out(smsc: Smsc, mongo_db: Any, unique: str) -> None:
    published = Published()
    notify = make_notify(mongo_db, provider_for(smsc), published)
    await notify.startup()
    await notify.start()
    try:
        await wait_for(notify.provider.ready, timeout=15)
        phone = phone_for(unique)
        smsc.mo(phone.lstrip("+"), "لغو")
        await wait_for(lambda: notify.optouts.is_opted_out(phone), timeout=15)
        assert smsc.state()["mo_acked"] == 1
        case_id = f"case-{unique}"
        await run_case(notify, unique, registered(case_id, phone))
        # The sender asks right before sending, and skips the record instead.
        await wait_for(
            lambda: notify.ledger.list(case_id=case_id, state=SmsState.skipped_opted_out), timeout=15
        )
        [record] = await notify.ledger.list(case_id=case_id)
        assert record.state is SmsState.skipped_opted_out and record.claims == 1
        assert not [p for p in smsc.state()["submitted"] if p["destination"] == phone.lstrip("+")]
    finally:
        await notify.stop()


async def test_no_answer_after_submit_is_unknown_not_resent(smsc: Smsc, unique: str) -> None:
    provider = provider_for(smsc)
    published = Published()

    async def ignore(*_a: Any) -> None:
        return None

    await provider.start(ignore, ignore)
    try:
        await wait_for(provider.ready, timeout=15)
        smsc.configure(hold_responses=True)
        sms = OutgoingSms(f"sms-{unique}", phone_for(unique), "سلام", 1, 7)
        try:
            await provider.send(sms)
            raise AssertionError("expected a timeout")
        except SendError as exc:
            assert exc.kind is ErrorKind.unknown
    finally:
        await provider.stop()
    assert published.events == []
