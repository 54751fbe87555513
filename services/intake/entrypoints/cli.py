"""`samad intake …`: operator commands of the intake service (bulk import of a call log, key purge)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.common.publishing import BusUnavailable
from services.intake.adapters.call_log import CsvCallLog, FileProblem
from services.intake.adapters.store import StoreError
from services.intake.bootstrap import bootstrap
from services.intake.domain.call_log import Row
from services.intake.service.import_calls import Summary, check_rows, read_rows

app = typer.Typer(help="Intake: import call logs from the telephony system.", no_args_is_help=True)
console = Console()

EXIT_REJECTED_ROWS = 1
EXIT_BAD_FILE = 2
EXIT_UNAVAILABLE = 3


@app.command("import-calls")
def import_calls(
    file: Annotated[Path, typer.Argument(help="CSV call log (see docs/intake.md for the columns)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row; publish nothing")] = False,
    duty_session: Annotated[
        str | None, typer.Option(help="Put every call and case in this duty session (overrides the column)")
    ] = None,
    key_prefix: Annotated[
        str,
        typer.Option(
            help="Prefix for the rows' idempotency keys: the same file under another prefix is a new import "
            "(rehearsals)"
        ),
    ] = "",
    show: Annotated[int, typer.Option(help="How many rejected fields to list")] = 50,
) -> None:
    """Publish the calls (and the cases registered from them) of a call log. Re-running publishes nothing new."""
    log = CsvCallLog(file)
    try:
        rows = read_rows(log, key_prefix=key_prefix, duty_session=duty_session)
        total = log.count()
        summary = asyncio.run(_run(rows, dry=dry_run, key_prefix=key_prefix, total=total))
    except FileProblem as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_BAD_FILE) from exc
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]cannot read {file}: {exc}[/red]")
        raise typer.Exit(EXIT_BAD_FILE) from exc
    except BusUnavailable as exc:
        console.print(f"[red]Kafka is unreachable ({exc}); rows published so far are kept — run again.[/red]")
        raise typer.Exit(EXIT_UNAVAILABLE) from exc
    except StoreError as exc:
        console.print(
            f"[red]MongoDB is unreachable ({exc}); rows published so far are kept — run again.[/red]"
        )
        raise typer.Exit(EXIT_UNAVAILABLE) from exc
    _report(summary, dry=dry_run, show=show)
    if summary.rejected:
        raise typer.Exit(EXIT_REJECTED_ROWS)


async def _run(rows: Iterator[Row], *, dry: bool, key_prefix: str, total: int) -> Summary:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("checking" if dry else "importing", total=total)

        def advance(_row: object) -> None:
            progress.advance(task)

        if dry:
            return check_rows(rows, on_row=advance)
        intake = bootstrap(client="intake-import")
        try:
            await intake.connect()
            return await intake.import_calls(rows, key_prefix=key_prefix, on_row=advance)
        finally:
            await intake.shutdown()


def _report(summary: Summary, *, dry: bool, show: int) -> None:
    table = Table(title="dry run: nothing published" if dry else "import summary", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("rows read", str(summary.rows))
    for outcome in ("answered", "missed", "abandoned"):
        table.add_row(f"  calls {outcome}", str(summary.outcomes.get(outcome, 0)))
    verb = "would publish" if dry else "published"
    table.add_row(f"calls {verb}", str(summary.calls_published))
    table.add_row(f"cases {'to register' if dry else 'registered'}", str(summary.cases_registered))
    if not dry:
        table.add_row("calls already imported (nothing new published)", str(summary.calls_already_imported))
        table.add_row("cases already imported (nothing new published)", str(summary.cases_already_imported))
        table.add_row("repeat calls linked to an open case", str(summary.repeat_calls))
    table.add_row("rows rejected", str(summary.rejected_rows), style="red" if summary.rejected else None)
    console.print(table)
    if summary.rejected:
        rejected = Table(title="rejected rows")
        for column in ("line", "call_ref", "part", "field", "reason", "reason (English)"):
            rejected.add_column(column)
        for p in summary.rejected[:show]:
            rejected.add_row(str(p.row), p.call_ref, p.part, p.field, p.message, p.message_en)
        console.print(rejected)
        if len(summary.rejected) > show:
            console.print(f"… and {len(summary.rejected) - show} more (use --show)")


@app.command("purge-keys")
def purge_keys(
    older_than_days: Annotated[
        float, typer.Option(help="Forget finished Idempotency-Key records this old")
    ] = 30.0,
) -> None:
    """Forget old Idempotency-Key records (the local MongoDB-compatible server has no TTL indexes).

    A retry that arrives after its record is gone still gets the same case: ids come from the key.
    """

    async def purge() -> int:
        intake = bootstrap(client="intake-purge")
        try:
            return await intake.idempotency.forget(timedelta(days=older_than_days))
        finally:
            await intake.shutdown()

    try:
        removed = asyncio.run(purge())
    except StoreError as exc:
        console.print(f"[red]MongoDB is unreachable ({exc})[/red]")
        raise typer.Exit(EXIT_UNAVAILABLE) from exc
    console.print(f"removed {removed} key record(s) older than {older_than_days:g} days")


COMMANDS = {"intake": app}
