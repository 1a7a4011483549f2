"""`topograph reach FILE`: the reachability matrix — every node to every node and every port forward."""

from __future__ import annotations

import json

import click

from topograph.cli.common import load_or_exit, topology_argument
from topograph.sim.classes import fast_matrix
from topograph.sim.matrix import targets


@click.command("reach")
@topology_argument
@click.option("--json", "as_json", is_flag=True, help="print the matrix as JSON")
@click.option("--every-address", is_flag=True, help="one column per address (IPv4 and IPv6) instead of per node")
def command(file: str, as_json: bool, every_address: bool) -> None:
    """Print who reaches whom in FILE: rows are sources, columns are each node's first address and
    every port forward; a cell is the predicted disposition (ping, or a TCP connection for a forward).
    `topograph trace FILE SRC DST` explains any cell. FILE `-` reads the topology from standard input.
    """
    checked = load_or_exit(file, show_warnings=False, stdin=True)
    assert checked.topology is not None
    net = checked.network
    matrix = fast_matrix(net, targets(checked.topology, every_address=every_address))
    if as_json:
        click.echo(json.dumps(matrix.as_json(), indent=2))
    else:
        click.echo(matrix.table(), nl=False)
