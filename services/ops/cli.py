"""`samad events|replay|offsets|audit`: the operators' commands for the event log.

Exit codes: 0 done, 1 failed, 2 bad arguments, 3 refused (a live consumer group, a rebuild already
running, the audit trail unreachable for a changing action), 130 interrupted.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar
from zoneinfo import ZoneInfo

import typer
from aiokafka import TopicPartition
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from contracts.topics import DEADLETTER
from services.common.mongo import make_client
from services.ops import events as events_ops
from services.ops import offsets as offsets_ops
from services.ops import redrive as redrive_ops
from services.ops import replay as replay_ops
from services.ops.adapters.kafka import KafkaLog, TopicNotFound, client_options
from services.ops.adapters.store import MongoOpsStore
from services.ops.audit import Auditor, AuditUnavailable, Refused
from services.ops.domain.deadletter import Decision, RedriveFilter
from services.ops.domain.records import DumpFormatError, parse_dump
from services.ops.domain.render import EventView, matches, view
from services.ops.domain.timespec import LATEST, Position, SpecError, parse_position, parse_time
from services.ops.rebuild import Progress as RebuildProgress
from services.ops.rebuild import Rebuilder, RebuildOptions, RebuildResult, Target
from services.ops.settings import OpsSettings

EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_INTERRUPTED = 1, 2, 3, 130

T = TypeVar("T")


ActorOption = Annotated[
    str | None,
    typer.Option(
        "--actor", envvar="SAMAD_ACTOR", help="Who is acting (recorded in the audit); default: OS user."
    ),
]


@dataclass
class Ops:
    settings: OpsSettings
    log: KafkaLog
    store: MongoOpsStore
    auditor: Auditor
    out: Console
    err: Console

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.ops_timezone)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def position(self, text: str) -> Position:
        return parse_position(text, now=self.now(), zone=self.zone)

    def time(self, text: str) -> datetime:
        return parse_time(text, now=self.now(), zone=self.zone)


def consoles() -> tuple[Console, Console]:
    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False)


@asynccontextmanager
async def opened(actor: str | None) -> AsyncIterator[Ops]:
    settings = OpsSettings()
    client = make_client(settings.mongo_url, "ops")
    store = MongoOpsStore(client[settings.db_name])
    out, err = consoles()
    try:
        async with KafkaLog(settings.kafka_bootstrap, options=client_options(settings)) as log:
            yield Ops(settings, log, store, Auditor(store, actor), out, err)
    finally:
        await client.close()


def run(body: Callable[[], Awaitable[T]]) -> T:
    """Run one command; turn the expected failures into a message and an exit code, not a traceback."""
    _, err = consoles()
    try:
        return asyncio.run(body())  # type: ignore[arg-type]
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (SpecError, TopicNotFound, DumpFormatError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    except (Refused, AuditUnavailable) as exc:
        err.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(EXIT_REFUSED) from None


def utf8_stdout() -> TextIO:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        return sys.stdout
    return io.TextIOWrapper(buffer, encoding="utf-8", newline="\n", write_through=True)


# --- samad events --------------------------------------------------------------------------------

events_app = typer.Typer(help="Follow, back up and restore the events of a topic.", no_args_is_help=True)


def print_event(console: Console, v: EventView) -> None:
    head = Text()
    head.append(f"{v.when:<29} ", style="cyan")
    head.append(f"{v.where:>12}  ", style="dim")
    head.append(f"{v.type:<26} ", style="red" if v.undecodable else "bold green")
    head.append(f"{v.subject:<36} ", style="yellow")
    head.append(f"id={v.event_id}", style="dim")
    for mark in v.marks:
        head.append(f"  [{mark}]", style="magenta")
    console.print(head)
    width = max((len(name) for name, _ in v.fields), default=0)
    for name, value in v.fields:
        line = Text("    ")
        line.append(f"{name:<{width}}", style="dim" if name.startswith("@") else "blue")
        line.append("  ")
        line.append(value)
        console.print(line)


@events_app.command("tail")
def tail(
    topic: Annotated[str, typer.Argument(help="Topic to follow, e.g. samad.cases.v1.")],
    case: Annotated[
        str | None, typer.Option("--case", help="Only this case (id, tracking code or key).")
    ] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only this type, e.g. case.routed.")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", help="Start here (time, offset or earliest); default: new events only."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Stop after this many events.")] = None,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="Keep waiting for new events.")] = True,
    unmask: Annotated[bool, typer.Option("--unmask", help="Show phone numbers and national ids.")] = False,
    bidi: Annotated[
        bool | None,
        typer.Option("--bidi/--no-bidi", help="Reorder Persian text for terminals without BiDi support."),
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Follow a topic readably: aligned envelope fields, then the payload (Persian as Persian)."""

    async def body() -> None:
        async with opened(actor) as ops:
            args = {"topic": topic, "case": case, "type": event_type, "from": start, "unmask": unmask}
            async with ops.auditor.action("events tail", args, changes=False) as action:
                position = ops.position(start) if start else LATEST
                bounds = await ops.log.bounds(topic)
                starts = await ops.log.resolve(topic, position, bounds, is_start=True)
                ends = {p: end for p, (_f, end) in bounds.items()}
                use_bidi = ops.settings.cli_bidi if bidi is None else bidi
                shown = 0
                positions = dict(starts)
                tps = {TopicPartition(topic, p): off for p, off in starts.items()}
                ops.err.print(f"[dim]{topic}: from {position.describe()}; Ctrl-C to stop[/]")
                async for batch in ops.log.follow(tps):
                    for record in batch:
                        positions[record.partition] = record.offset + 1
                        if not matches(record, case=case, event_type=event_type):
                            continue
                        print_event(ops.out, view(record, zone=ops.zone, unmask=unmask, bidi=use_bidi))
                        shown += 1
                        if limit is not None and shown >= limit:
                            break
                    if limit is not None and shown >= limit:
                        break
                    if not follow and all(positions[p] >= end for p, end in ends.items()):
                        break
                action.detail["shown"] = shown

    run(body)


