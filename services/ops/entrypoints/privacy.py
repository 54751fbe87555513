"""`samad privacy`: erasure and export with a second person's approval, retention, KEK rotation.

    samad privacy request erase --phone 09151234567 --token "$OPS1"   # prints the request id
    samad privacy approve <id> --token "$OPS2"                        # another member of ops
    samad privacy request export --phone …  then  samad privacy approve <id> --out citizen.json
    samad privacy purge [--apply]                                      # the retention policy
    samad privacy rotate-kek                                           # rewrap under the newest KEK

Tokens are the identity provider's access tokens (``samad tokens issue --role ops`` locally); the
token's user must hold the ops role, and the approver must be someone else. Exit codes as the other
operator commands: 3 refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.common.problems import ProblemError
from services.ops.bootstrap import OpsContainer
from services.ops.domain.privacy import PrivacyAction, RetentionPolicy
from services.ops.entrypoints.cli import ActorOption, consoles, ops, run
from services.ops.service.errors import Refused

privacy_app = typer.Typer(
    help="Citizens' personal data: erasure and export (two people), retention, key rotation.",
    no_args_is_help=True,
)
request_app = typer.Typer(help="Ask for an erasure or an export; another member of ops approves it.")
privacy_app.add_typer(request_app, name="request")

TokenOption = Annotated[
    str,
    typer.Option("--token", envvar="SAMAD_TOKEN", help="Your access token (ops role).", show_default=False),
]
PhoneOption = Annotated[str, typer.Option("--phone", help="The citizen's mobile (09… or +989…).")]
DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "data" / "retention.yaml"


async def _who(c: OpsContainer, token: str) -> tuple[str, frozenset[str]]:
    try:
        return await c.verify_token(token)
    except ProblemError as exc:
        raise Refused(f"the token is not valid: {exc}") from exc


def _ask(action: PrivacyAction, phone: str, token: str, actor: str | None) -> None:
    out, _ = consoles()

    async def body() -> None:
        async with ops(actor, log=False) as c:
            subject, roles = await _who(c, token)
            request = await c.privacy.ask(action, phone, subject, roles)
        out.print(request.id, markup=False)

    run(body)


@request_app.command("erase")
def request_erase(phone: PhoneOption, token: TokenOption, actor: ActorOption = None) -> None:
    """Ask to erase a citizen's personal data (prints the request id for the approver)."""
    _ask(PrivacyAction.erase, phone, token, actor)


@request_app.command("export")
def request_export(phone: PhoneOption, token: TokenOption, actor: ActorOption = None) -> None:
    """Ask to export a citizen's personal data as JSON (prints the request id for the approver)."""
    _ask(PrivacyAction.export, phone, token, actor)


@privacy_app.command("approve")
def approve(
    request_id: Annotated[str, typer.Argument(help="The id `samad privacy request` printed.")],
    token: TokenOption,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write an export here, not to stdout.")
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Approve another person's request and carry it out (an export prints the citizen's JSON)."""
    out, err = consoles()

    async def body() -> None:
        async with ops(actor, log=False) as c:
            subject, roles = await _who(c, token)
            done = await c.privacy.approve(request_id, subject, roles)
        err.print(f"{done.request.action.value} {done.request.id}: {done.outcome}", markup=False)
        if done.export is not None:
            text = json.dumps(done.export, ensure_ascii=False, indent=2, default=str)
            if out_file is not None:
                out_file.write_text(text + "\n", encoding="utf-8")
                out_file.chmod(0o600)
            else:
                out.print(text, markup=False, highlight=False)

    run(body)


@privacy_app.command("purge")
def purge(
    apply: Annotated[bool, typer.Option("--apply", help="Erase; without it only count (dry run).")] = False,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", help="Retention policy YAML (default: SAMAD_PRIVACY_RETENTION_FILE)."),
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Apply the retention policy: erase the personal data of citizens whose cases all finished long
    enough ago. A dry run unless --apply."""
    out, err = consoles()

    async def body() -> None:
        async with ops(actor, log=False) as c:
            path = policy_file or Path(c.settings.privacy_retention_file or DEFAULT_POLICY)
            policy = RetentionPolicy.from_mapping(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
            bar = Progress(
                TextColumn("[bold]erasing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
            )
            task = bar.add_task("erase", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if apply:
                bar.start()
            try:
                plan, erased = await c.privacy.purge(policy, apply=apply, progress=progress)
            finally:
                bar.stop()
        years = policy.erase_after.days / 365.25
        out.print(
            f"retention: personal data erased {years:g} years after a citizen's last case finished\n"
            f"citizens with sealed data: {plan.sealed_citizens}\n"
            f"citizens due for erasure:  {len(plan.citizens)} ({plan.cases} cases)",
            markup=False,
        )
        if apply:
            out.print(f"erased: {erased}", markup=False)
        else:
            out.print("dry run: nothing erased (--apply erases)", markup=False)

    run(body)


@privacy_app.command("rotate-kek")
def rotate_kek(actor: ActorOption = None) -> None:
    """Rewrap every citizen's data key under the newest key-encryption key (the first in SAMAD_KEKS);
    afterwards the older KEKs can be retired."""
    out, _ = consoles()

    async def body() -> None:
        async with ops(actor, log=False) as c:
            done, current = await c.privacy.rotate_kek()
        out.print(f"rewrapped {done} data key(s); {current} already under the newest KEK", markup=False)

    run(body)
