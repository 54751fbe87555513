"""Notify with sealing on: the contact and the ledger keep the citizen's phone and the SMS text only
sealed, the gateway gets them opened, sms.sent carries them sealed; once the citizen's key is erased
their SMS are recorded as skipped_erased and nothing is sent."""

from __future__ import annotations

import json
from dataclasses import asdict

from contracts.events import CaseRegistered, CaseStatus, CaseStatusChanged, SmsSent, make_event
from services.common.keystore import InMemoryKeyStore
from services.common.sealing import KeyRing, Sealer, new_key_text, open_event, parse_keks, seal_envelope
from services.notify.adapters.ledger.documents import to_document
from services.notify.bootstrap import bootstrap
from services.notify.domain.ledger import SmsState
from services.notify.settings import NotifySettings
from tests.unit.notify.conftest import Rig, make_rig
from tests.unit.notify.factory import PHONE, registered, resolved


def _sealer() -> Sealer:
    return Sealer(InMemoryKeyStore(), KeyRing(parse_keks(f"k1:{new_key_text()}")), b"i" * 32)


async def _rig(sealer: Sealer) -> Rig:
    rig = make_rig()
    settings = NotifySettings(sms_quiet_hours=False, sms_retry_attempts=1)
    rig.notify = bootstrap(
        settings,
        ledger=rig.ledger,
        contacts=rig.contacts,
        optouts=rig.optouts,
        provider=rig.provider,
        limiter=rig.limiter,
        clock=rig.clock,
        publisher=rig.published,
        replica="replica-a",
        sealer=sealer,
    )
    await rig.notify.start(workers=False)
    return rig


async def test_a_sealed_citizens_sms_is_sent_opened_and_kept_sealed() -> None:
    sealer = _sealer()
    rig = await _rig(sealer)
    event = await seal_envelope(sealer, registered("c1"))
    assert isinstance(event.data, CaseRegistered) and event.data.citizen.phone is None
    await rig.handle(event)
    record = rig.only()
    stored = json.dumps(to_document(record), default=str, ensure_ascii=False)
    contact = json.dumps(asdict(rig.contacts.contacts["c1"]), default=str)
    assert "9121234567" not in stored and "9121234567" not in contact
    assert record.text == "" and record.text_sealed is not None
    assert await rig.send_queued() == [record.sms_id]
    [sent] = rig.provider.accepted
    assert sent.recipient == PHONE and rig.only().text == ""
    opened_text = await sealer.open(record.text_sealed, "text", "c1")
    assert opened_text and sent.text == opened_text
    [published] = rig.of("sent")
    assert isinstance(published.data, SmsSent) and published.data.recipient is None
    assert "9121234567" not in published.to_json().decode()
    back, erased = await open_event(sealer, published.data)
    assert isinstance(back, SmsSent) and back.recipient == PHONE and not erased


async def test_after_erasure_no_sms_is_sent_and_the_record_says_why() -> None:
    sealer = _sealer()
    rig = await _rig(sealer)
    await rig.handle(await seal_envelope(sealer, registered("c2")))
    await rig.send_queued()
    await sealer.erase(sealer.key_id(PHONE))
    await rig.handle(resolved("c2"))
    later = rig.record("resolved")
    assert later.state is SmsState.skipped_erased and later.text == "" and later.recipient == ""
    await rig.send_queued()
    assert len(rig.provider.calls) == 1


async def test_an_sms_recorded_before_the_erasure_is_not_sent_after_it() -> None:
    sealer = _sealer()
    rig = await _rig(sealer)
    await rig.handle(await seal_envelope(sealer, registered("c3")))
    await sealer.erase(sealer.key_id(PHONE))
    await rig.send_queued()
    assert rig.only().state is SmsState.skipped_erased and rig.provider.calls == []


ANSWER = "شیر فلکه جلوی منزل شما تعویض شد"
QUESTION = "پلاک منزل شما در کوچه یاس چند است؟"


async def test_a_sealed_answer_and_question_are_opened_to_compose_the_sms() -> None:
    sealer = _sealer()
    rig = await _rig(sealer)
    kid = sealer.key_id(PHONE)
    await rig.handle(await seal_envelope(sealer, registered("c4")))
    asked = CaseStatusChanged(case_id="c4", status=CaseStatus.waiting_for_citizen, question=QUESTION)
    await rig.handle(await seal_envelope(sealer, make_event(asked, source="/samad/tracking"), kid))
    answer = await seal_envelope(sealer, resolved("c4", ANSWER), kid)
    assert isinstance(answer.data, CaseStatusChanged) and answer.data.answer is None
    await rig.handle(answer)
    await rig.send_queued()
    texts = [sent.text for sent in rig.provider.accepted]
    assert any(QUESTION in t for t in texts) and any(ANSWER in t for t in texts)
    stored = json.dumps(
        [to_document(r) for r in rig.ledger.records.values()], default=str, ensure_ascii=False
    )
    assert ANSWER not in stored and QUESTION not in stored


async def test_a_sealed_answer_whose_key_is_gone_sends_nothing() -> None:
    sealer = _sealer()
    rig = await _rig(sealer)
    kid = sealer.key_id(PHONE)
    await rig.handle(await seal_envelope(sealer, registered("c5")))
    await rig.send_queued()
    answer = await seal_envelope(sealer, resolved("c5", ANSWER), kid)
    await sealer.erase(kid)
    await rig.handle(answer)
    record = rig.record("resolved")
    assert record.state is SmsState.skipped_erased and record.text == "" and ANSWER not in str(record)
    await rig.send_queued()
    assert len(rig.provider.calls) == 1
