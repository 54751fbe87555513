"""Load generation against intake's real HTTP API, and visibility probes against tracking's API.

Open loop at a fixed offered rate (requests are sent on schedule whether or not earlier ones have been
answered, up to a bound on requests in flight), or closed loop at saturation. A sample of the accepted
cases is polled on tracking's staff API to time "accepted -> visible" and "accepted -> routed with both
SMS on the case". Bounded: every phase has a case count and a time limit; only 127.0.0.1 is addressed.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.harness import case_body, percentile

POLL_INTERVAL = 0.005  # seconds between visibility probes of one case: the timing resolution
POLL_TIMEOUT = 60.0


@dataclass
class Sample:
    seq: int
    sent: float
    accepted: float | None = None
    status: int | None = None
    case_id: str | None = None
    visible: float | None = None  # first 200 from tracking
    complete: float | None = None  # routed, with both SMS on the case
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 201 and self.case_id is not None


def summary_ms(values: list[float]) -> dict[str, float | int | None]:
    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 1)

    return {
        "n": len(values),
        "p50": ms(percentile(values, 50)),
        "p95": ms(percentile(values, 95)),
        "p99": ms(percentile(values, 99)),
        "max": ms(max(values) if values else None),
    }


HTTP_ERRORS = (aiohttp.ClientError, TimeoutError)


class Driver:
    """The load client. aiohttp, not httpx: with a pool of 256 connections httpx (httpcore) checks
    every pooled connection at each request, and the client took about a quarter of a core at
    saturation, taken from the services it measures on this two-core machine."""

    def __init__(
        self, intake_url: str, tracking_url: str, operator_token: str, staff_token: str, salt: int
    ) -> None:
        self.urls = (intake_url, tracking_url)
        self.tokens = (operator_token, staff_token)
        self._intake: aiohttp.ClientSession | None = None
        self._tracking: aiohttp.ClientSession | None = None
        self.salt = salt
        self.run_key = uuid.uuid4().hex[:8]
        self.next_seq = 0
        self.accepted_ids: list[str] = []  # every case intake answered 201 for, in that order

    def allocate(self, count: int) -> int:
        """A fresh range of case numbers: every phase registers new cases (new phones, new keys)."""
        first = self.next_seq
        self.next_seq += count
        return first

    @staticmethod
    def _session(url: str, token: str) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            connector=aiohttp.TCPConnector(limit=256),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    @property
    def intake(self) -> aiohttp.ClientSession:
        """Opened on first use, inside the running event loop (as aiohttp requires)."""
        if self._intake is None:
            self._intake = self._session(self.urls[0], self.tokens[0])
        return self._intake

    @property
    def tracking(self) -> aiohttp.ClientSession:
        if self._tracking is None:
            self._tracking = self._session(self.urls[1], self.tokens[1])
        return self._tracking

    async def close(self) -> None:
        for session in (self._intake, self._tracking):
            if session is not None:
                await session.close()

    async def post(self, seq: int) -> Sample:
        sample = Sample(seq=seq, sent=time.perf_counter())
        try:
            async with self.intake.post(
                "/v1/cases",
                json=case_body(seq, self.salt),
                headers={"Idempotency-Key": f"bench-{self.run_key}-{seq}"},
            ) as r:
                body = await r.read()
            sample.accepted = time.perf_counter()
            sample.status = r.status
            if r.status == 201:
                sample.case_id = json.loads(body)["case_id"]
                self.accepted_ids.append(sample.case_id)
            else:
                sample.error = body.decode(errors="replace")[:300]
        except HTTP_ERRORS as exc:
            sample.error = repr(exc)
        return sample

    async def watch(self, sample: Sample, until_complete: bool = True) -> None:
        """Poll tracking until the case is visible (and, optionally, routed with both SMS)."""
        # The probes are load on tracking too: fine-grained only while a case is young, then coarser.
        start = time.perf_counter()
        deadline = start + POLL_TIMEOUT
        while time.perf_counter() < deadline:
            pause = POLL_INTERVAL if time.perf_counter() - start < 1.0 else 0.025
            try:
                async with self.tracking.get(f"/v1/cases/{sample.case_id}") as r:
                    status, body = r.status, await r.read()
            except HTTP_ERRORS:
                await asyncio.sleep(pause)
                continue
            now = time.perf_counter()
            if status == 200:
                if sample.visible is None:
                    sample.visible = now
                    if not until_complete:
                        return
                doc = json.loads(body)
                if doc.get("status") == "routed" and len(doc.get("sms") or []) >= 2:
                    sample.complete = now
                    return
                # Once visible, the SMS part takes notify's sender loop: probe less often.
                await asyncio.sleep(0.1)
                continue
            await asyncio.sleep(pause)

    async def offered(
        self, rate: float, count: int, max_in_flight: int = 256, watch_per_second: float = 25.0
    ) -> dict[str, Any]:
        """Send ``count`` cases at ``rate``/s on schedule; watch a sample in tracking."""
        every = max(1, math.ceil(rate / watch_per_second))
        samples: list[Sample] = []
        watchers: list[asyncio.Task[None]] = []
        in_flight = 0
        skipped = 0

        async def one(seq: int, watched: bool) -> None:
            nonlocal in_flight
            try:
                sample = await self.post(seq)
                samples.append(sample)
                if watched and sample.ok:
                    watchers.append(asyncio.create_task(self.watch(sample)))
            finally:
                in_flight -= 1

        tasks = []
        base = self.allocate(count)
        start = time.perf_counter()
        for i in range(count):
            target = start + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight >= max_in_flight:
                skipped += 1  # the API is not keeping up: an open-loop client would pile up
                continue
            in_flight += 1
            tasks.append(asyncio.create_task(one(base + i, i % every == 0)))
        last_send = time.perf_counter()
        await asyncio.gather(*tasks)
        await asyncio.gather(*watchers)
        return self._result(rate, count, samples, start, last_send, skipped, every)

    def _result(
        self,
        rate: float,
        count: int,
        samples: list[Sample],
        start: float,
        last_send: float,
        skipped: int,
        every: int,
    ) -> dict[str, Any]:
        accepted = [s for s in samples if s.ok]
        last_accept = max((s.accepted or start) for s in accepted) if accepted else start
        watched = [s for s in accepted if s.visible is not None or s.seq % every == 0]
        return {
            "offered_rate": rate,
            "planned_cases": count,
            "sent": len(samples),
            "skipped_in_flight_bound": skipped,
            "send_rate": round(len(samples) / max(1e-9, last_send - start), 1),
            "accepted": len(accepted),
            "rejected": len(samples) - len(accepted),
            "errors": sorted({s.error for s in samples if s.error})[:3],
            "accepted_rate": round(len(accepted) / max(1e-9, last_accept - start), 1),
            "request_ms": summary_ms([s.accepted - s.sent for s in accepted if s.accepted]),
            "watched": len(watched),
            "not_visible_within_timeout": sum(1 for s in watched if s.visible is None),
            "visible_ms": summary_ms([s.visible - s.accepted for s in watched if s.visible and s.accepted]),
            "complete_ms": summary_ms(
                [s.complete - s.accepted for s in watched if s.complete and s.accepted]
            ),
        }

    async def saturate(self, count: int, concurrency: int) -> list[Sample]:
        """Closed loop: ``concurrency`` clients each send their next case as soon as one is answered."""
        samples: list[Sample] = []
        first_seq = self.allocate(count)
        queue = iter(range(first_seq, first_seq + count))

        async def client() -> None:
            for seq in queue:
                samples.append(await self.post(seq))

        await asyncio.gather(*(client() for _ in range(concurrency)))
        return samples


@dataclass
class Progress:
    """Completion over time, read from the services' own databases (not a latency source)."""

    points: list[tuple[float, int, int]] = field(default_factory=list)  # (t, tracked, ledgered)

    def rate_between(self, lo: float, hi: float, total: int) -> float | None:
        """Steady-state rate: cases/s between ``lo`` and ``hi`` shares of ``total`` completed.

        The moment each share was reached is interpolated between the two polls around it: taking
        the first poll past it instead would credit the cases finished before that poll but after the
        share to a shorter span, and overstate the rate when polls are far apart."""
        t_lo, t_hi = self.time_at(lo * total), self.time_at(hi * total)
        if t_lo is None or t_hi is None or t_hi <= t_lo:
            return None
        return round((hi - lo) * total / (t_hi - t_lo), 1)

    def time_at(self, done: float) -> float | None:
        """When ``done`` cases were finished, interpolated linearly between polls; None if never."""
        before = (0.0, 0)
        for t, count, _ in self.points:
            if count >= done:
                t0, c0 = before
                return t if count == c0 else t0 + (done - c0) * (t - t0) / (count - c0)
            before = (t, count)
        return None
