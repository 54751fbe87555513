"""Staff's free text about the citizen (the answer, reasons, the question, notes) is sealed under the
citizen's key like the case's citizen fields: published and stored sealed, shown opened to staff who
may see it (masked to the others), «حذف‌شده به درخواست شهروند» once the key is erased; a case without
a key id, or tracking without keys, publishes it plain as before."""

from __future__ import annotations

import json

from contracts.events import CaseNoteAdded, CaseRegistered, CaseStatusChanged, Citizen
from contracts.sealed import ERASED_FA
from services.common.keystore import InMemoryKeyStore
from services.common.sealing import KeyRing, Sealer, new_key_text, parse_keks, seal_envelope
from services.tracking.domain.access import Staff
from services.tracking.domain.actions import ActionKind, ActionRequest
from services.tracking.domain.privacy import MASKED
from tests.unit.tracking.factory import PHONE, CaseEvents
from tests.unit.tracking.fakes import Fakes

WATER = Staff("agency_staff", "u1", "water_wastewater")
SUPERVISOR = Staff("supervisor", "sup-1")
OPS = Staff("ops", "ops-1")

NOTE = "خانم رضایی گفت همسایه‌اش آقای کریمی هم شاکی است"
QUESTION = "پلاک منزل خانم رضایی در کوچهٔ یاس چند است؟"
RESUMED = "خانم رضایی پاسخ نداد؛ از همسایه پرسیدیم"
ANSWER = "لولهٔ جلوی منزل خانم رضایی تعویض شد"
REOPEN = "خانم رضایی تماس گرفت: باز هم آب قطع است"
REJECT = "به گفتهٔ آقای کریمی مشکل از لوله‌کشی داخل منزل خانم رضایی است"
REROUTE = "کنتور منزل خانم رضایی مربوط به برق است"
TEXTS = (NOTE, QUESTION, RESUMED, ANSWER, REOPEN, REJECT, REROUTE)


def _sealer() -> Sealer:
    return Sealer(InMemoryKeyStore(), KeyRing(parse_keks(f"k1:{new_key_text()}")), b"i" * 32)


async def _sealed_case(fakes: Fakes, sealer: Sealer, case_id: str) -> CaseEvents:
    c = CaseEvents(case_id)
    registered = c.registered()
    assert isinstance(registered.data, CaseRegistered)
    data = registered.data.model_copy(update={"citizen": Citizen(phone=PHONE, name="مریم رضایی")})
    await fakes.consume(
        [await seal_envelope(sealer, registered.model_copy(update={"data": data})), c.routed()]
    )
    return c


async def _act(fakes: Fakes, case_id: str, kind: ActionKind, text: str | None, staff: Staff = WATER) -> None:
    await fakes.tracking.act_on_case(case_id, ActionRequest(kind, text), staff)
    await fakes.consume_published()


async def _worked(fakes: Fakes, case_id: str) -> None:
    """Every staff text a case can carry: a note, a question, going on without the answer, an answer,
    a reopening, a rejection."""
    await _act(fakes, case_id, ActionKind.note, NOTE)
    await _act(fakes, case_id, ActionKind.ask, QUESTION)
    await _act(fakes, case_id, ActionKind.resume, RESUMED)
    await _act(fakes, case_id, ActionKind.resolve, ANSWER)
    await _act(fakes, case_id, ActionKind.reopen, REOPEN, SUPERVISOR)
    await _act(fakes, case_id, ActionKind.reject, REJECT)


def _published(fakes: Fakes) -> str:
    return "\n".join(e.to_json().decode() for e in fakes.publisher.events)


