"""`topograph status FILE`: the live lab against the file; exit 2 when anything differs (for scripts)."""

from __future__ import annotations

import sys

import click

from topograph.cli.common import abort, json_errors, sandbox_option, topology_argument
from topograph.cli.live import elsewhere, load_plan, require_privileges
from topograph.plan import FIREWALLS


@click.command("status")
@topology_argument
@sandbox_option
@click.option("--firewall", type=click.Choice(FIREWALLS), default=None,
              help="back end for NAT and port forwards (default: the one the lab was applied with, else nftables)")
@click.option("--limit", type=click.IntRange(min=0), default=0,
              help="show at most this many lines per kind of change (0: all)")
@click.option("--json", "as_json", is_flag=True, help="print the comparison as one JSON object on stdout (see below)")
def command(file: str, prefix: str | None, firewall: str | None, limit: int, as_json: bool) -> None:
    """Compare the live lab with FILE: up to date, missing, drifted (changed by hand), extra.

    What would stop apply before any change (objects in the way, absent uplinks in real mode) is
    shown as `blocked`, in apply's words. Exit status: 0 when everything is as the file says, 2 when
    anything differs or apply would be blocked, 1 on errors.

    \b
    --json prints one object: {"ok", "lab", "mode" ("real"/"sandbox"), "prefix",
    "clean", "blocked" [reasons], "running" (pid or null), "cut_short", "adopted" [objects],
    "up_to_date" (count), "counts" {"missing", "drifted", "extra"},
    "changes" [{"state", "what"}], "elsewhere" (where else the lab is up, or null),
    "services" [{"node", "name", "state" (running/exited/stopped/missing), "pid", "code", "log", "cmd",
      "daemonized" (true: its command forked away and ended; "pid" is the oldest process with its marker),
      "leftover" (exited or stopped, yet a process with its marker runs: the oldest's pid; else null)}]},
    "ok" true (exit 2 still when "clean" is false). An error (exit 1) is
    {"ok": false, "error", "hint", "exit"} (and "diagnostics" for a FILE with errors).
    """
    from topograph.cli.report import diff_json, echo_json, print_diff, print_services
    from topograph.live import engine
    from topograph.live.kernel import list_netns

    json_errors(as_json)
    the_plan, _ = load_plan(file, prefix, firewall)
    require_privileges()
    try:
        d = engine.plan_diff(the_plan)
        ran = engine.service_states(the_plan)
    except OSError as exc:
        abort(str(exc))
    existing = list_netns()
    hint = elsewhere(the_plan.lab, prefix) if not any(n in existing for n in the_plan.namespaces) else None
    if as_json:
        echo_json({"ok": True, **diff_json(the_plan, d), "elsewhere": hint, "services": [s.to_json() for s in ran]})
    else:
        print_diff(the_plan, d, limit=limit)
        print_services(ran)
        if hint:
            click.echo(f"  {hint}")
    if not d.clean:
        sys.exit(2)
