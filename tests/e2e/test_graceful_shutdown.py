"""Graceful shutdown under load: SIGTERM stops fetching, finishes the batch in hand, commits and exits,
so after a restart nothing is lost and nothing is repeated (Kubernetes sends SIGTERM on every rollout)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter

from aiokafka import AIOKafkaProducer

from contracts.events import CaseRegistered, Citizen, make_event, utcnow
from contracts.topics import CASES
from tests.support.kafka import TopicReader
from tests.support.processes import ServiceProcess, free_port, log_dir
from tests.support.stack import KAFKA

CASES_IN_FLIGHT = 1500


def _registered(case_id: str) -> bytes:
    data = CaseRegistered(
        case_id=case_id,
        tracking_code="1234567890",
        county="mashhad",
        citizen=Citizen(phone="+989121234567"),
        subject="قطعی آب",
        description="آب محله ما از دیروز قطع است و کسی پاسخگو نیست.",
        registered_at=utcnow(),
    )
    return make_event(data, source="/samad/intake").to_json()


async def test_sigterm_during_load_loses_and_repeats_nothing(unique: str) -> None:
    env = {
        "SAMAD_DB_NAME": f"sigterm_{unique}_routing",
        "SAMAD_CONSUMER_GROUP_PREFIX": f"test.sigterm.{unique}",
        "SAMAD_CONSUMER_OFFSET_RESET": "latest",
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        # Small batches, so SIGTERM lands while batches are in hand.
        "SAMAD_CONSUMER_BATCH_SIZE": "50",
    }
    port = free_port()
    routing = ServiceProcess("routing", port, env, log_dir())
    await asyncio.to_thread(routing.start, True, 90)
    routed = await TopicReader.from_now(CASES)
    ids = [f"sigterm-{unique}-{i}" for i in range(CASES_IN_FLIGHT)]
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    exit_code: int | None = None
    try:
        sent = 0
        for chunk_start in range(0, len(ids), 100):
            chunk = ids[chunk_start : chunk_start + 100]
            await asyncio.gather(
                *(
                    producer.send_and_wait(
                        CASES,
                        _registered(c),
                        key=c.encode(),
                        headers=[("content-type", b"application/cloudevents+json")],
                    )
                    for c in chunk
                )
            )
            sent += len(chunk)
            if sent == 500:
                # Mid-stream: ask routing to stop while it is consuming.
                routing.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
                exit_code = await asyncio.to_thread(routing.proc.wait, 60)  # type: ignore[union-attr]
        # uvicorn finishes its shutdown, then re-raises SIGTERM so the exit status names the signal.
        assert exit_code in (0, -signal.SIGTERM), routing.log_tail()
        assert "Application shutdown complete" in routing.log_tail(200)
        # The replacement pod: same group, same database.
        routing = ServiceProcess("routing", port, env, log_dir())
        await asyncio.to_thread(routing.start, True, 90)

        def routed_ids(recs: list) -> Counter[str]:
            counts: Counter[str] = Counter()
            for r in recs:
                try:
                    doc = json.loads(r.value)
                except ValueError:
                    continue
                if doc.get("type") in ("ir.samad.case.routed", "ir.samad.case.triage_required") and str(
                    doc.get("subject", "")
                ).startswith(f"sigterm-{unique}-"):
                    counts[doc["subject"]] += 1
            return counts

        started = time.monotonic()
        await routed.collect(lambda recs: len(routed_ids(recs)) >= CASES_IN_FLIGHT, timeout=120)
        counts = routed_ids(routed.records)
        # Give a late duplicate the chance to show up before we count.
        await routed.collect(lambda _recs: False, timeout=2)
        counts = routed_ids(routed.records)
        lost = [c for c in ids if c not in counts]
        repeated = {c: n for c, n in counts.items() if n > 1}
        print(
            f"\nSIGTERM test: {CASES_IN_FLIGHT} cases, routed {len(counts)}, lost {len(lost)}, "
            f"repeated {len(repeated)}, drained {time.monotonic() - started:.1f}s after restart"
        )
        assert not lost, lost[:5]
        assert not repeated, list(repeated.items())[:5]
    finally:
        await producer.stop()
        routing.stop()
