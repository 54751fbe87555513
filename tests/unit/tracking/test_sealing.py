"""Tracking keeps a sealed case sealed: the stored document holds no phone, name, national id or
description in clear; staff are shown them opened, and «حذف‌شده به درخواست شهروند» once the citizen's
key is erased; the citizen's cases are found by phone and national id through their HMACs."""

from __future__ import annotations

import json

from contracts.events import CaseRegistered, Citizen, Envelope
from contracts.sealed import ERASED_FA
from services.common.keystore import InMemoryKeyStore
from services.common.sealing import KeyRing, Sealer, new_key_text, parse_keks, seal_envelope
from services.tracking.domain.access import Staff
from tests.unit.tracking.factory import PHONE, CaseEvents
from tests.unit.tracking.fakes import Fakes

NAME, NID = "مریم رضایی", "0012345679"
DESCRIPTION = "سه روز است آب محله قطع است."
SUPERVISOR = Staff("supervisor", "s")


def _sealer() -> Sealer:
    return Sealer(InMemoryKeyStore(), KeyRing(parse_keks(f"k1:{new_key_text()}")), b"i" * 32)


async def _sealed_case(sealer: Sealer, c: CaseEvents) -> list[Envelope]:
    registered = c.registered()
    assert isinstance(registered.data, CaseRegistered)
    data = registered.data.model_copy(update={"citizen": Citizen(phone=PHONE, name=NAME, national_id=NID)})
    registered = registered.model_copy(update={"data": data})
    kid = sealer.key_id(PHONE)
    return [
        await seal_envelope(sealer, registered),
        c.routed(),
        await seal_envelope(sealer, c.repeat_call(), kid),
    ]


async def test_a_sealed_case_is_stored_sealed_and_shown_opened_to_staff() -> None:
    sealer = _sealer()
    fakes = Fakes(sealer=sealer)
    c = CaseEvents("s1")
    await fakes.consume(await _sealed_case(sealer, c))
    stored = json.dumps(fakes.cases.docs["s1"], default=str, ensure_ascii=False)
    for secret in (PHONE, "1234567", NAME, NID, DESCRIPTION, "باز هم قطع است"):
        assert secret not in stored
    view = await fakes.tracking.look_up("s1", SUPERVISOR)
    assert view["citizen"]["phone"] == PHONE and view["citizen"]["name"] == NAME
    assert view["citizen"]["national_id"] == NID and view["description"] == DESCRIPTION
    assert view["timeline"][-1]["text"].endswith("باز هم قطع است")
    shown = json.dumps(view, default=str)
    assert '"ct"' not in shown and sealer.key_id(PHONE) not in shown


async def test_after_erasure_staff_see_the_fields_as_erased_not_an_error() -> None:
    sealer = _sealer()
    fakes = Fakes(sealer=sealer)
    c = CaseEvents("s2")
    await fakes.consume(await _sealed_case(sealer, c))
    await sealer.erase(sealer.key_id(PHONE))
    view = await fakes.tracking.look_up("s2", SUPERVISOR)
    assert view["citizen"]["phone"] == ERASED_FA and view["citizen"]["name"] == ERASED_FA
    assert view["description"] == ERASED_FA
    assert view["subject"] == "قطعی آب" and view["status"] == "routed"
    assert view["timeline"][-1]["text"].endswith(ERASED_FA)


async def test_staff_find_a_sealed_citizens_cases_by_phone_or_national_id() -> None:
    sealer = _sealer()
    fakes = Fakes(sealer=sealer)
    await fakes.consume(await _sealed_case(sealer, CaseEvents("s3")))
    await fakes.consume([CaseEvents("plain").registered()])
    find = fakes.tracking.find_citizen_cases
    by_phone = await find(SUPERVISOR, phone="09151234567", national_id=None, open_only=False, limit=10)
    assert {c["case_id"] for c in by_phone} == {"s3", "plain"}  # sealed and from before sealing alike
    by_nid = await find(SUPERVISOR, phone=None, national_id=NID, open_only=False, limit=10)
    assert [c["case_id"] for c in by_nid] == ["s3"]
    assert not any(NID in k or "1234567" in k for k in _index_keys(fakes))


def _index_keys(fakes: Fakes) -> list[str]:
    from services.tracking.domain.citizens import citizen_keys
    from services.tracking.domain.model import Case

    return [
        k
        for d in fakes.cases.docs.values()
        if d.get("_id") != "plain"
        for k in citizen_keys(Case.from_document(d))
    ]


async def test_the_citizen_opens_their_sealed_case_with_the_code_and_the_phone() -> None:
    sealer = _sealer()
    fakes = Fakes(sealer=sealer)
    c = CaseEvents("s4")
    await fakes.consume(await _sealed_case(sealer, c))
    view = await fakes.tracking.citizen_status(c.code, "4567", "10.0.0.1")
    assert view["phone"] == "+98915***4567"
