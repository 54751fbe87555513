"""A replayed copy keeps key, value and headers and names its replay run, so consumers can tell it apart."""

from __future__ import annotations

import re

from aiokafka import TopicPartition

from contracts.headers import REPLAY_RUN as REPLAY_HEADER
from services.ops.domain.records import Outgoing


async def test_replayed_copies_carry_the_run(log, make_topic, samad, unique: str) -> None:
    source = await make_topic("replaysrc", 2)
    target = await make_topic("replaydst", 2)
    await log.send(
        Outgoing(source, f"case-{i % 3}".encode(), f"v{i}".encode(), [("x-trace", b"t")], partition=i % 2)
        for i in range(10)
    )
    dry = samad("replay", "publish", "--topic", source, "--from", "earliest", "--into", target)
    assert dry.returncode == 0 and "add --execute" in dry.stdout
    assert (await log.bounds(target)) == {0: (0, 0), 1: (0, 0)}

    done = samad("replay", "publish", "--topic", source, "--from", "earliest", "--into", target, "--execute")
    assert done.returncode == 0, done.stderr
    run_id = re.search(r"replay run (replay-[0-9a-f]+)", done.stdout).group(1)
    copies = []
    async for batch in log.read({TopicPartition(target, p): (0, 5) for p in (0, 1)}):
        copies.extend(batch)
    assert sorted((c.partition, c.key, c.value) for c in copies) == sorted(
        (i % 2, f"case-{i % 3}".encode(), f"v{i}".encode()) for i in range(10)
    )
    for c in copies:
        headers = dict(c.headers)
        assert headers[REPLAY_HEADER] == run_id.encode()
        assert headers["x-trace"] == b"t"
        assert headers["samad-replay-original"].startswith(f"{source}:{c.partition}:".encode())
