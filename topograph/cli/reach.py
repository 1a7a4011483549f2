"""`topograph reach FILE`: the reachability matrix — every node to every node and every port forward."""

from __future__ import annotations

import json

import click

from topograph.cli.common import abort, load_or_exit, topology_argument
from topograph.model import Topology
from topograph.sim.classes import fast_matrix
from topograph.sim.matrix import targets
from topograph.sim.network import Network
from topograph.sim.summary import SUMMARY_ABOVE, summarise

fail_option = click.option(
    "--fail", "failures", multiple=True, metavar="X",
    help="take X down first: a node, a bridge, NODE:IFNAME or BRIDGE:PORT (an interface), or END--END (a link); "
         "repeatable")


def failed(topology: Topology, failures: tuple[str, ...]) -> Topology:
    """`topology` with the --fail elements down; an element that names nothing is a one-line error (exit 2)."""
    from topograph.sim.failures import UnknownElement, with_failures

    try:
        return with_failures(topology, failures)
    except UnknownElement as exc:
        abort(f"--fail: {exc}", status=2)


@click.command("reach")
@topology_argument
@click.option("--json", "as_json", is_flag=True, help="print the matrix as JSON")
@click.option("--every-address", is_flag=True, help="one column per address (IPv4 and IPv6) instead of per node")
@click.option("--full/--summary", default=None,
              help=f"every cell, or classes of sources and targets that behave the same (default: classes above "
                   f"{SUMMARY_ABOVE} sources or targets)")
@fail_option
def command(file: str, as_json: bool, every_address: bool, full: bool | None, failures: tuple[str, ...]) -> None:
    """Print who reaches whom in FILE: rows are sources, columns are each node's first address and
    every port forward; a cell is the predicted disposition (ping, or a TCP connection for a forward).
    `topograph trace FILE SRC DST` explains any cell. FILE `-` reads the topology from standard input.

    Above 40 sources or targets the matrix is summarised: sources and targets that behave the same are
    one line (`ns0 … ns2999 (3,000) -> every target: ok`); --full prints every cell. With --json the
    summary is a lossless compact form (classes, one verdict per block, the cells that differ).
    """
    checked = load_or_exit(file, show_warnings=False, stdin=True)
    assert checked.topology is not None
    topology = failed(checked.topology, failures)
    net = checked.network if not failures else Network(topology, graph=checked.graph)  # same links, some down
    matrix = fast_matrix(net, targets(topology, every_address=every_address))
    if full is None:
        full = len(matrix.sources) <= SUMMARY_ABOVE and len(matrix.targets) <= SUMMARY_ABOVE
    down = {"failures": list(failures)} if failures else {}
    if as_json:
        data = {"form": "cells", **matrix.as_json()} if full else summarise(matrix).as_json()
        click.echo(json.dumps({**down, **data}, indent=None if not full else 2))
        return
    if failures:
        click.echo(f"down: {', '.join(failures)}")
    click.echo(matrix.table() if full else summarise(matrix).text(topology.name), nl=False)