@events_app.command("dump")
def dump(
    topic: Annotated[str, typer.Option("--topic", help="Topic to back up.")],
    start: Annotated[str, typer.Option("--from", help="Time (or earliest/offset) to start at.")],
    stop: Annotated[str, typer.Option("--to", help="Time to stop before (default: now).")] = "now",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Write a topic's events in [from, to) as JSON lines with keys, headers and timestamps intact."""

    async def body() -> None:
        async with opened(actor) as ops:
            args = {"topic": topic, "from": start, "to": stop, "output": output}
            async with ops.auditor.action("events dump", args, changes=False) as action:
                first, last = ops.position(start), ops.position(stop)
                if output is None:
                    stats = await events_ops.dump(ops.log, topic, first, last, utf8_stdout())
                else:
                    with output.open("w", encoding="utf-8", newline="\n") as fh:
                        stats = await events_ops.dump(ops.log, topic, first, last, fh)
                action.detail.update({"records": stats.records, "partitions": stats.partitions})
                ops.err.print(
                    f"dumped {stats.records} record(s) of {topic} from {len(stats.partitions)} partition(s)"
                )

    run(body)


@events_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="A file written by samad events dump ('-' for stdin).")],
    topic: Annotated[str | None, typer.Option("--topic", help="Publish to this topic instead.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be published.")] = False,
    actor: ActorOption = None,
) -> None:
    """Publish a dump's records that the topic does not already have (by event id): loading twice is safe."""

    async def body() -> None:
        async with opened(actor) as ops:
            args = {"file": file, "topic": topic, "dry_run": dry_run}
            async with ops.auditor.action("events load", args, changes=not dry_run) as action:
                if str(file) == "-":
                    dumped = parse_dump(sys.stdin)
                else:
                    with file.open(encoding="utf-8") as fh:
                        dumped = parse_dump(fh)
                stats = await events_ops.load(ops.log, dumped, topic=topic, dry_run=dry_run)
                if dry_run:
                    action.outcome = "dry-run"
                action.detail.update(
                    {
                        "records_in_file": len(dumped.records),
                        "published": [{"topic": t, "records": n} for t, n in stats.published.items()],
                        "already_on_topic": stats.already_on_topic,
                        "repeated_in_file": stats.repeated_in_file,
                    }
                )
                verb = "would publish" if dry_run else "published"
                for name, count in stats.published.items():
                    ops.out.print(f"{verb} {count} record(s) to {name}")
                ops.out.print(
                    f"skipped {stats.already_on_topic} already on the topic, "
                    f"{stats.repeated_in_file} repeated in the file ({len(dumped.records)} in the file)"
                )

    run(body)


