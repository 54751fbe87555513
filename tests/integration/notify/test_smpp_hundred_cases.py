"""100 cases through the SMPP gateway against an SMSC that answers every part's receipt at once: 200 SMS
delivered on the ledger, one ``sms.delivered`` each, 0 receipts unmatched, 0 parts sent twice.

    uv run --frozen pytest tests/integration/notify/test_smpp_hundred_cases.py -s   # prints the counts
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from typing import Any

from contracts.catalogue import AgencyCode
from services.notify.domain.ledger import SmsState
from services.notify.settings import NotifySettings
from tests.integration.notify.conftest import Published, Smsc, make_notify
from tests.integration.notify.helpers import registered, routed
from tests.integration.notify.test_smpp import incoming, provider_for
from tests.support.kafka import wait_for

CASES = int(os.environ.get("SAMAD_TEST_SMPP_CASES", "100"))


async def test_a_hundred_cases_end_with_every_sms_delivered_once(
    smsc: Smsc, mongo_db: Any, unique: str
) -> None:
    published = Published()
    # Notify's own answer timeout (10 s), not the other tests' 3 s: on a loaded machine a 3 s wait for a
    # submit_sm_resp or an enquire_link answer ran out, which rightly leaves that SMS's outcome unknown
    # (never resent) but is not what this test measures.
    notify = make_notify(
        mongo_db,
        provider_for(smsc, response_timeout=NotifySettings().sms_smpp_response_timeout_seconds),
        published,
        sms_sender_concurrency=8,
    )
    await notify.startup()
    await notify.start()
    try:
        await wait_for(notify.provider.ready, timeout=15)
        smsc.configure(receipt_mode="immediate")
        base = int(unique, 16) % 10**6 * 10
        cases = [(f"case-{unique}-{n}", f"+989{(base + n) % 10**9:09d}") for n in range(CASES)]
        events = []
        for case_id, phone in cases:
            events += [incoming(registered(case_id, phone)), incoming(routed(case_id, AgencyCode.welfare))]
        await notify.recorder.handle(events)
        with contextlib.suppress(TimeoutError):  # the counts below say what is missing
            await wait_for(lambda: len(published.of("delivered")) >= 2 * CASES, timeout=240, interval=0.5)

        records = []
        for case_id, _ in cases:
            records += await notify.ledger.list(case_id=case_id)
        delivered_on_ledger = sum(r.state is SmsState.delivered for r in records)
        delivered_events = Counter(e.data.sms_id for e in published.of("delivered"))  # type: ignore[attr-defined]
        unmatched = await notify.receipts.unmatched(limit=1000)
        state = smsc.state()
        phones = {phone.lstrip("+") for _, phone in cases}
        parts = Counter(
            (p["destination"], p["udh"][4:6] if p["udh"] else p["text"], p["udh"][-2:])
            for p in state["submitted"]
            if p["destination"] in phones
        )
        sent_twice = sum(n - 1 for n in parts.values() if n > 1)
        expected_parts = sum(len(r.parts) for r in records)
        print(
            f"\ncases={CASES} sms={len(records)} delivered_on_ledger={delivered_on_ledger} "
            f"sms.delivered_events={sum(delivered_events.values())} (distinct sms {len(delivered_events)}) "
            f"receipts_unmatched={len(unmatched)} parts_sent={sum(parts.values())} "
            f"parts_expected={expected_parts} parts_sent_twice={sent_twice} "
            f"receipts_acked_by_notify={state['receipts_acked']} states={Counter(r.state.value for r in records)}"
        )
        assert len(records) == 2 * CASES and delivered_on_ledger == 2 * CASES
        assert set(delivered_events.values()) == {1} and len(delivered_events) == 2 * CASES
        assert unmatched == [] and sent_twice == 0 and sum(parts.values()) == expected_parts
    finally:
        await notify.stop()
