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

# Modules that expose COMMANDS: dict[str, typer.Typer]; a module that is absent adds nothing.
_COMMAND_MODULES = (
    "services.intake.cli",
    "services.routing.cli",
    "services.tracking.cli",
    "services.notify.cli",
    "services.ops.cli",
)


def _register() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        for command, sub in getattr(module, "COMMANDS", {}).items():
            app.add_typer(sub, name=command)


_register()


def main() -> None:
    app()
