"""`samad`: the operators' command line. Each service contributes its commands from its own cli.py."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

app = typer.Typer(
    name="samad",
    help="SAMAD-111 operator tools: intake imports, routing, reports, tokens, events and replay.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Each service's CLI entry point exposes COMMANDS: dict[str, typer.Typer]; an absent one adds nothing.
_SERVICES = ("intake", "routing", "tracking", "notify", "ops")
_CLI_MODULES = ("services.{}.entrypoints.cli", "services.{}.cli")


def _register() -> None:
    for service in _SERVICES:
        for pattern in _CLI_MODULES:
            name = pattern.format(service)
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name and name.startswith(exc.name):
                    continue
                raise
            for command, sub in getattr(module, "COMMANDS", {}).items():
                app.add_typer(sub, name=command)
            break


_register()


def main() -> None:
    app()


tokens = typer.Typer(
    help="Access tokens from the local identity provider (the Keycloak that `make up` starts).",
    no_args_is_help=True,
)
ROLES = ("operator", "agency_staff", "supervisor", "ops")


@tokens.command("issue")
def issue_token(
    user: Annotated[str | None, typer.Option(help="A user of the realm (make up prints them).")] = None,
    role: Annotated[
        str | None,
        typer.Option(
            help=f"Or a seed user with this role (not a head of agency if another has it): {', '.join(ROLES)}."
        ),
    ] = None,
    agency: Annotated[str | None, typer.Option(help="With --role agency_staff: the agency.")] = None,
    password: Annotated[
        str | None,
        typer.Option(envvar="SAMAD_TOKEN_PASSWORD", help="Default: the seed user's, from the stack."),
    ] = None,
    profile: Annotated[str, typer.Option(help="The local stack profile (dev, test, ...).")] = "dev",
) -> None:
    """Print an access token for a user, signed by the local provider (password grant of samad-cli)."""
    state_file = Path(__file__).resolve().parents[1] / ".local" / profile / "keycloak.json"
    if not state_file.exists():
        raise typer.BadParameter(f"no local identity provider for profile {profile!r}: run `make up` first")
    state = json.loads(state_file.read_text())
    users: dict[str, dict[str, Any]] = state["users"]
    if user is None:
        if role not in ROLES:
            raise typer.BadParameter(f"give --user, or --role one of {', '.join(ROLES)}")
        matches = [
            n for n, u in users.items() if role in u["roles"] and (agency is None or u["agency"] == agency)
        ]
        if not matches:
            raise typer.BadParameter(
                f"no seed user has role {role}" + (f" and agency {agency}" if agency else "")
            )
        # The plainest match: a head of agency holds agency_staff too, but --role agency_staff means a
        # member of staff.
        user = min(matches, key=lambda n: (bool(users[n].get("agency_head")), n))
    secret = password or (users.get(user) or {}).get("password")
    if not secret:
        raise typer.BadParameter(f"no password known for {user!r}: pass --password")
    response = httpx.post(
        state["token_url"],
        data={"grant_type": "password", "client_id": "samad-cli", "username": user, "password": str(secret)},
        timeout=30,
    )
    if response.status_code != 200:
        raise typer.BadParameter(
            f"the provider refused {user!r}: {response.status_code} {response.text[:200]}"
        )
    typer.echo(response.json()["access_token"])


app.add_typer(tokens, name="tokens")