# --- samad replay --------------------------------------------------------------------------------

replay_app = typer.Typer(
    help="Plan replays, rebuild projections, re-drive dead letters.", no_args_is_help=True
)


@replay_app.command("plan")
def plan(
    topic: Annotated[str, typer.Option("--topic", help="Topic to replay.")],
    start: Annotated[str, typer.Option("--from", help="Time, offset, p:offset,... or earliest.")],
    stop: Annotated[str, typer.Option("--to", help="Time, offset, p:offset,... or latest.")] = "latest",
    actor: ActorOption = None,
) -> None:
    """Dry run: per partition, the offsets a replay would read (times resolved) and how many messages."""

    async def body() -> None:
        async with opened(actor) as ops:
            args = {"topic": topic, "from": start, "to": stop}
            async with ops.auditor.action("replay plan", args, changes=False) as action:
                first, last = ops.position(start), ops.position(stop)
                p = await ops.log.plan(topic, first, last)
                table = Table(title=f"replay plan: {topic} from {first.describe()} to {last.describe()}")
                for col in (
                    "partition",
                    "log start",
                    "from offset",
                    "to offset (excl.)",
                    "messages",
                    "log end",
                ):
                    table.add_column(col, justify="right")
                for r in p.ranges:
                    table.add_row(
                        str(r.partition),
                        str(r.log_start),
                        str(r.start),
                        str(r.stop),
                        f"{r.count:,}",
                        str(r.log_end),
                    )
                table.add_row("total", "", "", "", f"{p.total:,}", "", style="bold")
                ops.out.print(table)
                action.outcome = "dry-run"
                action.detail.update({"total": p.total, "starts": p.starts(), "stops": p.stops()})

    run(body)


@replay_app.command("publish")
def replay_publish(
    topic: Annotated[str, typer.Option("--topic", help="Topic to replay.")],
    start: Annotated[str, typer.Option("--from", help="Time, offset, p:offset,... or earliest.")],
    stop: Annotated[str, typer.Option("--to", help="Time, offset, p:offset,... or latest.")] = "latest",
    into: Annotated[
        str | None, typer.Option("--into", help="Publish the copies here (default: the same topic).")
    ] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    case: Annotated[str | None, typer.Option("--case", help="Only this case.")] = None,
    execute: Annotated[
        bool, typer.Option("--execute", help="Really publish (default: show the plan).")
    ] = False,
    actor: ActorOption = None,
) -> None:
    """Publish copies of a range of a topic, each marked with the replay run (samad-replay-run)."""

    async def body() -> None:
        async with opened(actor) as ops:
            args = {
                "topic": topic,
                "from": start,
                "to": stop,
                "into": into,
                "type": event_type,
                "case": case,
                "execute": execute,
            }
            async with ops.auditor.action("replay publish", args, changes=execute) as action:
                p = await ops.log.plan(topic, ops.position(start), ops.position(stop))
                run_id = f"replay-{uuid.uuid4().hex[:12]}"
                action.detail.update({"run_id": run_id, "planned": p.total})
                if not execute:
                    action.outcome = "dry-run"
                    ops.out.print(
                        f"would read {p.total:,} message(s) of {topic} and publish them to {into or topic} as run {run_id}; add --execute"
                    )
                    return
                stats = await replay_ops.publish(
                    ops.log, p, run_id=run_id, into=into, event_type=event_type, case=case
                )
                action.detail.update({"read": stats.read, "published": stats.published})
                ops.out.print(
                    f"replay run {run_id}: read {stats.read:,}, published {stats.published:,} to {into or topic}"
                )

    run(body)


