"""`samad events|replay|offsets|audit`: the operators' commands for the event log.

Each command reads its options, runs one use case of the container built by ``bootstrap()`` and prints
what it returns. Exit codes: 0 done, 1 failed, 2 bad arguments, 3 refused (a live consumer group, a
rebuild already running, the audit trail unreachable for a changing action), 130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
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
from rich.tree import Tree

from contracts.topics import DEADLETTER
from services.common.tracing import setup_tracing
from services.ops.adapters.files import utf8_stdout
from services.ops.adapters.log import TopicNotFound
from services.ops.adapters.traces import TracesUnavailable
from services.ops.bootstrap import OpsContainer, bootstrap, opened
from services.ops.domain.deadletter import action_label, shown
from services.ops.domain.offsets import OffsetMove
from services.ops.domain.rebuild import Progress as RebuildProgress
from services.ops.domain.rebuild import RebuildResult
from services.ops.domain.records import DumpFormatError
from services.ops.domain.render import EventView
from services.ops.domain.timespec import SpecError
from services.ops.domain.traces import CaseTrace
from services.ops.service.errors import AuditUnavailable, Refused
from services.ops.service.offsets import GroupReport
from services.ops.service.rebuild import Watcher
from services.ops.service.replay import ReplayPlan

EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_INTERRUPTED = 1, 2, 3, 130

T = TypeVar("T")


ActorOption = Annotated[
    str | None,
    typer.Option(
        "--actor", envvar="SAMAD_ACTOR", help="Who is acting (recorded in the audit); default: OS user."
    ),
]


def consoles() -> tuple[Console, Console]:
    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False)


@asynccontextmanager
async def ops(actor: str | None = None, *, log: bool = True) -> AsyncIterator[OpsContainer]:
    """The container for one command; ``log=False`` for the commands that only read MongoDB."""
    container = bootstrap(actor=actor)
    # A replay run is a trace of its own (when SAMAD_OTLP_ENDPOINT is set), linked to the originals.
    setup_tracing("ops", container.settings)
    async with opened(container, log=log) as container:
        yield container


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


def dim(console: Console) -> Callable[[str], None]:
    return lambda message: console.print(message, style="dim", markup=False)


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
    out, err = consoles()

    async def body() -> None:
        async with ops(actor) as c:
            await c.tail_events.run(
                topic,
                show=lambda v: print_event(out, v),
                say=dim(err),
                case=case,
                event_type=event_type,
                start=start,
                limit=limit,
                follow=follow,
                unmask=unmask,
                bidi=bidi,
            )

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
    _, err = consoles()

    async def body() -> None:
        async with ops(actor) as c:
            stats = await c.dump_events.run(topic, start, stop, None if output is None else str(output))
        err.print(f"dumped {stats.records} record(s) of {topic} from {len(stats.partitions)} partition(s)")

    run(body)


@events_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="A file written by samad events dump ('-' for stdin).")],
    topic: Annotated[str | None, typer.Option("--topic", help="Publish to this topic instead.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be published.")] = False,
    actor: ActorOption = None,
) -> None:
    """Publish a dump's records that the topic does not already have (by event id): loading twice is safe."""
    out, _ = consoles()

    async def body() -> None:
        async with ops(actor) as c:
            stats = await c.load_events.run(str(file), topic=topic, dry_run=dry_run)
        verb = "would publish" if dry_run else "published"
        for name, count in stats.published.items():
            out.print(f"{verb} {count} record(s) to {name}")
        out.print(
            f"skipped {stats.already_on_topic} already on the topic, "
            f"{stats.repeated_in_file} repeated in the file ({stats.records_in_file} in the file)"
        )

    run(body)


# --- samad replay --------------------------------------------------------------------------------

replay_app = typer.Typer(
    help="Plan replays, rebuild projections, re-drive dead letters.", no_args_is_help=True
)


def plan_table(planned: ReplayPlan) -> Table:
    p = planned.plan
    table = Table(
        title=f"replay plan: {p.topic} from {planned.start.describe()} to {planned.stop.describe()}"
    )
    for col in ("partition", "log start", "from offset", "to offset (excl.)", "messages", "log end"):
        table.add_column(col, justify="right")
    for r in p.ranges:
        table.add_row(
            str(r.partition), str(r.log_start), str(r.start), str(r.stop), f"{r.count:,}", str(r.log_end)
        )
    table.add_row("total", "", "", "", f"{p.total:,}", "", style="bold")
    return table


