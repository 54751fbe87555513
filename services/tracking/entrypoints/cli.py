"""`samad tracking|tokens|report`: tracking's operator commands.

Reports read tracking's MongoDB database directly (SAMAD_MONGO_URL, SAMAD_DB_NAME), through the same
use cases the HTTP API uses, so they work while the service is down and need no token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from contracts.catalogue import AgencyCode, agencies
from services.common.clock import SystemClock
from services.tracking.adapters.data import load_policy
from services.tracking.bootstrap import TrackingContainer, bootstrap
from services.tracking.domain.calendar import jalali, tehran_day
from services.tracking.domain.periods import BadDate, PeriodTooLong, ReversedPeriod
from services.tracking.domain.sla import Duration
from services.tracking.settings import TrackingSettings

console = Console()
T = TypeVar("T")
CLI = "tracking-cli"

tracking_app = typer.Typer(
    help="Tracking: timers, indexes, the working calendar and SLAs.", no_args_is_help=True
)
report_app = typer.Typer(
    help="The governorate's reports, read from tracking's database.", no_args_is_help=True
)


def _run(work: Callable[[TrackingContainer], Awaitable[T]]) -> T:
    """Run ``work`` on tracking built from the settings, closing its database connection after."""

    async def main() -> T:
        container = bootstrap(TrackingSettings(), name=CLI)
        try:
            return await work(container)
        except BadDate as exc:
            raise typer.BadParameter(f"not a date (use 1405-09-01 or 2026-11-22): {exc.reason}") from None
        except ReversedPeriod:
            raise typer.BadParameter("--from is after --to") from None
        except PeriodTooLong as exc:
            raise typer.BadParameter(
                f"a report covers at most {exc.max_days} days (SAMAD_REPORT_MAX_DAYS): choose a later --from"
            ) from None
        finally:
            await container.shutdown()

    return asyncio.run(main())


def _heading(first: date, last: date) -> str:
    return f"{jalali(first)} … {jalali(last)}  ({first.isoformat()} … {last.isoformat()})"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


FROM = typer.Option(None, "--from", help="First day: 1405-09-01 (Solar Hijri) or 2026-11-22")
TO = typer.Option(None, "--to", help="Last day, included (default today)")
AS_JSON = typer.Option(False, "--json", help="Print JSON instead of a table")


@report_app.command("funnel")
def report_funnel(
    date_from: str | None = FROM,
    date_to: str | None = TO,
    session: str | None = typer.Option(None, "--session", help="A duty session id instead of a period"),
    province: str | None = typer.Option(None, "--province"),
    as_json: bool = AS_JSON,
) -> None:
    """Calls received → answered → cases registered → referred to an agency."""
    period, funnel = _run(
        lambda c: c.reports.funnel(date_from, date_to, duty_session_id=session, province=province)
    )
    title = f"Funnel {_heading(period.first, period.last)}" if period else f"Funnel of duty session {session}"
    doc = funnel.as_dict()
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    table = Table(title=title)
    for column in ("stage", "مرحله", "count", "share"):
        table.add_column(column, justify="right" if column in ("count", "share") else "left")
    table.add_row("calls received", "تماس دریافتی", str(funnel.calls_received), "")
    table.add_row(
        "calls answered", "تماس پاسخ‌داده", str(funnel.calls_answered), f"{_fmt(doc['answered_pct'])}%"
    )
    table.add_row(
        "cases registered",
        "پرونده ثبت‌شده",
        str(funnel.cases_registered),
        f"{_fmt(doc['registered_pct_of_answered'])}%",
    )
    table.add_row(
        "referred to an agency",
        "ارجاع به دستگاه",
        str(funnel.cases_referred),
        f"{_fmt(doc['referred_pct_of_registered'])}%",
    )
    console.print(table)


@report_app.command("agencies")
def report_agencies(
    date_from: str | None = FROM,
    date_to: str | None = TO,
    agency: AgencyCode | None = typer.Option(None, "--agency", help="One agency only"),
    as_json: bool = AS_JSON,
) -> None:
    """Per agency: received, acknowledged within SLA, resolved, median and p90 hours to resolve, overdue."""
    period, rows = _run(lambda c: c.reports.agencies(date_from, date_to, agency.value if agency else None))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Agencies {_heading(period.first, period.last)}")
    headers = ("agency", "received", "ack'd", "in SLA %", "resolved", "median h", "p90 h", "overdue now")
    for h in headers:
        table.add_column(h, justify="left" if h == "agency" else "right")
    for r in rows:
        table.add_row(
            f"{r['agency_fa']} ({r['agency']})",
            *(
                _fmt(r[k])
                for k in (
                    "received",
                    "acknowledged",
                    "acknowledged_within_sla_pct",
                    "resolved",
                    "median_hours_to_resolve",
                    "p90_hours_to_resolve",
                    "currently_overdue",
                )
            ),
        )
    console.print(table)


@report_app.command("counties")
def report_counties(date_from: str | None = FROM, date_to: str | None = TO, as_json: bool = AS_JSON) -> None:
    """Per county, over the cases registered in the period."""
    period, rows = _run(lambda c: c.reports.counties(date_from, date_to))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Counties {_heading(period.first, period.last)}")
    for h in rows[0] if rows else ("county",):
        table.add_column(h, justify="left" if h == "county" else "right")
    for r in rows:
        table.add_row(*(_fmt(v) for v in r.values()))
    console.print(table)


@report_app.command("weeks")
def report_weeks(date_from: str | None = FROM, date_to: str | None = TO, as_json: bool = AS_JSON) -> None:
    """Per Iranian week (Saturday to Friday)."""
    period, rows = _run(lambda c: c.reports.weeks(date_from, date_to))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Weeks {_heading(period.first, period.last)}")
    for h in ("week (Jalali)", "week (Gregorian)", "calls", "answered", "registered", "referred", "resolved"):
        table.add_column(h, justify="right")
    for r in rows:
        table.add_row(
            r["week_start_jalali"],
            r["week_start"],
            *(
                str(r[k])
                for k in (
                    "calls_received",
                    "calls_answered",
                    "cases_registered",
                    "cases_referred",
                    "cases_resolved",
                )
            ),
        )
    console.print(table)


@tracking_app.command("sweep")
def tracking_sweep() -> None:
    """Run the timers once: publish passed SLA deadlines and close quiet cases (safe beside the service)."""
    settings = TrackingSettings()

    async def main() -> Any:
        container = bootstrap(settings, name=CLI)
        await container.broker.start()
        try:
            return await container.sweep_timers(settings.sweep_batch_size)
        finally:
            await container.broker.stop()
            await container.shutdown()

    result = asyncio.run(main())
    console.print(
        f"acknowledge breaches: {result.acknowledge_breaches}, resolve breaches: {result.resolve_breaches}, "
        f"closed: {result.closed}, already claimed elsewhere: {result.skipped_claimed}"
    )


@tracking_app.command("rollups")
def tracking_rollups(
    everything: bool = typer.Option(
        False,
        "--all",
        help="First rebuild every day from every case and call kept (after a restore or a rebuild)",
    ),
) -> None:
    """Recompute the reports' daily rollups of the days that changed (the service does this in the
    background); with --all, of every day."""

    async def work(c: TrackingContainer) -> tuple[int, int]:
        if c.rollups is None:
            raise typer.BadParameter("the reports count the cases (SAMAD_REPORT_ROLLUPS=false)")
        marked = await c.rollups.rebuild() if everything else 0
        done = 0
        for _round in range(3):  # a running service keeps marking today: a few rounds, not forever
            if not await c.rollups.store.pending():
                break
            done += await c.rollups.recompute_dirty()
        return marked, done

    marked, done = _run(work)
    console.print(f"days marked: {marked}, rollups recomputed: {done}")


@tracking_app.command("indexes")
def tracking_indexes() -> None:
    """Create tracking's MongoDB indexes (the service does this at start-up too)."""
    _run(lambda c: c.ensure_indexes())
    console.print("indexes in place")