@replay_app.command("redrive-deadletter")
def redrive_deadletter(
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only dead letters since this time.")] = None,
    original_topic: Annotated[str | None, typer.Option("--topic", help="Only those from this topic.")] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Only those dead-lettered by this service.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be re-driven.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also re-drive messages that failed again after a re-drive.")
    ] = False,
    actor: ActorOption = None,
) -> None:
    """Publish dead letters back to their original topic with their original key, each one once."""

    async def body() -> None:
        async with opened(actor) as ops:
            args = {
                "type": event_type,
                "since": since,
                "topic": original_topic,
                "service": service,
                "dry_run": dry_run,
                "force": force,
            }
            async with ops.auditor.action("replay redrive-deadletter", args, changes=not dry_run) as action:
                wanted = RedriveFilter(
                    event_type=event_type,
                    since=ops.time(since) if since else None,
                    original_topic=original_topic,
                    service=service,
                    force=force,
                )
                run_id = f"redrive-{uuid.uuid4().hex[:12]}"
                outcomes = await redrive_ops.redrive(
                    ops.log, ops.store, wanted, run_id=run_id, actor=ops.auditor.actor, dry_run=dry_run
                )
                table = Table(title=f"{DEADLETTER}{' (dry run)' if dry_run else ''}")
                for col in ("dead letter", "failed at", "service", "reason", "type", "key", "action"):
                    table.add_column(col)
                counts: dict[str, int] = {}
                for o in outcomes:
                    if o.decision in (Decision.filtered, Decision.not_a_dead_letter):
                        counts[o.decision.value] = counts.get(o.decision.value, 0) + 1
                        continue
                    letter = o.letter
                    assert letter is not None
                    act = (
                        ("would re-drive" if dry_run else f"re-driven -> {o.published_to}")
                        if o.decision is Decision.redrive
                        else f"skipped: {o.decision.value}"
                    )
                    counts[act.split(" ->")[0]] = counts.get(act.split(" ->")[0], 0) + 1
                    table.add_row(
                        f"{o.record.partition}@{o.record.offset}",
                        letter.failed_at[:19],
                        letter.service,
                        letter.reason,
                        (letter.event_type or "?").removeprefix("ir.samad."),
                        (o.record.key or b"").decode(errors="replace"),
                        act,
                    )
                ops.out.print(table)
                ops.out.print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no dead letters")
                action.outcome = "dry-run" if dry_run else "ok"
                action.detail.update({"run_id": run_id, "counts": counts})

    run(body)


rebuild_app = typer.Typer(
    help="Rebuild a projection from the log into a shadow collection.", no_args_is_help=True
)
replay_app.add_typer(rebuild_app, name="rebuild")


