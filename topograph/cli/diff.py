"""`topograph diff OLD NEW`: what changed between two designs, and what that does to reachability."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import click

from topograph.cli.common import FILE_TYPE, abort, check_path
from topograph.cli.reach import fail_option
from topograph.front.diagnostics import render_text
from topograph.pipeline import Checked, check_text


def _fail(message: str, status: int = 2) -> NoReturn:
    abort(message, status=status)  # diff: 1 answers the question (reachability changed)


def load_revision(arg: str, status: int = 2) -> Checked:
    """A design: a file, `-` (standard input), or REV:path — the file as git revision REV has it, when the
    argument has a colon and is not a file (git's own meaning: path from the repository's top, ./path from
    here). Anything that stops it is one line on stderr and exit `status` (review --against: 1); a broken
    design prints its diagnostics."""
    if arg == "-" or Path(arg).exists() or ":" not in arg:
        result = check_path(arg)
    elif arg.startswith("-"):  # git would take it for an option of its own (--output=FILE writes a file)
        _fail(f"{arg}: not a file, and a REV:path cannot start with '-'", status)
    else:
        try:
            shown = subprocess.run(["git", "show", "--end-of-options", arg], capture_output=True, check=False)
        except FileNotFoundError:
            _fail(f"{arg}: reading REV:path needs git, which is not installed", status)
        if shown.returncode != 0:
            err = shown.stderr.decode("utf-8", "replace").strip()
            if "not a git repository" in err:
                _fail(f"{arg} is not a file, and this is not a git repository to read it from as REV:path", status)
            first = err.splitlines()[0] if err else f"git show {arg} failed"
            _fail(f"{arg}: {first.removeprefix('fatal: ')}", status)
        try:
            text = shown.stdout.decode("utf-8")
        except UnicodeDecodeError:
            _fail(f"{arg} is not UTF-8 text", status)
        result = check_text(text, arg)
    if not result.ok:
        click.echo(render_text([d for d in result.report if d.is_error]), err=True, nl=False)
        sys.exit(status)
    return result


@click.command("diff")
@click.argument("old", type=FILE_TYPE)
@click.argument("new", type=FILE_TYPE)
@fail_option
@click.option("--json", "as_json", is_flag=True, help="print the diff as JSON")
@click.option("--format", "fmt", type=click.Choice(["text", "md"]), default="text", show_default=True,
              help="md: Markdown, for a pull-request comment")
def command(old: str, new: str, failures: tuple[str, ...], as_json: bool, fmt: str) -> None:
    """What changed from design OLD to NEW: nodes, links, addresses, routes, NAT and port forwards
    added, removed or changed, then every reachability matrix cell that changed, before -> after, with
    the simulator's reason from both sides. Cells that changed alike are one line.

    OLD and NEW are files, `-`, or REV:path (a file at a git revision, e.g. HEAD~1:lab.yml). --fail takes
    elements down in NEW: `topograph diff lab.yml lab.yml --fail r1` is what r1's failure does.

    Exit status: 0 when reachability is unchanged, 1 when it changed (for CI), 2 on errors.
    """
    from topograph.review.diff import design_diff
    from topograph.sim.failures import UnknownElement

    before, after = load_revision(old), load_revision(new)
    try:
        diff = design_diff(before, after, failures, old_name=old, new_name=new)
    except UnknownElement as exc:
        _fail(f"--fail: {exc}")
    if as_json:
        click.echo(json.dumps(diff.as_json(), indent=2))
    else:
        click.echo(diff.markdown() if fmt == "md" else diff.text(), nl=False)
    sys.exit(1 if diff.reachability_changed else 0)
