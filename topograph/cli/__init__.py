"""The `topograph` command line: a thin click group whose commands load lazily, one module each."""

from __future__ import annotations

import importlib
from typing import Any

import click

from topograph import __version__

# command name -> module under topograph.cli that defines `command`
COMMANDS: dict[str, str] = {
    "check": "check",
    "schema": "schema",
    "compile": "compile",  # issue 3
    "render": "render",  # issue 4
    "trace": "trace",  # issue 5
    "reach": "reach",  # issue 5
    "apply": "apply",  # issue 6
    "destroy": "destroy",  # issue 6
    "status": "status",  # issue 6
    "verify": "verify",  # issue 6
    "exec": "exec",  # issue 6
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        loaded: Any = importlib.import_module(f"topograph.cli.{module}")
        command: click.Command = loaded.command
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="topograph")
def main() -> None:
    """topograph: a Linux network lab as a graph.

    Write one topology file; check it, draw it, compile it to a shell script or apply it live.
    """
