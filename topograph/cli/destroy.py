"""`topograph destroy FILE` (or `--lab NAME`): remove exactly what topograph created for the lab."""

from __future__ import annotations

import click

from topograph.cli.common import FILE_TYPE, abort, sandbox_option
from topograph.cli.live import elsewhere, load_plan, require_privileges, wait_option
from topograph.front.diagnostics import count


@click.command("destroy")
@click.argument("file", required=False, type=FILE_TYPE)
@click.option("--lab", "lab_name", metavar="NAME", help="the lab's name, instead of its file")
@sandbox_option
@wait_option
def command(file: str | None, lab_name: str | None, prefix: str | None, wait: float) -> None:
    """Remove the lab's namespaces and the interfaces and tables it made, as its record names them.

    Without a record (a lab brought up by the compiled script), FILE's namespaces and interfaces that
    carry the lab's mark.

    Works on a half-built lab; a second run does nothing. Objects topograph did not create stay.
    """
    from topograph.front.names import LAB_NAME_RULE, lab_name_problem
    from topograph.live import engine
    from topograph.live.lock import Busy

    if (file is None) == (lab_name is None):
        abort("give the lab's FILE or --lab NAME (one of them)")
    problem = lab_name_problem(lab_name) if lab_name is not None else None
    if problem:  # before anything becomes a path: the name names files in the state directory
        abort(f"--lab {lab_name!r} is not a lab name: it {problem} ({LAB_NAME_RULE})")
    the_plan = None
    if file is not None:
        the_plan, _ = load_plan(file, prefix)
        lab_name = the_plan.lab
    assert lab_name is not None
    require_privileges()
    try:
        removed = engine.destroy(lab_name, prefix, the_plan, wait=wait)
    except (Busy, OSError) as exc:
        abort(str(exc))
    where = f" (sandbox {prefix})" if prefix else ""
    if removed:
        click.echo(f"lab {lab_name}{where}: removed {count(len(removed), 'object')}")
    else:
        hint = elsewhere(lab_name, prefix)
        click.echo(f"{hint}; nothing removed" if hint else f"lab {lab_name}{where}: nothing of it is up; nothing removed")
