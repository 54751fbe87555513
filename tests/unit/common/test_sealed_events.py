"""Events carry personal fields sealed; old plain events still decode; erasure empties the fields."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.events import (
    PERSONAL_FIELDS,
    CallOutcome,
    CallReceived,
    CaseNoteAdded,
    CaseRegistered,
    CaseRepeatCall,
    CaseRerouteRequested,
    CaseResumed,
    CaseStatus,
    CaseStatusChanged,
    Citizen,
    SmsSent,
    decode,
    make_event,
)
from services.common.keystore import InMemoryKeyStore
from services.common.sealing import KeyRing, Sealer, new_key_text, open_event, parse_keks, seal_event

PHONE, NAME, NID, TEXT = "+989121234567", "مریم احمدی", "0012345679", "آب خیابان گلستان قطع است"
AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _sealer() -> Sealer:
    return Sealer(InMemoryKeyStore(), KeyRing(parse_keks(f"k1:{new_key_text()}")), b"i" * 32)


def _registered(case_id: str = "case-1") -> CaseRegistered:
    return CaseRegistered(
        case_id=case_id,
        tracking_code="987654321",
        county="مشهد",
        citizen=Citizen(phone=PHONE, name=NAME, national_id=NID),
        subject="قطعی آب",
        description=TEXT,
        registered_at=AT,
    )


async def test_a_sealed_case_registered_carries_no_personal_data_and_opens_again() -> None:
    sealer = _sealer()
    sealed = await seal_event(sealer, _registered())
    raw = make_event(sealed, source="/t").to_json().decode()
    for secret in (PHONE, "1234567", NAME, NID, TEXT):
        assert secret not in raw
    back = decode(raw).data
    assert isinstance(back, CaseRegistered)
    assert back.citizen.key_id == sealer.key_id(PHONE)
    opened, erased = await open_event(sealer, back)
    assert isinstance(opened, CaseRegistered) and not erased
    assert (opened.citizen.phone, opened.citizen.name, opened.citizen.national_id) == (PHONE, NAME, NID)
    assert opened.description == TEXT


async def test_an_old_plain_event_still_decodes_and_opens_as_it_is() -> None:
    old = (
        '{"specversion":"1.0","id":"e1","source":"/samad/intake","type":"ir.samad.case.registered",'
        '"subject":"case-1","time":"2026-03-01T09:00:00Z","correlationid":"e1","data":{"case_id":"case-1",'
        '"tracking_code":"123456789","county":"x","citizen":{"phone":"+989121234567","name":"n"},'
        '"subject":"s","description":"d","registered_at":"2026-03-01T09:00:00Z"}}'
    )
    data = decode(old).data
    assert isinstance(data, CaseRegistered) and data.citizen.phone == PHONE
    opened, erased = await open_event(_sealer(), data)
    assert opened == data and not erased


async def test_after_erasure_the_fields_open_empty_and_say_so() -> None:
    sealer = _sealer()
    sealed = await seal_event(sealer, _registered())
    assert await sealer.erase(sealer.key_id(PHONE))
    opened, erased = await open_event(sealer, sealed)
    assert erased and isinstance(opened, CaseRegistered)
    assert opened.citizen.phone is None and opened.description is None and opened.subject == "قطعی آب"


async def test_sealed_values_cannot_be_moved_to_another_case() -> None:
    sealer = _sealer()
    one = await seal_event(sealer, _registered("case-1"))
    assert isinstance(one, CaseRegistered)
    moved = one.model_copy(update={"case_id": "case-2"})
    opened, erased = await open_event(sealer, moved)
    assert erased and isinstance(opened, CaseRegistered) and opened.description is None


async def test_calls_repeat_calls_and_sms_are_sealed_under_the_citizens_key() -> None:
    sealer = _sealer()
    kid = sealer.key_id(PHONE)
    call = await seal_event(
        sealer,
        CallReceived(
            call_id="call-1",
            caller_phone=PHONE,
            outcome=CallOutcome.answered,
            started_at=AT,
            duration_seconds=3,
        ),
    )
    assert isinstance(call, CallReceived) and call.caller_phone is None
    assert call.caller_phone_sealed is not None and call.caller_phone_sealed.kid == kid
    repeat = await seal_event(
        sealer, CaseRepeatCall(case_id="case-1", tracking_code="1", description=TEXT, similarity=1.0), kid
    )
    assert isinstance(repeat, CaseRepeatCall) and repeat.description is None
    sms = await seal_event(
        sealer,
        SmsSent(
            sms_id="s",
            case_id="case-1",
            source_event_id="e",
            template="t",
            recipient=PHONE,
            text=TEXT,
            parts=1,
            provider="fake",
        ),
    )
    assert isinstance(sms, SmsSent) and sms.recipient is None and sms.text is None
    assert sms.text_sealed is not None and sms.text_sealed.kid == kid
    await sealer.erase(kid)
    for data in (call, repeat, sms):
        assert (await open_event(sealer, data))[1]


async def test_a_withheld_caller_id_has_nothing_to_seal() -> None:
    call = CallReceived(call_id="c", outcome=CallOutcome.missed, started_at=AT, duration_seconds=0)
    assert await seal_event(_sealer(), call) == call


STAFF_TEXT = "لولهٔ جلوی منزل خانم احمدی تعویض شد"
_STAFF = {"kind": "agency_staff", "id": "u1", "agency": "water_wastewater"}


async def test_staff_texts_about_the_citizen_are_sealed_under_their_key_and_open_again() -> None:
    sealer = _sealer()
    kid = sealer.key_id(PHONE)
    events = [
        CaseStatusChanged(case_id="c1", status=CaseStatus.resolved, answer=STAFF_TEXT),
        CaseStatusChanged(case_id="c1", status=CaseStatus.rejected, reason=STAFF_TEXT),
        CaseStatusChanged(case_id="c1", status=CaseStatus.waiting_for_citizen, question=STAFF_TEXT),
        CaseNoteAdded.model_validate({"case_id": "c1", "text": STAFF_TEXT, "actor": _STAFF}),
        CaseResumed.model_validate(
            {"case_id": "c1", "agency": "water_wastewater", "text": STAFF_TEXT, "actor": _STAFF}
        ),
        CaseRerouteRequested.model_validate(
            {"case_id": "c1", "agency": "water_wastewater", "reason": STAFF_TEXT, "actor": _STAFF}
        ),
    ]
    for data in events:
        sealed = await seal_event(sealer, data, kid)
        raw = make_event(sealed, source="/t").to_json().decode()
        assert STAFF_TEXT not in raw and kid in raw
        [field] = (
            PERSONAL_FIELDS[type(data)]
            if len(PERSONAL_FIELDS[type(data)]) == 1
            else [f for f in PERSONAL_FIELDS[type(data)] if getattr(data, f)]
        )
        assert getattr(sealed, field) is None and getattr(sealed, f"{field}_sealed") is not None
        opened, erased = await open_event(sealer, decode(raw).data)
        assert getattr(opened, field) == STAFF_TEXT and not erased
    await sealer.erase(kid)
    gone, erased = await open_event(sealer, await seal_event(_sealer(), events[0], kid))
    assert erased and isinstance(gone, CaseStatusChanged) and gone.answer is None


def test_old_plain_staff_text_events_still_decode() -> None:
    head = '{"specversion":"1.0","id":"e1","source":"/samad/tracking","subject":"c1","time":"2026-03-01T09:00:00Z","correlationid":"e1",'
    actor = '"actor":{"kind":"agency_staff","id":"u1","agency":"water_wastewater"}'
    note = decode(
        head + f'"type":"ir.samad.case.note_added","data":{{"case_id":"c1","text":"t",{actor}}}}}'
    ).data
    assert isinstance(note, CaseNoteAdded) and note.text == "t" and note.text_sealed is None
    reroute = decode(
        head
        + '"type":"ir.samad.case.reroute_requested","data":{"case_id":"c1","agency":"water_wastewater",'
        + f'"reason":"r",{actor}}}}}'
    ).data
    assert isinstance(reroute, CaseRerouteRequested) and reroute.reason == "r"
    answer = decode(
        head
        + '"type":"ir.samad.case.status_changed","data":{"case_id":"c1","status":"resolved","answer":"a"}}'
    ).data
    assert isinstance(answer, CaseStatusChanged) and answer.answer == "a" and answer.answer_sealed is None
