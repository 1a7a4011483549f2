"""Printing a diff: one line per change, grouped as missing / drifted / extra, then a summary line; or as JSON."""

from __future__ import annotations

import json
from typing import Any

import click

from topograph.cli.live import mode
from topograph.front.diagnostics import count
from topograph.live.changes import Diff
from topograph.live.services import Observed
from topograph.plan import DeleteIptables, DeleteNftables, LoadIptables, LoadNftables, Operation, Plan


def print_diff(plan: Plan, d: Diff, *, dry_run: bool = False, limit: int = 0, commands: bool = False) -> None:
    """`dry_run`: worded for apply --dry-run (else for status); `limit` > 0 shortens long lists (first
    `limit` lines per state); `commands`: then the shell commands of what apply would run (print_commands)."""
    where = mode(plan.prefix)
    click.echo(f"lab {plan.lab} ({where}):")
    if d.blockers:
        for line in d.blockers:
            click.echo(f"  blocked  {line}")
        click.echo("  apply would stop here, before any change")
        return
    if d.adopted:
        click.echo(f"  {count(len(d.adopted), 'object')} carry the lab's mark but are not in its record (made by its "
                   f"compiled script?): {'apply records them' if not dry_run else 'apply would record them'}")
    if d.running is not None:
        click.echo(f"  an apply of this lab is running now (pid {d.running}); what it has not done yet is missing")
    elif d.cut_short:
        click.echo("  the last apply was cut short (killed or interrupted); run apply to finish, or destroy")
    for st, sign in (("missing", "+"), ("drifted", "~"), ("extra", "-")):
        items = [c for c in d.changes if c.state == st]
        shown = items[:limit] if limit else items
        for c in shown:
            click.echo(f"  {sign} {st:<8} {c.what}")
        if len(shown) < len(items):
            click.echo(f"  {sign} {st:<8} ... and {len(items) - len(shown)} more")
    summary = (f"up to date {d.up_to_date}, missing {d.count('missing')}, drifted {d.count('drifted')}, "
               f"extra {d.count('extra')}")
    if d.clean:
        click.echo(f"  up to date: {count(d.up_to_date, 'object')}, nothing {'to change' if dry_run else 'differs'}")
    else:
        click.echo(f"  {summary}" + (" (--dry-run: nothing changed)" if dry_run else ""))
    if commands:
        print_commands(d)


def print_services(ran: list[Observed]) -> None:
    """The services (run:) of the lab: how each one is, and its log."""
    if not ran:
        return
    click.echo("  services:")
    width = max(len(f"{s.node}/{s.name}") for s in ran)
    for s in ran:
        click.echo(f"    {s.node + '/' + s.name:<{width}}  {s.describe()}; log {s.log}")


def print_commands(d: Diff) -> None:
    """What apply would run, in its order, as the shell commands of the same operations (the compiled
    script's templates), under a comment line: a script that does the same, to read or to run."""
    from topograph.compile import commands  # jinja2: only when asked for

    ops = d.operations
    if not ops:
        return
    click.echo(f"# the {count(len(ops), 'operation')} apply would run, in its order, as shell commands "
               "(apply itself uses netlink):")
    for text in commands(as_shell(ops)):
        click.echo(text)


def as_shell(ops: list[Operation]) -> list[Operation]:
    """`ops` as the shell must run them to do what apply does: apply replaces a node's NAT table or
    chains in one transaction, while the script's load adds to what is there; so the deletion comes
    first (it leaves alone what is not there)."""
    out: list[Operation] = []
    for op in ops:
        if isinstance(op, LoadNftables):
            out.append(DeleteNftables(op.node, op.netns, op.table))
        elif isinstance(op, LoadIptables):
            out.append(DeleteIptables(op.node, op.netns, op.pre_chain, op.post_chain, op.families, op.filter_chains,
                                      op.local_chain))
        out.append(op)
    return out


def where_json(lab: str, prefix: str | None) -> dict[str, Any]:
    """The keys every live command's JSON starts with: which lab, in which mode."""
    return {"lab": lab, "mode": "real" if prefix is None else "sandbox", "prefix": prefix}


def diff_json(plan: Plan, d: Diff, *, commands: bool = False) -> dict[str, Any]:
    """The diff as status --json and apply --dry-run --json print it (README: "JSON output"):

    `clean` (nothing differs, nothing blocks), `blocked` (apply's reasons to stop; then nothing else was
    compared), `running` (pid of an apply holding the lab now, or null), `cut_short`, `adopted`,
    `up_to_date` (a count), `counts` ({missing, drifted, extra}), `changes` ([{state, what}], in the
    text's order) and, with `commands`, the shell commands of what apply would run.
    """
    data: dict[str, Any] = {
        **where_json(plan.lab, plan.prefix),
        "clean": d.clean,
        "blocked": list(d.blockers),
        "running": d.running,
        "cut_short": d.cut_short,
        "adopted": d.adopted,
        "up_to_date": d.up_to_date,
        "counts": {st: d.count(st) for st in ("missing", "drifted", "extra")},
        "changes": [{"state": c.state, "what": c.what} for st in ("missing", "drifted", "extra")
                    for c in d.changes if c.state == st],
    }
    if commands:
        from topograph.compile import commands as shell  # jinja2: only when asked for

        data["commands"] = shell(as_shell(d.operations)) if d.operations else []
    return data


def echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2))
