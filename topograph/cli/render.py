"""`topograph render FILE -o lab.svg`: draw the topology with graphviz (svg, png, pdf) or print its DOT."""

from __future__ import annotations

import click

from topograph.cli.common import abort, load_or_exit, shown, topology_argument
from topograph.pipeline import Checked
from topograph.render import Options, to_dot
from topograph.render.dot import ROUTES_AUTO_MAX
from topograph.render.output import FORMATS, RenderError, check_writable, draw, format_for, write_output
from topograph.render.path import Overlay, overlay


@click.command("render")
@topology_argument
@click.option("-o", "--output", metavar="OUT", help="file to write; its extension (.svg .png .pdf .dot) picks the format")
@click.option("--format", "fmt", metavar="|".join(FORMATS), help="output format, overriding the extension of OUT")
@click.option("--dot", "print_dot", is_flag=True, help="print the DOT source on stdout")
@click.option("--routes/--no-routes", default=None,
              help=f"draw each node's route table (default: for labs of up to {ROUTES_AUTO_MAX} nodes)")
@click.option("--rules/--no-rules", default=None,
              help="list each filtering node's rules in order and the ports nodes listen on (default: as --routes)")
@click.option("--trace", "trace", nargs=2, metavar="SRC DST",
              help="draw the path of a flow from SRC to DST (as `topograph trace` follows it) over the diagram")
@click.option("--tcp", "tcp", type=click.IntRange(1, 65535), metavar="PORT", help="with --trace: a TCP connection to PORT")
@click.option("--udp", "udp", type=click.IntRange(1, 65535), metavar="PORT", help="with --trace: a UDP datagram to PORT")
def command(file: str, output: str | None, fmt: str | None, print_dot: bool, routes: bool | None,
            rules: bool | None, trace: tuple[str, str] | None, tcp: int | None, udp: int | None) -> None:
    """Draw FILE as a diagram for design reviews.

    Namespaces, the host and external nodes each look different; bridges are switches inside the node
    that holds them; every link ends at a row naming the interface and its addresses; each segment's
    subnet is shown once; gateways, NAT, port forwards and (optionally) routes are marked where they happen.
    A node with a packet filter shows each chain's policy and rule count; with --rules (by default wherever
    route tables are drawn) its rules in order, and the ports each node listens on.
    Twelve or more plain namespaces on one bridge are packed into a grid, so labs of
    a thousand namespaces stay readable. The DOT text is deterministic, so it can be diffed in review.
    FILE `-` reads the topology from standard input.

    --trace SRC DST [--tcp PORT | --udp PORT] draws the request's path and, where it differs, the reply's, and marks
    where the flow was delivered or died, and why; SRC and DST as for `topograph trace` (an unknown node: exit 2).
    """
    if output is None and not print_dot:
        raise click.UsageError("nothing to do: give -o OUT (e.g. -o lab.svg) or --dot")
    for name, port in (("--tcp", tcp), ("--udp", udp)):
        if port is not None and trace is None:
            raise click.UsageError(f"{name} needs --trace SRC DST")
    try:
        chosen = format_for(output, fmt)  # also with --dot alone, so an unknown --format is never accepted silently
        if output is not None:
            check_writable(output)
    except RenderError as exc:
        abort(str(exc))
    checked = load_or_exit(file, stdin=True)  # the same diagnostics as `check`, before anything is drawn
    assert checked.topology is not None and checked.graph is not None
    drawn = None
    if trace is not None:
        drawn = _traced(checked, *trace, tcp, udp)
    source = to_dot(checked.topology, checked.graph, Options(routes=routes, rules=rules), drawn)
    if output is not None:
        try:
            write_output(output, draw(source, chosen))
        except RenderError as exc:
            abort(str(exc))
        click.echo(f"{shown(file)}: wrote {output} ({chosen})", err=True)
    if print_dot:
        click.echo(source, nl=False)


def _traced(checked: Checked, src: str, dst: str, tcp: int | None, udp: int | None) -> Overlay:
    """The flow's overlay; a question trace cannot answer (unknown node, no such forward) exits 2 as trace does."""
    from topograph.cli.trace import node_or_fail, resolve_flow
    from topograph.sim.forward import Walker

    assert checked.topology is not None and checked.graph is not None
    node_or_fail(checked.topology, src, "source")
    net = checked.network
    return overlay(checked.topology, checked.graph, Walker(net).run(resolve_flow(net, src, dst, tcp, udp)))

