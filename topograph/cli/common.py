"""What every command shares: loading a topology and printing its diagnostics to stderr."""

from __future__ import annotations

import sys

import click

from topograph.diagnostics import render_json, render_text
from topograph.pipeline import Checked, check_file

# no exists/dir_okay checks here: the loader reports an unreadable path as TG000, in text or --json
topology_argument = click.argument("file", type=click.Path(path_type=str))


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


def echo_diagnostics(result: Checked, as_json: bool) -> None:
    items = list(result.report)
    if as_json:
        click.echo(render_json(items))
    else:
        click.echo(render_text(items), err=True, nl=False)