@tracking_app.command("calendar")
def tracking_calendar(
    upcoming: int = typer.Option(10, "--upcoming", help="How many coming holidays to list"),
) -> None:
    """The working calendar and the SLA table in force."""
    settings = TrackingSettings()
    policy = load_policy(settings.tracking_data_dir)
    today = tehran_day(SystemClock().now())
    years = ", ".join(str(y) for y in sorted(policy.calendar.covered_years)) or "none"
    console.print(f"Holidays listed for Solar Hijri years: {years}; Friday is the weekly day off.")
    table = Table(title="Coming official holidays")
    for column in ("Jalali", "Gregorian", "holiday", "occasion"):
        table.add_column(column)
    for h in policy.calendar.upcoming(today, upcoming):
        table.add_row(jalali(h.day) or "", h.day.isoformat(), h.fa, h.en)
    console.print(table)
    sla = Table(title="Service levels (acknowledge / resolve)")
    for column in ("agency", "acknowledge", "resolve", "categories"):
        sla.add_column(column)

    def show(d: Duration) -> str:
        return d.describe()

    for code in AgencyCode:
        s = policy.sla_for(code.value, None)
        cats = [
            f"{c}: {show(policy.sla_for(code.value, c).acknowledge)} / {show(policy.sla_for(code.value, c).resolve)}"
            for (a, c) in policy.categories
            if a == code.value
        ]
        sla.add_row(
            f"{agencies()[code].fa} ({code.value})", show(s.acknowledge), show(s.resolve), "; ".join(cats)
        )
    console.print(sla)
    console.print(
        f"A resolved or rejected case closes after {policy.close_after.describe()} without a reopen."
    )


COMMANDS = {"tracking": tracking_app, "report": report_app}