async def test_staff_texts_are_published_and_stored_sealed_and_shown_opened() -> None:
    sealer = _sealer()
    fakes = Fakes(sealer=sealer)
    await _sealed_case(fakes, sealer, "t1")
    await _worked(fakes, "t1")
    await _sealed_case(fakes, sealer, "t2")
    await _act(fakes, "t2", ActionKind.reroute, REROUTE)
    stored = json.dumps(fakes.cases.docs, default=str, ensure_ascii=False)
    published = _published(fakes)
    for text in TEXTS:
        assert text not in stored and text not in published
    notes = [e.data for e in fakes.publisher.events if isinstance(e.data, CaseNoteAdded)]
    assert notes and notes[0].text is None and notes[0].text_sealed is not None

    view = await fakes.tracking.look_up("t1", SUPERVISOR)
    texts = [e["text"] for e in view["timeline"]]
    assert NOTE in texts  # a note is its text alone, as in plain mode
    for text in (QUESTION, RESUMED, ANSWER, REOPEN, REJECT):
        assert any(t.endswith(f": {text}") for t in texts), text
    assert view["rejection_reason"] == REJECT and view["reopen_reason"] == REOPEN
    assert view["agencies"][-1]["note"] == REJECT
    shown = json.dumps(view, default=str, ensure_ascii=False)
    assert '"nonce"' not in shown and '_sealed": {' not in shown
    rerouted = await fakes.tracking.look_up("t2", SUPERVISOR)
    assert rerouted["timeline"][-1]["text"].endswith(f" — {REROUTE}")
    assert rerouted["agencies"][0]["note"] == REROUTE


async def test_the_opened_texts_are_masked_for_staff_who_may_not_see_them() -> None:
    sealer = _sealer()
    fakes = Fakes(sealer=sealer)
    await _sealed_case(fakes, sealer, "m1")
    await _worked(fakes, "m1")
    await _sealed_case(fakes, sealer, "m2")
    await _act(fakes, "m2", ActionKind.reroute, REROUTE)
    for case_id in ("m1", "m2"):
        view = await fakes.tracking.look_up(case_id, OPS)
        assert view["personal"] == "masked"
        shown = json.dumps(view, default=str, ensure_ascii=False)
        for text in TEXTS:
            assert text not in shown, text
    masked = await fakes.tracking.look_up("m2", OPS)
    assert masked["timeline"][-1]["text"].endswith(f" — {MASKED}")


async def test_the_citizen_reads_the_question_and_the_answer_on_the_status_page() -> None:
    sealer = _sealer()
    fakes = Fakes(sealer=sealer)
    c = await _sealed_case(fakes, sealer, "p1")
    await _act(fakes, "p1", ActionKind.ask, QUESTION)
    asked = await fakes.tracking.citizen_status(c.code, "4567", "10.0.0.1")
    assert asked["question"] == QUESTION
    assert any(QUESTION in e["text"] for e in asked["history"])
    await _act(fakes, "p1", ActionKind.resume, None)
    await _act(fakes, "p1", ActionKind.resolve, ANSWER)
    answered = await fakes.tracking.citizen_status(c.code, "4567", "10.0.0.2")
    assert answered["answer"] == ANSWER


async def test_after_erasure_staff_texts_show_as_erased() -> None:
    sealer = _sealer()
    fakes = Fakes(sealer=sealer)
    await _sealed_case(fakes, sealer, "e1")
    await _worked(fakes, "e1")
    await sealer.erase(sealer.key_id(PHONE))
    view = await fakes.tracking.look_up("e1", SUPERVISOR)
    shown = json.dumps(view, default=str, ensure_ascii=False)
    for text in TEXTS:
        assert text not in shown
    assert view["rejection_reason"] == ERASED_FA and view["status"] == "rejected"
    assert ERASED_FA in [e["text"] for e in view["timeline"]]  # the note
    # The fixed clock gives every action the same time, so the timeline orders them by event id: find
    # the rejection by its status rather than by its place.
    rejected = [e for e in view["timeline"] if e["data"].get("status") == "rejected"]
    assert len(rejected) == 1 and rejected[0]["text"].endswith(f": {ERASED_FA}")


async def test_plain_cases_and_plain_tracking_publish_staff_texts_as_before() -> None:
    sealer = _sealer()
    fakes = Fakes(sealer=sealer)
    c = CaseEvents("old")  # registered before sealing: no key id on the case
    await fakes.consume([c.registered(), c.routed()])
    await _act(fakes, "old", ActionKind.acknowledge, None)
    await _act(fakes, "old", ActionKind.resolve, ANSWER)
    plain = Fakes()
    x = CaseEvents("x")
    await plain.consume([x.registered(), x.routed()])
    await _act(plain, "x", ActionKind.acknowledge, None)
    await _act(plain, "x", ActionKind.resolve, ANSWER)
    for f in (fakes, plain):
        [_, event] = [e.data for e in f.publisher.events if isinstance(e.data, CaseStatusChanged)]
        assert event.answer == ANSWER and event.answer_sealed is None
    assert (await plain.tracking.look_up("x", SUPERVISOR))["answer"] == ANSWER
