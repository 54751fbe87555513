"""`samad`: the operators' command line. Each service contributes its commands from its own cli.py."""

from __future__ import annotations

import importlib

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
