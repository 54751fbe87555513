"""`samad notify ...`: check the SMS templates, read the ledger, opt numbers out and in."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.table import Table

from contracts.catalogue import agencies
from services.common.logs import mask_phone
from services.notify.adapters.template_files import load_templates
from services.notify.bootstrap import NotifyContainer, bootstrap
from services.notify.domain.ledger import SmsState
from services.notify.domain.phones import mobile_e164
from services.notify.domain.records import KeptReceipt, SmsRecord
from services.notify.domain.rendering import MessageValues, render

app = typer.Typer(help="Citizen SMS: templates, the ledger, opt-outs.", no_args_is_help=True)
console = Console()
T = TypeVar("T")

SAMPLE_ANSWER = (
    "پس از بازدید کارشناسان از محل، لوله اصلی آب در خیابان امام رضا تعویض شد و فشار آب محله به حالت "
    "عادی بازگشت. در صورت تکرار مشکل با شماره ۱۵۲۲ تماس بگیرید."
)
SAMPLE_REASON = "موضوع درخواست در حیطه وظایف این دستگاه نیست و باید به شهرداری منطقه ۳ مراجعه شود."
SAMPLE_QUESTION = "لطفاً نشانی دقیق، پلاک منزل و ساعتی را که آب قطع می‌شود بفرمایید تا کارشناس اعزام شود."


def _run(work: Callable[[NotifyContainer], Awaitable[T]]) -> T:
    async def main() -> T:
        container = bootstrap()
        try:
            return await work(container)
        finally:
            await container.shutdown()

    return asyncio.run(main())


@app.command()
def templates(
    file: Path | None = typer.Option(None, help="A template file to check instead of the shipped one"),
) -> None:
    """Render every template with long realistic values and show how many SMS parts it takes."""
    book = load_templates(file)
    longest = max((a.fa for a in agencies().values()), key=len)
    values = MessageValues(
        "9876543210", longest, datetime.now(UTC), SAMPLE_ANSWER, SAMPLE_REASON, SAMPLE_QUESTION, "acknowledge"
    )
    table = Table(title="SMS templates with long sample values")
    for column in ("template", "urgent", "encoding", "characters", "parts", "shortened", "text"):
        table.add_column(column)
    too_long = False
    for key, template in book.items():
        sms = render(template, values)
        too_long |= sms.parts > template.max_parts
        table.add_row(
            key.value,
            "yes" if template.urgent else "no",
            sms.segmentation.encoding.value,
            str(sms.segmentation.units),
            f"{sms.parts}/{template.max_parts}",
            "yes" if sms.shortened else "no",
            sms.text,
        )
    console.print(table)
    if too_long:
        raise typer.Exit(1)


@app.command()
def ledger(
    case: str | None = typer.Option(None, "--case", help="Only this case id"),
    state: SmsState | None = typer.Option(None, help="Only records in this state (e.g. unknown)"),
    limit: int = typer.Option(50, min=1, max=1000),
) -> None:
    """List SMS ledger records: what was sent to whom, and how it ended."""

    async def work(c: NotifyContainer) -> list[SmsRecord]:
        return await c.lookup.records(case_id=case, state=state, limit=limit)

    table = Table(title="SMS ledger")
    for column in ("sms id", "case", "template", "to", "state", "parts", "claims", "updated"):
        table.add_column(column)
    for r in _run(work):
        table.add_row(
            r.sms_id[:8],
            r.case_id,
            r.template,
            mask_phone(r.recipient),
            r.state.value,
            " ".join(f"{p.number}:{r.part_state(p).value}" for p in r.parts) or str(r.segments),
            str(r.claims),
            r.updated_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@app.command()
def receipts(limit: int = typer.Option(100, min=1, max=1000)) -> None:
    """Delivery receipts naming a message id no SMS part has (yet); "reported" once past the wait."""

    async def work(c: NotifyContainer) -> list[KeptReceipt]:
        return await c.receipts.unmatched(limit)

    table = Table(title="Unmatched delivery receipts")
    for column in ("provider", "message id", "outcome", "error", "received", "reported"):
        table.add_column(column)
    for k in _run(work):
        table.add_row(
            k.provider,
            k.message_id,
            k.outcome.value,
            k.error,
            k.received_at.isoformat(timespec="seconds"),
            k.reported_at.isoformat(timespec="seconds") if k.reported_at else "",
        )
    console.print(table)


@app.command()
def states() -> None:
    """How many ledger records are in each state."""

    async def work(c: NotifyContainer) -> dict[str, int]:
        return await c.lookup.count_by_state()

    for name, count in sorted(_run(work).items()):
        console.print(f"{name:20} {count}")


def _phone(raw: str) -> str:
    e164 = mobile_e164(raw)
    if e164 is None:
        console.print(f"[red]not an Iranian mobile number: {raw}[/red]")
        raise typer.Exit(2)
    return e164


@app.command()
def optout(phone: str, reason: str = typer.Option("", help="Why"), by: str = typer.Option("ops-cli")) -> None:
    """Stop SMS to a number."""
    e164 = _phone(phone)

    async def work(c: NotifyContainer) -> None:
        await c.opt_out.set_by_staff(e164, True, by=by, reason=reason)

    _run(work)
    console.print(f"{mask_phone(e164)} receives no more SMS")


@app.command()
def optin(phone: str, by: str = typer.Option("ops-cli")) -> None:
    """Send SMS to a number again."""
    e164 = _phone(phone)

    async def work(c: NotifyContainer) -> None:
        await c.opt_out.set_by_staff(e164, False, by=by, reason="opted back in")

    _run(work)
    console.print(f"{mask_phone(e164)} receives SMS again")


COMMANDS = {"notify": app}
