"""Consumer group offsets on the in-memory log: lag, and a reset that refuses while the group is live."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.clock import FixedClock
from services.ops.adapters.log import InMemoryLog
from services.ops.adapters.store import InMemoryOpsStore
from services.ops.bootstrap import OpsContainer
from services.ops.domain.offsets import GroupState
from services.ops.domain.records import Outgoing
from services.ops.domain.timespec import SpecError

TOPIC = "test.offsets"
GROUP = "samad.tracking"
BASE_TS = 1_735_700_000_000


@pytest.fixture
async def topic(log: InMemoryLog) -> str:
    await log.create_topic(TOPIC, 2)
    await log.send(
        Outgoing(TOPIC, None, f"m{i}".encode(), [], timestamp=BASE_TS + i * 1000, partition=i % 2)
        for i in range(20)
    )
    log.offsets[GROUP] = {(TOPIC, 0): 10, (TOPIC, 1): 10}
    return TOPIC


async def test_show_reports_lag_and_members(ops: OpsContainer, log: InMemoryLog, topic: str) -> None:
    log.join(GROUP, "tracking-1@10.0.0.5")
    report = await ops.offsets.show(GROUP)
    assert report.state == GroupState(GROUP, "Stable", ("tracking-1@10.0.0.5",))
    assert [(lag.partition, lag.committed, lag.log_end, lag.lag) for lag in report.lags] == [
        (0, 10, 10, 0),
        (1, 10, 10, 0),
    ]
    log.offsets[GROUP] = {(TOPIC, 0): 4}
    report = await ops.offsets.show(GROUP, [TOPIC])
    assert [lag.lag for lag in report.lags] == [6, None] and report.total == 6


async def test_a_reset_is_refused_while_the_group_has_members_then_runs_once_it_is_stopped(
    ops: OpsContainer, log: InMemoryLog, store: InMemoryOpsStore, clock: FixedClock, topic: str
) -> None:
    log.join(GROUP, "tracking-1@10.0.0.5")
    refused = await ops.offsets.reset(GROUP, str(BASE_TS + 4000), execute=True)
    assert refused.refused is not None and "1 active member(s) (tracking-1@10.0.0.5)" in refused.refused
    assert not refused.executed and log.offsets[GROUP] == {(TOPIC, 0): 10, (TOPIC, 1): 10}

    log.join(GROUP)  # stopped: Empty, no members
    clock.advance(timedelta(minutes=1))
    dry = await ops.offsets.reset(GROUP, str(BASE_TS + 4000))
    assert [(m.partition, m.current, m.target, m.delta) for m in dry.moves] == [
        (0, 10, 2, -8),
        (1, 10, 2, -8),
    ]
    assert not dry.executed and log.offsets[GROUP] == {(TOPIC, 0): 10, (TOPIC, 1): 10}

    clock.advance(timedelta(minutes=1))
    done = await ops.offsets.reset(GROUP, str(BASE_TS + 4000), execute=True)
    assert done.executed and log.offsets[GROUP] == {(TOPIC, 0): 2, (TOPIC, 1): 2}

    audit = await store.audit_list(command="offsets reset")
    assert [e["outcome"] for e in audit] == ["ok", "dry-run", "refused"]
    assert "active member" in audit[2]["detail"]["refused"]
    assert audit[0]["detail"]["moves"][0] == {"topic": TOPIC, "partition": 0, "from": 10, "to": 2}


class JoinsWhilePlanning(InMemoryLog):
    """A consumer joins the group between the plan and the write."""

    async def describe_group(self, group: str) -> GroupState:
        state = await super().describe_group(group)
        self.join(group, "tracking-2@10.0.0.6")
        return state


async def test_the_group_is_looked_at_again_right_before_writing(
    ops: OpsContainer, log: InMemoryLog, topic: str
) -> None:
    ops.offsets.log = JoinsWhilePlanning(clock=log.clock, topics=log.topics, offsets=log.offsets)
    result = await ops.offsets.reset(GROUP, "earliest", execute=True)
    assert result.refused is not None and "tracking-2@10.0.0.6" in result.refused
    assert not result.executed and log.offsets[GROUP] == {(TOPIC, 0): 10, (TOPIC, 1): 10}


async def test_a_group_without_offsets_needs_the_topics_named(
    ops: OpsContainer, log: InMemoryLog, topic: str
) -> None:
    with pytest.raises(SpecError, match="name the topic"):
        await ops.offsets.reset("samad.nobody", "earliest")
    result = await ops.offsets.reset("samad.nobody", "earliest", [TOPIC], execute=True)
    assert result.executed and log.offsets["samad.nobody"] == {(TOPIC, 0): 0, (TOPIC, 1): 0}


async def test_the_fake_broker_refuses_a_commit_into_a_live_group(log: InMemoryLog, topic: str) -> None:
    log.join(GROUP, "tracking-1@10.0.0.5")
    with pytest.raises(RuntimeError, match="active members"):
        await log.commit(GROUP, {(TOPIC, 0): 0})