class _Bar:
    """A rich progress bar fed by the rebuild engine: events done of total, rate and time left."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8,.0f} events/s"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("rebuild", total=None, rate=0.0)
        self.started = time.perf_counter()
        self.first_done: int | None = None

    def __call__(self, p: RebuildProgress) -> None:
        if self.first_done is None:
            self.first_done = 0
        elapsed = time.perf_counter() - self.started
        self.progress.update(
            self.task, total=p.total, completed=p.done, rate=p.done / elapsed if elapsed else 0
        )


@rebuild_app.command("tracking")
def rebuild_tracking(
    start: Annotated[
        str, typer.Option("--from", help="earliest (full rebuild) or a time/offset to replay from.")
    ] = "earliest",
    resume: Annotated[str | None, typer.Option("--resume", help="Continue this interrupted run.")] = None,
    resume_last: Annotated[
        bool, typer.Option("--resume-last", help="Continue the latest interrupted run.")
    ] = False,
    swap: Annotated[bool, typer.Option("--swap", help="Promote the shadow to live afterwards.")] = False,
    sample: Annotated[
        int, typer.Option("--sample", help="Documents compared field by field (0: all).")
    ] = 200,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Events read per step.")] = None,
    topics: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Read these topics instead of tracking's (e.g. restored copies)."),
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Rebuild tracking's cases from the log into a shadow collection (fresh consumer group, same
    projection code as the live service), compare it with live, and with --swap promote it."""
    from services.ops.projections import ProjectionUnavailable, load_projection

    async def body() -> int:
        async with opened(actor) as ops:
            settings = ops.settings
            args = {
                "from": start,
                "resume": resume,
                "resume_last": resume_last,
                "swap": swap,
                "sample": sample,
            }
            async with ops.auditor.action("replay rebuild tracking", args, changes=True) as action:
                try:
                    projection = load_projection("tracking", topics or None, settings.tracking_data_dir)
                except ProjectionUnavailable as exc:
                    raise Refused(str(exc)) from exc
                run_id = resume
                if resume_last:
                    last = await ops.store.run_latest("tracking", ["interrupted", "failed", "running"])
                    if last is None:
                        raise Refused("no interrupted tracking rebuild to resume")
                    run_id = str(last["_id"])
                client = make_client(settings.mongo_url, "ops-rebuild")
                try:
                    target = Target(client[settings.tracking_db_name], settings.tracking_collection)
                    bar = _Bar(ops.err)
                    rebuilder = Rebuilder(
                        ops.log,
                        ops.store,
                        target,
                        projection,
                        actor=ops.auditor.actor,
                        on_progress=bar,
                        say=lambda m: ops.err.print(f"[dim]{m}[/]"),
                    )
                    options = RebuildOptions(
                        start=ops.position(start),
                        resume=run_id,
                        swap=swap,
                        sample=sample,
                        batch_size=batch_size or settings.rebuild_batch_size,
                        lock_ttl=settings.rebuild_lock_seconds,
                        live_group=settings.group("tracking"),
                    )
                    ops.err.print(
                        f"rebuilding {settings.tracking_db_name}.{settings.tracking_collection} from "
                        f"{', '.join(projection.topics)} ({'resuming ' + run_id if run_id else 'new run'})"
                    )
                    try:
                        with bar.progress:
                            result = await rebuilder.run(options)
                    except asyncio.CancelledError:
                        action.detail["run_id"] = run_id
                        ops.err.print(
                            "[yellow]interrupted: resume with samad replay rebuild tracking --resume-last[/]"
                        )
                        raise
                finally:
                    await client.close()
                action.detail.update(_rebuild_detail(result))
                _print_rebuild(ops.out, result)
                return 0

    run(body)


def _rebuild_detail(result: RebuildResult) -> dict[str, Any]:
    p = result.progress
    detail: dict[str, Any] = {
        "run_id": result.run_id,
        "shadow": result.shadow,
        "events": p.done,
        "applied": p.applied,
        "undecodable": p.undecodable,
        "events_per_s": round(result.rate),
        "swapped": result.swapped,
    }
    if result.comparison is not None:
        c = result.comparison
        detail["comparison"] = {
            "live": c.live_count,
            "shadow": c.shadow_count,
            "only_live": len(c.only_live),
            "only_shadow": len(c.only_shadow),
            "compared": c.compared,
            "differing": len(c.differing),
        }
    return detail


