"""`topograph exec FILE NODE -- CMD...`: run a command inside a node's namespace (over `ip netns exec`)."""

from __future__ import annotations

import os

import click

from topograph.cli.common import abort, load_or_exit, sandbox_option, topology_argument
from topograph.cli.live import elsewhere, require_privileges
from topograph.live.kernel import netns_exists, netns_mounted


@click.command("exec", context_settings={"ignore_unknown_options": True})
@topology_argument
@click.argument("node")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
@sandbox_option
def command(file: str, node: str, argv: tuple[str, ...], prefix: str | None) -> None:
    """Run ARGV in NODE's namespace: `topograph exec lab.yml --sandbox t1- red -- ping -c1 192.168.15.2`."""
    from topograph.plan.placement import place

    topology = load_or_exit(file).topology  # the placement is all it needs: no plan, no state record
    assert topology is not None
    names = [n.name for n in topology.nodes]
    if node not in names:
        abort(f"lab {topology.name} has no node {node!r}; its nodes: {', '.join(names)}")
    placement = place(topology, prefix)
    hint = elsewhere(topology.name, prefix)
    if not placement.configures(node):
        abort(f"{node} is an external node, not a namespace of this lab "
              + (f"in real mode; {hint}" if hint else "(use --sandbox)"))
    require_privileges()
    netns = placement.netns(node)
    if netns is None:  # real mode host: the root namespace itself
        if hint:
            click.echo(f"topograph: warning: {hint}; running in this machine's own namespace", err=True)
        os.execvp(argv[0], list(argv))
    if not netns_exists(netns):
        abort(hint or f"namespace {netns} does not exist; is the lab up? (topograph apply)")
    if not netns_mounted(netns):
        from topograph.live.ownership import stale_text

        abort(f"{stale_text(netns)}")
    os.execvp("ip", ["ip", "netns", "exec", netns, *argv])
