"""`topograph status FILE`: the live lab against the file; exit 2 when anything differs (for scripts)."""

from __future__ import annotations

import sys

import click

from topograph.cli.common import abort, sandbox_option, topology_argument
from topograph.cli.live import elsewhere, load_plan, require_privileges
from topograph.plan import FIREWALLS


@click.command("status")
@topology_argument
@sandbox_option
@click.option("--firewall", type=click.Choice(FIREWALLS), default=None,
              help="back end for NAT and port forwards (default: the one the lab was applied with, else nftables)")
@click.option("--limit", type=click.IntRange(min=0), default=0,
              help="show at most this many lines per kind of change (0: all)")
def command(file: str, prefix: str | None, firewall: str | None, limit: int) -> None:
    """Compare the live lab with FILE: up to date, missing, drifted (changed by hand), extra.

    What would stop apply before any change (objects in the way, absent uplinks in real mode) is
    shown as `blocked`, in apply's words. Exit status: 0 when everything is as the file says, 2 when
    anything differs or apply would be blocked, 1 on errors.
    """
    from topograph.cli.report import print_diff
    from topograph.live import engine
    from topograph.live.kernel import list_netns

    the_plan, _ = load_plan(file, prefix, firewall)
    require_privileges()
    try:
        d = engine.plan_diff(the_plan)
    except OSError as exc:
        abort(str(exc))
    print_diff(the_plan, d, limit=limit)
    existing = list_netns()
    if not any(n in existing for n in the_plan.namespaces) and (hint := elsewhere(the_plan.lab, prefix)):
        click.echo(f"  {hint}")
    if not d.clean:
        sys.exit(2)
