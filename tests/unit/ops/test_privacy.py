"""`samad privacy` on fakes: erasure and export need two different members of ops and are audited with
the key id, never the phone; retention erases only citizens whose cases all finished long ago; KEK
rotation rewraps every data key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.sealed import ERASED_FA
from services.common.clock import FixedClock
from services.common.keystore import InMemoryKeyStore
from services.common.sealing import KeyRing, Sealer, new_key_text, parse_keks
from services.ops.adapters.privacy import InMemoryCitizenCases, InMemoryPrivacyRequests, citizen_case
from services.ops.adapters.store import InMemoryOpsStore
from services.ops.bootstrap import OpsContainer, bootstrap
from services.ops.domain.audit import Operator
from services.ops.domain.privacy import PrivacyAction, RetentionPolicy, due_for_erasure
from services.ops.service.errors import Refused
from services.ops.settings import OpsSettings

NOW = datetime(2031, 3, 1, 8, 0, tzinfo=UTC)
PHONE, OTHER = "+989151234567", "+989351112233"
OPS = frozenset({"ops"})


async def _case(
    sealer: Sealer, case_id: str, phone: str, status: str, finished: datetime | None
) -> dict[str, Any]:
    kid = sealer.key_id(phone)
    sealed = await sealer.seal(kid, "citizen.phone", case_id, phone)
    name = await sealer.seal(kid, "citizen.name", case_id, "مریم رضایی")
    text = await sealer.seal(kid, "description", case_id, "آب قطع است")
    assert sealed and name and text
    return {
        "_id": case_id,
        "tracking_code": "1234567890",
        "status": status,
        "closed_at": finished,
        "registered_at": datetime(2024, 1, 1, tzinfo=UTC),
        "subject": "قطعی آب",
        "citizen": {"key_id": kid, "phone_sealed": sealed.model_dump(), "name_sealed": name.model_dump()},
        "description_sealed": text.model_dump(),
        "timeline": [{"time": "t", "type": "ir.samad.case.registered", "text": "ثبت پرونده: قطعی آب"}],
    }


class World:
    def __init__(self) -> None:
        self.sealer = Sealer(InMemoryKeyStore(), KeyRing(parse_keks(f"k1:{new_key_text()}")), b"i" * 32)
        self.store = InMemoryOpsStore()
        self.requests = InMemoryPrivacyRequests()
        self.cases = InMemoryCitizenCases()
        self.clock = FixedClock(NOW)

        async def check(token: str) -> tuple[str, frozenset[str]]:
            user, _, roles = token.partition(":")
            return user, frozenset(roles.split("+")) if roles else frozenset()

        self.ops: OpsContainer = bootstrap(
            OpsSettings(),
            operator=Operator(actor="cli", os_user="cli", host="h", pid=1),
            store=self.store,
            clock=self.clock,
            privacy_requests=self.requests,
            citizen_cases=self.cases,
            sealer=self.sealer,
            verify_token=check,
            log=None,
        )


@pytest.fixture
async def world() -> World:
    w = World()
    w.cases.docs += [
        await _case(w.sealer, "c1", PHONE, "closed", NOW - timedelta(days=400)),
        await _case(w.sealer, "c2", OTHER, "in_progress", None),
    ]
    return w


async def test_erasure_needs_a_second_member_of_ops_and_is_audited_without_the_phone(world: World) -> None:
    privacy = world.ops.privacy
    with pytest.raises(Refused, match="ops role"):
        await privacy.ask(PrivacyAction.erase, "09151234567", "op-1", {"operator"})
    request = await privacy.ask(PrivacyAction.erase, "09151234567", "ops-1", OPS)
    assert request.kid == world.sealer.key_id(PHONE)
    with pytest.raises(Refused, match="second person"):
        await privacy.approve(request.id, "ops-1", OPS)
    with pytest.raises(Refused, match="ops role"):
        await privacy.approve(request.id, "sup-1", {"supervisor"})
    assert world.sealer.key_id(PHONE) in world.sealer.store.docs  # type: ignore[attr-defined]
    done = await privacy.approve(request.id, "ops-2", OPS)
    assert done.outcome == "erased"
    assert world.sealer.key_id(PHONE) not in world.sealer.store.docs  # type: ignore[attr-defined]
    assert world.sealer.key_id(OTHER) in world.sealer.store.docs  # type: ignore[attr-defined]
    with pytest.raises(Refused, match="already"):
        await privacy.approve(request.id, "ops-3", OPS)
    trail = json.dumps(await world.store.audit_list(limit=50), default=str)
    assert "9151234567" not in trail
    entries = await world.store.audit_list(command="privacy erase", limit=50)
    assert [e["outcome"] for e in entries].count("ok") == 1
    ok = next(e for e in entries if e["outcome"] == "ok")
    assert ok["arguments"]["requested_by"] == "ops-1" and ok["arguments"]["approved_by"] == "ops-2"
    assert ok["arguments"]["kid"] == world.sealer.key_id(PHONE)


async def test_a_request_lapses_after_a_day(world: World) -> None:
    request = await world.ops.privacy.ask(PrivacyAction.erase, PHONE, "ops-1", OPS)
    world.clock.advance(timedelta(hours=25))
    with pytest.raises(Refused, match="lapsed"):
        await world.ops.privacy.approve(request.id, "ops-2", OPS)


async def test_an_export_opens_the_citizens_cases_and_after_erasure_shows_them_erased(world: World) -> None:
    privacy = world.ops.privacy
    request = await privacy.ask(PrivacyAction.export, PHONE, "ops-1", OPS)
    done = await privacy.approve(request.id, "ops-2", OPS)
    assert done.export is not None
    assert done.export["citizen"] == {"phone": PHONE, "name": "مریم رضایی"}
    [case] = done.export["cases"]
    assert case["case_id"] == "c1" and case["description"] == "آب قطع است"
    await world.sealer.erase(world.sealer.key_id(PHONE))
    again = await privacy.export(world.sealer.key_id(PHONE))
    assert again["cases"][0]["description"] == ERASED_FA and PHONE not in json.dumps(again, default=str)


async def test_retention_erases_only_citizens_whose_cases_all_finished_long_ago(world: World) -> None:
    world.cases.docs.append(await _case(world.sealer, "c3", OTHER, "closed", NOW - timedelta(days=4000)))
    policy = RetentionPolicy.from_mapping({"erase_personal_data_after_closed_years": 1})
    plan, erased = await world.ops.privacy.purge(policy, apply=False)
    assert plan.citizens == [world.sealer.key_id(PHONE)] and plan.cases == 1 and erased == 0
    assert world.sealer.key_id(PHONE) in world.sealer.store.docs  # type: ignore[attr-defined]
    seen: list[tuple[int, int]] = []
    plan, erased = await world.ops.privacy.purge(
        policy, apply=True, progress=lambda d, t: seen.append((d, t))
    )
    assert erased == 1 and seen == [(1, 1)]
    assert world.sealer.key_id(PHONE) not in world.sealer.store.docs  # type: ignore[attr-defined]
    assert world.sealer.key_id(OTHER) in world.sealer.store.docs  # type: ignore[attr-defined]
    purges = await world.store.audit_list(command="privacy purge", limit=5)
    # The dry run is recorded as changing nothing, the applied run with what it erased.
    assert sorted((p["changes"], p["detail"].get("erased", 0)) for p in purges) == [(False, 0), (True, 1)]


def test_the_policy_needs_a_positive_number_of_years() -> None:
    for bad in (
        {},
        {"erase_personal_data_after_closed_years": 0},
        {"erase_personal_data_after_closed_years": "5"},
    ):
        with pytest.raises(ValueError, match="erase_personal_data_after_closed_years"):
            RetentionPolicy.from_mapping(bad)


def test_a_case_without_a_finish_time_keeps_its_citizen() -> None:
    rows = [c for c in (citizen_case({"citizen": {"key_id": "k"}, "status": "closed"}),) if c]
    assert due_for_erasure(rows, NOW, RetentionPolicy(timedelta(days=1))) == []


async def test_rotation_is_audited(world: World) -> None:
    done, current = await world.ops.privacy.rotate_kek()
    assert (done, current) == (0, 2)
    [entry] = await world.store.audit_list(command="privacy rotate-kek")
    assert entry["detail"] == {"rewrapped": 0, "current": 2}
