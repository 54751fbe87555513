"""Routing with sealing on: it opens a sealed description to classify it and keeps it sealed in its
record; once the citizen's key is erased the subject alone is classified (no error, no guess)."""

from __future__ import annotations

from contracts.catalogue import AgencyCode
from contracts.events import CaseRouted, CaseTriageRequired
from services.common.clock import FixedClock
from services.common.keystore import InMemoryKeyStore
from services.common.publishing import InMemoryPublisher
from services.common.sealing import KeyRing, Sealer, new_key_text, parse_keks, seal_envelope
from services.routing.adapters.cases import InMemoryRoutingStore, case_doc
from services.routing.adapters.roster import InMemoryRosterStore
from services.routing.bootstrap import RoutingContainer, bootstrap
from services.routing.settings import RoutingSettings
from tests.unit.routing.helpers import NOW, PackagedRules, registered

WATER = "قبض آب این ماه چهار برابر شده"


def _routing(sealer: Sealer) -> RoutingContainer:
    clock = FixedClock(NOW)
    return bootstrap(
        RoutingSettings(),
        cases=InMemoryRoutingStore(),
        roster=InMemoryRosterStore((), clock=clock),
        rules=PackagedRules(),
        publisher=InMemoryPublisher("routing"),
        clock=clock,
        sealer=sealer,
    )


def _sealer() -> Sealer:
    return Sealer(InMemoryKeyStore(), KeyRing(parse_keks(f"k1:{new_key_text()}")), b"i" * 32)


async def test_a_sealed_description_is_classified_and_kept_sealed() -> None:
    sealer = _sealer()
    c = _routing(sealer)
    [out] = await c.case_events.one(await seal_envelope(sealer, registered("s1", WATER)))
    assert isinstance(out.data, CaseRouted) and out.data.agency == AgencyCode.water_wastewater
    record = await c.cases.get_case("s1")
    assert record is not None and record.description == "" and record.description_sealed is not None
    assert WATER not in str(case_doc(record))


async def test_after_erasure_only_the_subject_is_classified() -> None:
    sealer = _sealer()
    c = _routing(sealer)
    event = await seal_envelope(sealer, registered("s2", WATER))
    await sealer.erase(sealer.key_id("+989121234567"))
    [out] = await c.case_events.one(event)
    # The subject ("شکایت") names no agency: a person decides.
    assert isinstance(out.data, CaseTriageRequired)
