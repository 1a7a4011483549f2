"""`topograph check FILE`: validate a topology and report every problem at once."""

from __future__ import annotations

import sys

import click

from topograph.cli.common import check_path, echo_diagnostics, shown, topology_argument
from topograph.front.diagnostics import count
from topograph.front.quoting import quote


@click.command("check")
@topology_argument
@click.option("--json", "as_json", is_flag=True, help="print diagnostics as JSON on stdout (for CI)")
@click.option("--strict", is_flag=True, help="treat warnings as errors (exit 1 on any warning)")
@click.option("--matrix", is_flag=True, help="also print the reachability matrix on stdout (as `topograph reach` does)")
def command(file: str, as_json: bool, strict: bool, matrix: bool) -> None:
    """Check FILE: names, addresses, subnets, routes, NAT, packet filters and expectations.

    Expectations are checked against the simulator's predictions: a violated one is an error (TG410).
    FILE `-` reads the topology from standard input. Exit status: 0 clean (warnings allowed), 1 errors
    (or warnings with --strict).
    """
    result = check_path(file, expectations=True)
    failed = not result.ok or (strict and len(result.report) > 0)
    echo_diagnostics(result, as_json, ok=not failed)
    if not as_json and result.ok and result.topology is not None:
        t = result.topology
        if failed:  # only warnings, but --strict makes them count
            click.echo(f"{shown(file)}: lab {quote(t.name)} fails --strict: warnings count as errors", err=True)
        else:
            counts = ", ".join(count(len(things), what) for things, what in
                               ((t.nodes, "node"), (t.links, "link"), (t.expectations, "expectation")))
            click.echo(f"{shown(file)}: lab {quote(t.name)} is valid: {counts}", err=True)
    if matrix and result.topology is not None and not as_json:
        from topograph.sim.classes import fast_matrix

        click.echo(fast_matrix(result.network).table(), nl=False)
    sys.exit(1 if failed else 0)
