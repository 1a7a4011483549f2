"""The `topograph` command line: a thin click group whose commands load lazily, one module each."""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from typing import Any

import click

from topograph import __version__

# command name -> module under topograph.cli that defines `command`
COMMANDS: dict[str, str] = {
    "check": "check",
    "schema": "schema",
    "compile": "compile",
    "render": "render",
    "review": "review",
    "trace": "trace",
    "reach": "reach",
    "diff": "diff",
    "apply": "apply",
    "destroy": "destroy",
    "status": "status",
    "verify": "verify",
    "exec": "exec",
    "capture": "capture",
    "logs": "logs",
    "list": "list",
    "scan": "scan",
    "completion": "completion",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """click's, but an unknown command is shown as quote() shows any value: a long one by its start."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            from topograph.front.quoting import quote

            if args and exc.message == f"No such command {args[0]!r}.":
                raise click.UsageError(f"No such command {quote(args[0])}.", ctx) from None
            raise

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


def run() -> None:
    """The `topograph` executable: `main` as a short-lived process.

    A command builds one large object graph (a 10,000-namespace lab is about a million objects) and
    then ends, so two costs are pure waste: the cycle collector rescanning that graph while it grows
    (nothing topograph makes needs cycle collection to be freed in time) and freeing every object one by
    one at exit. The process skips both: it exits at once, once the command is done and its standard
    output written. That output is held until then and written in one go (topograph.cli.stdout): all
    of it, or a one-line error and exit 1 (141, quietly, when the reader went away).
    In-process callers (tests, library users) call `main` and keep Python's defaults.
    """
    from topograph.cli import stdout

    gc.disable()
    held = stdout.hold()
    try:
        main(prog_name="topograph")  # also under `python -m topograph`: usage lines, and completion's _TOPOGRAPH_COMPLETE
        code = 0
    except SystemExit as done:  # click ends every command this way (standalone mode)
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
    code = stdout.release(held, code)
    with contextlib.suppress(OSError):  # nothing is left to tell, if stderr cannot be written either
        sys.stderr.flush()
    os._exit(code)