def _print_rebuild(out: Console, result: RebuildResult) -> None:
    p = result.progress
    out.print(
        f"run {result.run_id}: {p.done:,} events read, {p.applied:,} applied, {p.ignored:,} not for this "
        f"projection, {p.undecodable:,} undecodable; {p.documents_written:,} document writes in "
        f"{result.seconds:.1f}s ({result.rate:,.0f} events/s) into {result.shadow}"
    )
    c = result.comparison
    if c is not None:
        table = Table(title="shadow vs live")
        table.add_column("")
        table.add_column("live", justify="right")
        table.add_column("shadow", justify="right")
        table.add_row("documents", f"{c.live_count:,}", f"{c.shadow_count:,}")
        table.add_row("only here", f"{len(c.only_live):,}", f"{len(c.only_shadow):,}")
        out.print(table)
        for ident in c.only_live[:10]:
            out.print(f"  only in live:   {ident}")
        for ident in c.only_shadow[:10]:
            out.print(f"  only in shadow: {ident}")
        out.print(f"compared {c.compared:,} document(s) field by field: {len(c.differing):,} differ")
        for ident, diffs in list(c.differing.items())[:10]:
            out.print(f"  [yellow]{ident}[/]")
            for line in diffs[:8]:
                out.print(f"      {line}")
        out.print("[green]identical[/]" if c.identical else "[yellow]differences found[/]")
    if result.swapped:
        kept = (
            f"; the previous collection is kept as {result.replaced_backup}" if result.replaced_backup else ""
        )
        out.print(f"[green]swapped:[/] the rebuilt collection is now live{kept}")
    elif result.comparison is not None:
        out.print(f"not swapped; promote it with --swap, or drop {result.shadow}")


@replay_app.command("rebuilds")
def rebuilds(
    limit: Annotated[int, typer.Option("--limit", "-n")] = 10,
) -> None:
    """List rebuild runs: status, progress, shadow collection."""

    async def body() -> list[dict[str, Any]]:
        settings = OpsSettings()
        client = make_client(settings.mongo_url, "ops")
        try:
            cursor = client[settings.db_name]["rebuild_runs"].find({}).sort("started_at", -1).limit(limit)
            return [d async for d in cursor]
        finally:
            await client.close()

    out, _ = consoles()
    table = Table(title="rebuild runs (newest first)")
    for col in ("run", "target", "status", "from", "events", "events/s", "shadow", "actor", "started"):
        table.add_column(col)
    for r in run(body):
        started = r.get("started_at")
        table.add_row(
            str(r["_id"]),
            str(r.get("target")),
            str(r.get("status")),
            str(r.get("from")),
            f"{r.get('events', r.get('applied', 0)):,}",
            f"{r.get('rate', 0):,.0f}",
            str(r.get("shadow")),
            str(r.get("actor")),
            started.strftime("%Y-%m-%d %H:%M:%S") if isinstance(started, datetime) else "?",
        )
    out.print(table)


# --- samad offsets -------------------------------------------------------------------------------

offsets_app = typer.Typer(help="Consumer group positions: lag, and safe resets.", no_args_is_help=True)


def group_table(report: offsets_ops.GroupReport) -> Table:
    state = report.state
    table = Table(title=f"group {state.group}: {state.state}, {len(state.members)} member(s)")
    for col in ("topic", "partition", "committed", "log end", "lag"):
        table.add_column(col, justify="right" if col != "topic" else "left")
    for lag in report.lags:
        table.add_row(
            lag.topic,
            str(lag.partition),
            "-" if lag.committed is None else str(lag.committed),
            str(lag.log_end),
            "-" if lag.lag is None else f"{lag.lag:,}",
        )
    return table


@offsets_app.command("show")
def offsets_show(
    group: Annotated[str, typer.Option("--group", help="Consumer group, e.g. samad.tracking.")],
    topics: Annotated[list[str] | None, typer.Option("--topic", help="Only these topics.")] = None,
    actor: ActorOption = None,
) -> None:
    """Lag per partition of a consumer group, and its members."""

    async def body() -> None:
        async with (
            opened(actor) as ops,
            ops.auditor.action("offsets show", {"group": group, "topics": topics}, changes=False),
        ):
            report = await offsets_ops.show(ops.log, group, list(topics or []))
            ops.out.print(group_table(report))
            for member in report.state.members:
                ops.out.print(f"  member {member}")
            total = sum(lag.lag or 0 for lag in report.lags)
            ops.out.print(f"total lag {total:,}")

    run(body)


