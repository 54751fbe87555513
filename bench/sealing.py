"""What sealing costs a case in CPU, without any I/O: the crypto and the event rewriting alone.

One case's personal data travels as a call (caller's phone), a registration (phone, name, national
id, description) and two SMS (recipient and text). This times, per case, everything the services do
with it: intake seals the call and the registration, routing opens the registration, notify opens
the phone and seals and opens each SMS's recipient and text, and tracking opens the registration for
staff once. Data keys are in memory and cached (as they are after a citizen's first event), so the
figure leaves out the key store's reads. It fails nothing: it prints figures.

    uv run python bench/sealing.py --cases 2000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

from contracts.events import CallOutcome, CallReceived, CaseRegistered, Citizen, SmsSent
from services.common.keystore import InMemoryKeyStore
from services.common.sealing import KeyRing, Sealer, new_key_text, open_event, parse_keks, seal_event

AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TEXT = "سه روز است آب لوله‌کشی محله ما قطع است و شرکت آب و فاضلاب پاسخگو نیست؛ لطفاً پیگیری کنید."
SMS = "شهروند گرامی، درخواست شما با کد رهگیری ۱۲۳۴۵۶۷۸۹۰ ثبت شد. پیگیری: https://status.samad.example/s"


async def one_case(sealer: Sealer, n: int) -> None:
    phone = f"+98915{n % 10_000_000:07d}"
    case_id, call_id = f"case-{n}", f"call-{n}"
    call = CallReceived(
        call_id=call_id, caller_phone=phone, outcome=CallOutcome.answered, started_at=AT, duration_seconds=60
    )
    registered = CaseRegistered(
        case_id=case_id,
        tracking_code="1234567890",
        county="mashhad",
        citizen=Citizen(phone=phone, name="مریم رضایی", national_id="0012345679"),
        subject="قطعی آب",
        description=TEXT,
        registered_at=AT,
    )
    await seal_event(sealer, call)
    sealed = await seal_event(sealer, registered)
    await open_event(sealer, sealed)  # routing
    await open_event(sealer, sealed)  # tracking, showing the case to staff
    for template in ("registered", "routed"):
        sms = SmsSent(
            sms_id=f"{case_id}-{template}",
            case_id=case_id,
            source_event_id="e",
            template=template,
            recipient=phone,
            text=SMS,
            parts=2,
            provider="smpp",
        )
        await open_event(sealer, sealed)  # notify opens the phone to record the SMS
        sent = await seal_event(sealer, sms)  # the ledger record and sms.sent, sealed
        await open_event(sealer, sent)  # the sender opens them for the gateway


async def main(cases: int, rounds: int) -> None:
    sealer = Sealer(
        InMemoryKeyStore(), KeyRing(parse_keks(f"k1:{new_key_text()}")), b"i" * 32, cache_seconds=3600
    )
    for n in range(cases):  # every citizen's key made and cached first
        await sealer.data_key(sealer.key_id(f"+98915{n % 10_000_000:07d}"), create=True)
    per_case: list[float] = []
    for _ in range(rounds):
        started = time.process_time()
        for n in range(cases):
            await one_case(sealer, n)
        per_case.append((time.process_time() - started) / cases * 1000)
    print(f"sealing CPU per case ({cases} cases x {rounds} rounds, keys cached, no I/O):")
    print(
        f"  median {statistics.median(per_case):.3f} ms, best {min(per_case):.3f} ms, worst {max(per_case):.3f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.rounds))