@replay_app.command("plan")
def plan(
    topic: Annotated[str, typer.Option("--topic", help="Topic to replay.")],
    start: Annotated[str, typer.Option("--from", help="Time, offset, p:offset,... or earliest.")],
    stop: Annotated[str, typer.Option("--to", help="Time, offset, p:offset,... or latest.")] = "latest",
    actor: ActorOption = None,
) -> None:
    """Dry run: per partition, the offsets a replay would read (times resolved) and how many messages."""
    out, _ = consoles()

    async def body() -> None:
        async with ops(actor) as c:
            out.print(plan_table(await c.replay.plan(topic, start, stop)))

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
    out, _ = consoles()

    async def body() -> None:
        async with ops(actor) as c:
            done = await c.replay.publish(
                topic, start, stop, into=into, event_type=event_type, case=case, execute=execute
            )
        if done.stats is None:
            out.print(
                f"would read {done.plan.total:,} message(s) of {topic} and publish them to {done.target} as run {done.run_id}; add --execute"
            )
        else:
            out.print(
                f"replay run {done.run_id}: read {done.stats.read:,}, published {done.stats.published:,} to {done.target}"
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
    out, _ = consoles()

    async def body() -> None:
        async with ops(actor) as c:
            report = await c.redrive.run(
                event_type=event_type,
                since=since,
                original_topic=original_topic,
                service=service,
                dry_run=dry_run,
                force=force,
            )
        table = Table(title=f"{DEADLETTER}{' (dry run)' if dry_run else ''}")
        for col in ("dead letter", "failed at", "service", "reason", "type", "key", "action"):
            table.add_column(col)
        for o in filter(shown, report.outcomes):
            assert o.letter is not None
            table.add_row(
                f"{o.record.partition}@{o.record.offset}",
                o.letter.failed_at[:19],
                o.letter.service,
                o.letter.reason,
                (o.letter.event_type or "?").removeprefix("ir.samad."),
                (o.record.key or b"").decode(errors="replace"),
                action_label(o, dry_run=dry_run),
            )
        out.print(table)
        out.print(", ".join(f"{v} {k}" for k, v in sorted(report.counts.items())) or "no dead letters")

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

    def start(self) -> None:
        self.started = time.perf_counter()
        self.progress.start()

    def __call__(self, p: RebuildProgress) -> None:
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
    out, err = consoles()

    async def body() -> None:
        bar = _Bar(err)

        def started(line: str) -> None:
            err.print(line)
            bar.start()

        watcher = Watcher(started=started, progress=bar, say=dim(err))
        async with ops(actor) as c:
            try:
                try:
                    result = await c.rebuild.run(
                        "tracking",
                        start=start,
                        resume=resume,
                        resume_last=resume_last,
                        swap=swap,
                        sample=sample,
                        batch_size=batch_size,
                        topics=topics,
                        watcher=watcher,
                    )
                finally:
                    bar.progress.stop()
            except asyncio.CancelledError:
                err.print("[yellow]interrupted: resume with samad replay rebuild tracking --resume-last[/]")
                raise
        print_rebuild(out, result)

    run(body)


def print_rebuild(out: Console, result: RebuildResult) -> None:
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
    out, _ = consoles()

    async def body() -> list[dict[str, Any]]:
        async with ops(log=False) as c:
            return await c.rebuild.recent(limit)

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


def group_table(report: GroupReport) -> Table:
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


def moves_table(title: str, moves: list[OffsetMove]) -> Table:
    table = Table(title=title)
    for col in ("topic", "partition", "current", "new", "change"):
        table.add_column(col, justify="right" if col != "topic" else "left")
    for m in moves:
        table.add_row(
            m.topic,
            str(m.partition),
            "-" if m.current is None else str(m.current),
            str(m.target),
            "-" if m.delta is None else f"{m.delta:+,}",
        )
    return table


@offsets_app.command("show")
def offsets_show(
    group: Annotated[str, typer.Option("--group", help="Consumer group, e.g. samad.tracking.")],
    topics: Annotated[list[str] | None, typer.Option("--topic", help="Only these topics.")] = None,
    actor: ActorOption = None,
) -> None:
    """Lag per partition of a consumer group, and its members."""
    out, _ = consoles()

    async def body() -> None:
        async with ops(actor) as c:
            report = await c.offsets.show(group, topics)
        out.print(group_table(report))
        for member in report.state.members:
            out.print(f"  member {member}")
        out.print(f"total lag {report.total:,}")

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
    out, _ = consoles()

    async def body() -> None:
        async with ops(actor) as c:
            result = await c.offsets.reset(group, to_datetime, topics, execute=execute)
        where = result.target.describe() if result.target else to_datetime
        out.print(moves_table(f"reset {group} to {where}{'' if execute else ' (dry run)'}", result.moves))
        if result.refused:
            raise Refused(result.refused)
        if not execute:
            out.print("dry run: nothing changed; add --execute to move the offsets")
        else:
            out.print(f"moved {len(result.moves)} partition offset(s) of {group}")

    run(body)


# --- samad audit ---------------------------------------------------------------------------------

audit_app = typer.Typer(help="The audit trail of operator actions.", invoke_without_command=True)


def audit_table(entries: list[dict[str, Any]], container: OpsContainer) -> Table:
    table = Table(title="operator actions (newest first)")
    for col in ("when", "actor", "command", "arguments", "outcome", "detail"):
        table.add_column(col, overflow="fold")
    for e in entries:
        started = e.get("started_at")
        when = (
            started.astimezone(container.zone).strftime("%Y-%m-%d %H:%M:%S")
            if isinstance(started, datetime)
            else "?"
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
    return table


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
    out, _ = consoles()

    async def body() -> None:
        async with ops(log=False) as c:
            entries = await c.audit.list(actor=actor, command=command, limit=limit)
        if not as_json:
            out.print(audit_table(entries, c))
            return
        stream = utf8_stdout()
        for entry in entries:
            stream.write(json.dumps(entry, default=str, ensure_ascii=False) + "\n")
        stream.flush()

    run(body)


trace_app = typer.Typer(
    help="A case's traces in the trace receiver (Jaeger): its way through the services to the SMS.",
    invoke_without_command=True,
)


def trace_tree(trace: CaseTrace) -> Tree:
    started = datetime.fromtimestamp(trace.start_us / 1e6).strftime("%Y-%m-%d %H:%M:%S")
    root = Tree(
        f"[bold]trace {trace.trace_id}[/]  {started}  {trace.duration_us / 1000:.0f} ms  "
        f"({', '.join(sorted(trace.services))})"
    )
    nodes: list[Tree] = [root]
    for depth, span in trace.walk():
        del nodes[depth + 1 :]
        offset = (span.start_us - trace.start_us) / 1000
        mark = " [red]error[/]" if span.error else ""
        node = nodes[-1].add(
            f"[cyan]{span.service:<8}[/] {span.name}  [dim]+{offset:.0f} ms, {span.duration_us / 1000:.1f} ms[/]{mark}"
        )
        nodes.append(node)
    return root


@trace_app.callback()
def trace_case(
    case: Annotated[
        str, typer.Argument(help="The case's tracking code (as the citizen has it) or its case id.")
    ],
    hours: Annotated[int, typer.Option("--hours", help="How far back to look.")] = 24,
) -> None:
    """Print every trace of a case, span by span: intake, routing, tracking, notify and the SMS gateway."""
    out, err = consoles()

    async def body() -> list[CaseTrace]:
        async with ops(log=False) as c:
            c.trace_case.lookback_hours = hours
            return await c.trace_case(case)

    try:
        traces = run(body)
    except TracesUnavailable as exc:
        err.print(
            f"[red]the trace receiver did not answer[/]: {exc} (SAMAD_JAEGER_URL; SAMAD_TRACING=1 make up)"
        )
        raise typer.Exit(EXIT_FAILED) from None
    if not traces:
        err.print(f"no trace names {case} in the last {hours} h (is tracing on? SAMAD_OTLP_ENDPOINT)")
        raise typer.Exit(EXIT_FAILED)
    for trace in traces:
        out.print(trace_tree(trace))


COMMANDS: dict[str, typer.Typer] = {
    "events": events_app,
    "replay": replay_app,
    "offsets": offsets_app,
    "audit": audit_app,
    "trace": trace_app,
}


def _privacy_commands() -> None:
    # Its own module, which imports this one for the shared helpers.
    from services.ops.entrypoints.privacy import privacy_app

    COMMANDS["privacy"] = privacy_app


_privacy_commands()
