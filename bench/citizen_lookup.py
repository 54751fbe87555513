"""How long the citizen's lookup takes for a wrong phone and for a wrong code, on the real database.

Both refusals are meant to take the same steps (see services/tracking/service/citizen_status.py): this
prints the time of each, interleaved so both see the same load, through the same use case the HTTP
route calls, on a scratch database of the given server (the test stack's FerretDB by default). It
fails nothing: it prints figures.

    uv run python bench/citizen_lookup.py --lookups 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
import uuid

from services.common.clock import SystemClock
from services.common.mongo import make_client
from services.tracking.adapters.cases import MongoCaseStore
from services.tracking.adapters.ratelimit import MongoAttempts
from services.tracking.domain.lookup_limits import LookupLimits
from services.tracking.service.citizen_status import CitizenStatus
from services.tracking.service.errors import NoSuchCase
from services.tracking.service.project_events import apply_events
from tests.unit.tracking.factory import CaseEvents


async def main(url: str, lookups: int, cases: int) -> None:
    client = make_client(url, "bench-lookup")
    name = f"bench_lookup_{uuid.uuid4().hex[:8]}"
    db = client[name]
    try:
        store, attempts = MongoCaseStore(db), MongoAttempts(db)
        await attempts.ensure_indexes()
        known = []
        for i in range(cases):
            c = CaseEvents(f"bench-{i}")
            await apply_events(store, [c.registered(), c.routed()])
            known.append(c.code)
        # Limits far above the run, so every lookup goes the whole way to its refusal.
        limits = LookupLimits(client_attempts=10**9, code_failures=10**9)
        status = CitizenStatus(MongoCaseStore(db), attempts, SystemClock(), limits)
        times: dict[str, list[float]] = {"wrong phone": [], "wrong code": []}
        for n in range(lookups):
            path = "wrong phone" if n % 2 else "wrong code"
            code = known[n % cases] if path == "wrong phone" else CaseEvents(f"nobody-{n}").code
            start = time.perf_counter()
            with contextlib.suppress(NoSuchCase):
                await status(code, "1111", f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}")
            times[path].append((time.perf_counter() - start) * 1000)
        print(f"{lookups} lookups refused, {cases} cases, {url.split('@')[-1]}")
        print(f"{'path':<12} {'median ms':>10} {'p90 ms':>8} {'mean ms':>8}")
        for path, values in times.items():
            values = values[len(values) // 10 :]  # leave out the warm-up
            p90 = statistics.quantiles(values, n=10)[-1]
            print(
                f"{path:<12} {statistics.median(values):>10.2f} {p90:>8.2f} {statistics.fmean(values):>8.2f}"
            )
    finally:
        await client.drop_database(name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SAMAD_TEST_MONGO", "mongodb://127.0.0.1:27018/"))
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--cases", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.lookups, args.cases))
