"""``samad replay rebuild <projection>`` and ``samad replay rebuilds``: rebuild a projection from the log
into a shadow collection with the owning service's own code (found by name, never imported), compare it
with live and, when asked, promote it; and list the runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.common.clock import Clock
from services.ops.adapters.catalog import ProjectionCatalog, ProjectionUnavailable
from services.ops.adapters.log import EventLog
from services.ops.adapters.projection_store import ProjectionStore
from services.ops.adapters.store import RebuildRuns
from services.ops.domain.rebuild import Progress, RebuildOptions, RebuildResult, audit_detail
from services.ops.service.audit import Auditor
from services.ops.service.errors import Refused
from services.ops.service.positions import Positions
from services.ops.service.rebuild_engine import Rebuilder
from services.ops.settings import OpsSettings


@dataclass
class Watcher:
    """What the operator sees while a rebuild runs: the start line, progress, and notes."""

    started: Callable[[str], None] = lambda _line: None
    progress: Callable[[Progress], None] = lambda _p: None
    say: Callable[[str], None] = lambda _note: None


class Rebuild:
    def __init__(
        self,
        log: EventLog,
        runs: RebuildRuns,
        targets: dict[str, ProjectionStore],
        catalog: ProjectionCatalog,
        auditor: Auditor,
        positions: Positions,
        clock: Clock,
        settings: OpsSettings,
    ) -> None:
        self.log = log
        self.runs = runs
        self.targets = targets
        self.catalog = catalog
        self.auditor = auditor
        self.positions = positions
        self.clock = clock
        self.settings = settings

    async def run(
        self,
        name: str,
        *,
        start: str = "earliest",
        resume: str | None = None,
        resume_last: bool = False,
        swap: bool = False,
        sample: int = 200,
        batch_size: int | None = None,
        topics: Sequence[str] | None = None,
        watcher: Watcher | None = None,
    ) -> RebuildResult:
        """Rebuild projection ``name`` (from ``start``, or continuing run ``resume`` / the latest
        interrupted one), compare it with live, and with ``swap`` promote it."""
        watch = watcher or Watcher()
        args = {"from": start, "resume": resume, "resume_last": resume_last, "swap": swap, "sample": sample}
        async with self.auditor.action(f"replay rebuild {name}", args, changes=True) as action:
            try:
                projection = self.catalog.load(name, topics or None, self.settings.tracking_data_dir)
            except ProjectionUnavailable as exc:
                raise Refused(str(exc)) from exc
            target = self.targets.get(name)
            if target is None:
                raise Refused(f"no collection is configured for the {name} projection")
            run_id = resume
            if resume_last:
                last = await self.runs.run_latest(name, ["interrupted", "failed", "running"])
                if last is None:
                    raise Refused(f"no interrupted {name} rebuild to resume")
                run_id = str(last["_id"])
            rebuilder = Rebuilder(
                self.log,
                self.runs,
                target,
                projection,
                operator=self.auditor.operator,
                clock=self.clock,
                on_progress=watch.progress,
                say=watch.say,
            )
            options = RebuildOptions(
                start=self.positions.position(start),
                resume=run_id,
                swap=swap,
                sample=sample,
                batch_size=batch_size or self.settings.rebuild_batch_size,
                lock_ttl=self.settings.rebuild_lock_seconds,
                live_group=self.settings.group(name),
            )
            watch.started(
                f"rebuilding {target.database}.{target.live} from "
                f"{', '.join(projection.topics)} ({'resuming ' + run_id if run_id else 'new run'})"
            )
            try:
                result = await rebuilder.run(options)
            except asyncio.CancelledError:
                action.detail["run_id"] = run_id
                raise
            action.detail.update(audit_detail(result))
            return result

    async def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The latest rebuild runs, newest first."""
        return await self.runs.runs_recent(limit)
