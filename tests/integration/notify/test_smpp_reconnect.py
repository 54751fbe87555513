"""The SMPP session comes back after sessions are lost in quick succession, on the event loop the
services run on: uvicorn runs them on uvloop, where a write to a connection that is gone raises
``RuntimeError`` (asyncio's own loop ignores it).

Two-part SMS flow through the provider against the independent SMSC, which answers every receipt
right behind its ``submit_sm_resp``; every session is cut twice, 0.2 s apart, several times over.
After each pair the provider must be bound again, and at the end every SMS was accepted whole and
the SMSC holds each part exactly once: an answer read before the connection closed settles its
part, even when a write on the closing connection failed first.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import uvloop

from services.notify.adapters.providers.base import DeliveryReport, InboundSms, OutgoingSms, SendError
from services.notify.adapters.providers.smpp import SmppProvider
from services.notify.domain.policy import ErrorKind
from tests.integration.notify.conftest import Smsc
from tests.integration.notify.test_smpp import LONG_ANSWER, provider_for

SENDERS = 4
ROUNDS = 6
REBIND_SECONDS = 15.0


async def _send_whole(provider: SmppProvider, sms: OutgoingSms) -> dict[int, str]:
    """Send until every part is accepted, as notify's senders do: a transient error is retried with
    the parts accepted so far, which are never submitted again."""
    accepted: dict[int, str] = {}

    async def on_part(index: int, message_id: str) -> None:
        accepted[index] = message_id

    deadline = time.monotonic() + 60
    while True:
        try:
            await provider.send(
                OutgoingSms(sms.sms_id, sms.recipient, sms.text, sms.parts, sms.local_id, dict(accepted)),
                on_part,
            )
            return accepted
        except SendError as exc:
            assert exc.kind is ErrorKind.transient, f"{sms.sms_id}: {exc}"
            assert time.monotonic() < deadline, f"{sms.sms_id} not accepted in 60 s: {exc}"
            await asyncio.sleep(0.1)


async def _bound_again(provider: SmppProvider, smsc: Smsc, binds_before: int) -> bool:
    deadline = time.monotonic() + REBIND_SECONDS
    while time.monotonic() < deadline:
        if await provider.ready() and (await asyncio.to_thread(smsc.state))["binds"] > binds_before:
            return True
        await asyncio.sleep(0.1)
    return False


async def _scenario(smsc: Smsc) -> None:
    receipts: list[DeliveryReport] = []

    async def on_report(report: DeliveryReport) -> None:
        await asyncio.sleep(0.02)  # recorded in the database before its deliver_sm_resp goes back
        receipts.append(report)

    async def on_inbound(sms: InboundSms) -> None:
        pass

    provider = provider_for(smsc)
    await provider.start(on_report, on_inbound)
    try:
        deadline = time.monotonic() + REBIND_SECONDS
        while not await provider.ready():
            assert time.monotonic() < deadline, "never bound"
            await asyncio.sleep(0.05)
        await asyncio.to_thread(smsc.configure, receipt_mode="immediate")
        numbers = itertools.count()
        cutting = True
        done: dict[str, dict[int, str]] = {}

        async def sender() -> None:
            # SMS after SMS until the last cut (each finishes whole), so parts are always in flight.
            while cutting:
                n = next(numbers)
                sms = OutgoingSms(f"sms-{n}", f"+98912{n:07d}", LONG_ANSWER, 2, n)
                done[sms.sms_id] = await _send_whole(provider, sms)

        senders = [asyncio.create_task(sender()) for _ in range(SENDERS)]
        try:
            for round_ in range(ROUNDS):
                await asyncio.sleep(1.2)  # parts and receipts flow on the new session a while
                await asyncio.to_thread(smsc.cut)
                await asyncio.sleep(0.2)
                binds = (await asyncio.to_thread(smsc.state))["binds"]
                await asyncio.to_thread(smsc.cut)
                assert await _bound_again(provider, smsc, binds), (
                    f"round {round_ + 1}: no bound session {REBIND_SECONDS:g} s after every session was "
                    f"cut twice 0.2 s apart"
                )
            cutting = False
            await asyncio.wait_for(asyncio.gather(*senders), 120)
        finally:
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)

        state = await asyncio.to_thread(smsc.state)
        assert state["binds"] > ROUNDS  # the cuts did land on bound sessions
        assert len(done) > ROUNDS * SENDERS and all(sorted(parts) == [1, 2] for parts in done.values())
        # The SMSC's side, what the handsets get: each part of each message exactly once, whole.
        seen = Counter((p["destination"], p["udh"][4:6], p["udh"][-2:]) for p in state["submitted"])
        assert len(seen) == 2 * len(done), (len(seen), len(done))
        assert set(seen.values()) == {1}, [k for k, v in seen.items() if v > 1]
        by_id = {p["message_id"]: p for p in state["submitted"]}
        for parts in done.values():
            assert "".join(by_id[parts[i]]["text"] for i in (1, 2)) == LONG_ANSWER
    finally:
        await provider.stop()


def test_the_session_comes_back_after_every_session_is_cut_twice_in_quick_succession(smsc: Smsc) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_scenario(smsc))
