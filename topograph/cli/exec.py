"""`topograph exec FILE NODE -- CMD...`: run a command inside a node's namespace (over `ip netns exec`)."""

from __future__ import annotations

import os

import click

from topograph.cli.common import load_or_exit, sandbox_option, topology_argument
from topograph.cli.live import node_namespace


@click.command("exec", context_settings={"ignore_unknown_options": True})
@topology_argument
@click.argument("node")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
@sandbox_option
def command(file: str, node: str, argv: tuple[str, ...], prefix: str | None) -> None:
    """Run ARGV in NODE's namespace: `topograph exec lab.yml --sandbox t1- red -- ping -c1 192.168.15.2`."""
    topology = load_or_exit(file).topology  # the placement is all it needs: no plan, no state record
    assert topology is not None
    netns = node_namespace(topology, node, prefix, "running")
    if netns is None:  # real mode host: the root namespace itself
        os.execvp(argv[0], list(argv))
    os.execvp("ip", ["ip", "netns", "exec", netns, *argv])
