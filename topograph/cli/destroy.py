"""`topograph destroy [FILE]` (or `--lab NAME`): remove exactly what topograph created for the lab."""

from __future__ import annotations

import click

from topograph.cli.common import FILE_TYPE, NoDefaultFile, abort, default_file, json_errors, sandbox_option
from topograph.cli.live import elsewhere, load_plan, require_privileges, wait_option
from topograph.front.diagnostics import count
from topograph.front.quoting import quote


@click.command("destroy")
@click.argument("file", required=False, type=FILE_TYPE)
@click.option("--lab", "lab_name", metavar="NAME", help="the lab's name, instead of its file")
@sandbox_option
@wait_option
@click.option("--json", "as_json", is_flag=True, help="print the outcome as one JSON object on stdout (see below)")
def command(file: str | None, lab_name: str | None, prefix: str | None, wait: float, as_json: bool) -> None:
    """Remove the lab's namespaces and the interfaces and tables it made, as its record names them.

    Without a record (a lab brought up by the compiled script), FILE's namespaces and interfaces that
    carry the lab's mark.

    Works on a half-built lab; a second run does nothing. Objects topograph did not create stay.
    Without FILE or --lab: topograph.yml in the current directory, else its only *.topo.yml.

    \b
    --json prints one object: {"ok": true, "lab", "mode" ("real"/"sandbox"), "prefix",
    "removed" [objects, in the order removed], "note" (why nothing was removed, or null)}.
    An error is {"ok": false, "error", "hint", "exit"}; exit codes as without --json.
    """
    from topograph.cli.report import echo_json, where_json
    from topograph.front.names import LAB_NAME_RULE, lab_name_problem
    from topograph.live import engine
    from topograph.live.lock import Busy

    json_errors(as_json)
    if file is not None and lab_name is not None:
        abort("give the lab's FILE or --lab NAME (one of them)")
    if file is None and lab_name is None:
        try:
            file = default_file()
        except NoDefaultFile as exc:
            abort(str(exc), hint=f"{exc.hint}; or give the lab's name: --lab NAME", status=2)
    problem = lab_name_problem(lab_name) if lab_name is not None else None
    if problem:  # before anything becomes a path: the name names files in the state directory
        abort(f"--lab {quote(lab_name)} is not a lab name: it {problem} ({LAB_NAME_RULE})")
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
    hint = elsewhere(lab_name, prefix) if not removed else None
    note = None if removed else f"{hint or f'lab {lab_name}{where}: nothing of it is up'}; nothing removed"
    if as_json:
        echo_json({"ok": True, **where_json(lab_name, prefix), "removed": removed, "note": note})
    elif note is None:
        click.echo(f"lab {lab_name}{where}: removed {count(len(removed), 'object')}")
    else:
        click.echo(note)