@offsets_app.command("reset")
def offsets_reset(
    group: Annotated[str, typer.Option("--group", help="Consumer group to move.")],
    to_datetime: Annotated[str, typer.Option("--to-datetime", help="Time (or earliest/latest) to move to.")],
    topics: Annotated[
        list[str] | None, typer.Option("--topic", help="Only these topics (default: all of the group's).")
    ] = None,
    execute: Annotated[
        bool, typer.Option("--execute", help="Really move the offsets (default: dry run).")
    ] = False,
    actor: ActorOption = None,
) -> None:
    """Move a stopped group's offsets to a point in time. Refuses while the group has active members."""

    async def body() -> None:
        async with opened(actor) as ops:
            args = {"group": group, "to_datetime": to_datetime, "topics": topics, "execute": execute}
            async with ops.auditor.action("offsets reset", args, changes=execute) as action:
                target = ops.position(to_datetime)
                result = await offsets_ops.reset(ops.log, group, target, list(topics or []), execute=execute)
                table = Table(title=f"reset {group} to {target.describe()}{'' if execute else ' (dry run)'}")
                for col in ("topic", "partition", "current", "new", "change"):
                    table.add_column(col, justify="right" if col != "topic" else "left")
                for m in result.moves:
                    table.add_row(
                        m.topic,
                        str(m.partition),
                        "-" if m.current is None else str(m.current),
                        str(m.target),
                        "-" if m.delta is None else f"{m.delta:+,}",
                    )
                ops.out.print(table)
                action.detail["moves"] = [
                    {"topic": m.topic, "partition": m.partition, "from": m.current, "to": m.target}
                    for m in result.moves
                ]
                if result.refused:
                    raise Refused(result.refused)
                if not execute:
                    action.outcome = "dry-run"
                    ops.out.print("dry run: nothing changed; add --execute to move the offsets")
                else:
                    ops.out.print(f"moved {len(result.moves)} partition offset(s) of {group}")

    run(body)


# --- samad audit ---------------------------------------------------------------------------------

audit_app = typer.Typer(help="The audit trail of operator actions.", invoke_without_command=True)


@audit_app.callback()
def audit_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 30,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor's actions.")] = None,
    command: Annotated[
        str | None, typer.Option("--command", help="Only this command, e.g. 'offsets reset'.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """List operator actions: who, when, arguments, outcome."""
    if ctx.invoked_subcommand is not None:
        return

    async def body() -> list[dict[str, Any]]:
        settings = OpsSettings()
        client = make_client(settings.mongo_url, "ops")
        try:
            query: dict[str, Any] = {}
            if actor:
                query["actor"] = actor
            if command:
                query["command"] = command
            return await MongoOpsStore(client[settings.db_name]).audit_list(query, limit)
        finally:
            await client.close()

    entries = run(body)
    out, _ = consoles()
    if as_json:
        stream = utf8_stdout()
        for entry in entries:
            stream.write(json.dumps(entry, default=str, ensure_ascii=False) + "\n")
        stream.flush()
        return
    zone = ZoneInfo(OpsSettings().ops_timezone)
    table = Table(title="operator actions (newest first)")
    for col in ("when", "actor", "command", "arguments", "outcome", "detail"):
        table.add_column(col, overflow="fold")
    for e in entries:
        started = e.get("started_at")
        when = (
            started.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if isinstance(started, datetime) else "?"
        )
        arguments = " ".join(
            f"{k}={v}" for k, v in (e.get("arguments") or {}).items() if v not in (None, False, [])
        )
        detail = e.get("detail") or {}
        summary = (
            detail.get("refused")
            or detail.get("error")
            or json.dumps(detail, default=str, ensure_ascii=False)
        )
        outcome = str(e.get("outcome"))
        style = {"ok": "green", "dry-run": "cyan", "refused": "yellow"}.get(outcome, "red")
        table.add_row(
            when,
            str(e.get("actor")),
            str(e.get("command")),
            arguments,
            f"[{style}]{outcome}[/]",
            summary[:200],
        )
    out.print(table)


COMMANDS: dict[str, typer.Typer] = {
    "events": events_app,
    "replay": replay_app,
    "offsets": offsets_app,
    "audit": audit_app,
}
