"""What every command shares: loading a topology and printing its diagnostics to stderr."""

from __future__ import annotations

import sys

import click

from topograph.diagnostics import render_json, render_text
from topograph.pipeline import Checked, check_file

# No checks by click (it would print a usage error, exit 2): the loader reports a missing, unreadable or
# special file as TG000 at FILE:1:1, in text or --json, the same for every command.
FILE_TYPE = click.Path(path_type=str, readable=False)
topology_argument = click.argument("file", type=FILE_TYPE)


def _prefix(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from topograph import naming

    if value is not None:
        problem = naming.prefix_problem(value)
        if problem:
            raise click.BadParameter(f"{value!r} {problem}")
    return value


sandbox_option = click.option(
    "--sandbox", "prefix", metavar="PREFIX", callback=_prefix,
    help="emulate the whole lab in namespaces named PREFIX+NODE (host and external nodes too); "
         "nothing in this machine's own namespace is touched")


def load_or_exit(file: str, *, show_warnings: bool = True) -> Checked:
    """Check `file`; on errors print every diagnostic to stderr and exit 1, before anything else happens."""
    result = check_file(file)
    items = [d for d in result.report if show_warnings or d.is_error]
    if not result.ok:
        click.echo(render_text(items), err=True, nl=False)
        sys.exit(1)
    if items:
        click.echo(render_text(items), err=True, nl=False)
    return result


def echo_diagnostics(result: Checked, as_json: bool, *, ok: bool | None = None) -> None:
    """Text on stderr, or JSON on stdout; `ok` overrides "no errors" (e.g. --strict)."""
    items = list(result.report)
    if as_json:
        click.echo(render_json(items, ok=ok))
    else:
        click.echo(render_text(items), err=True, nl=False)
