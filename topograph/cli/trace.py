"""`topograph trace FILE SRC DST [--tcp PORT | --udp PORT]`: one flow hop by hop, its reply, and why it ends as it does."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import sys
from typing import NoReturn

import click

from topograph.cli.common import abort, load_or_exit, topology_argument
from topograph.front.addresses import as_ipv4, without_zone
from topograph.front.names import did_you_mean, one_of
from topograph.front.quoting import quote
from topograph.model import IPAddress, Proto, Topology
from topograph.sim.forward import Walker
from topograph.sim.matrix import forward_target
from topograph.sim.network import Network
from topograph.sim.trace import Flow, render


def _fail(message: str, hint: str | None = None) -> NoReturn:
    """A question trace cannot answer (unknown node, no such port forward): exit 2, as for a broken file."""
    abort(message, hint=hint, status=2)


def node_or_fail(t: Topology, name: str, what: str) -> None:
    names = [n.name for n in t.nodes]
    if name not in names:
        _fail(f"{what} {quote(name)} is not a node of lab {quote(t.name)}", did_you_mean(name, names) or one_of(names))


def resolve_flow(net: Network, src: str, dst: str, tcp: int | None, udp: int | None = None) -> Flow:
    """DST: a node (its first address), an address, or NODE:PORT (NODE's TCP port forward on PORT, as
    `expect: {to: NODE:PORT}` means it: topograph.sim.matrix.forward_target)."""
    t = net.topology
    if tcp is not None and udp is not None:
        _fail("--tcp and --udp name two flows", "trace one flow at a time: --tcp PORT or --udp PORT")
    proto, port = (Proto.TCP, tcp) if tcp is not None else (Proto.UDP, udp) if udp is not None else (Proto.ICMP, None)
    address: IPAddress | None = None
    zoned = without_zone(dst.strip("[]"))
    if zoned is not None:
        _fail(f"destination {quote(dst)} has an IPv6 zone id ('%{zoned[1]}')",
              f"write {zoned[0]}: the route {src} takes decides the interface")
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(dst.strip("[]"))
    if address is not None and as_ipv4(address) is not None:
        _fail(f"destination {dst} is an IPv4-mapped IPv6 address, which the kernel does not route",
              f"write the IPv4 address instead: {as_ipv4(address)}")
    if address is not None:
        return Flow(src, address, proto, port)
    name, sep, port_text = dst.rpartition(":")
    if sep and port_text.isdigit() and name:
        node_or_fail(t, name, "destination")
        if udp is not None:
            _fail(f"{dst} is a TCP connection through {name}'s port forward on port {port_text}, and --udp asks for UDP",
                  f"give an address of {name} with --udp {udp}, or drop --udp")
        fport = int(port_text)
        if tcp is not None and tcp != fport:
            _fail(f"{dst} is a connection to port {fport}, and --tcp {tcp} names another",
                  f"drop --tcp: NODE:PORT is already a TCP connection to PORT (or write --tcp {fport})")
        forwards = [f for f in t.node(name).port_forwards if f.port == fport]
        if not any(f.proto is Proto.TCP for f in forwards):
            have = ", ".join(f"{name}:{f.port} ({f.proto})" for f in t.node(name).port_forwards) or "none"
            what = f"no tcp port forward on port {fport}" + (" (only udp: trace follows pings and TCP)" if forwards else "")
            _fail(f"{name} has {what}", f"port forwards of {name}: {have}")
        target = forward_target(t, name, fport)
        if target is None:
            version = next(f for f in forwards if f.proto is Proto.TCP).to_address.version
            _fail(f"{name} has no IPv{version} address for its port forward on port {fport}")
        # as in the matrix: the first of the node's addresses the source has a route to
        return target.flow(src, net)
    node_or_fail(t, dst, "destination")
    primary = t.node(dst).primary_address
    if primary is None:
        _fail(f"node {quote(dst)} has no address to trace to", f"give {dst} an address, or name an address as DST")
    return Flow(src, primary, proto, port)


@click.command("trace")
@topology_argument
@click.argument("src")
@click.argument("dst")
@click.option("--tcp", "tcp", type=click.IntRange(1, 65535), metavar="PORT", help="a TCP connection to PORT instead of a ping")
@click.option("--udp", "udp", type=click.IntRange(1, 65535), metavar="PORT", help="a UDP datagram to PORT (and its answer)")
@click.option("--json", "as_json", is_flag=True, help="print the trace as JSON")
def command(file: str, src: str, dst: str, tcp: int | None, udp: int | None, as_json: bool) -> None:
    """Trace one flow from node SRC to DST, hop by hop, then its reply.

    DST is a node (its first address outside loopback), an address, or NODE:PORT to go through a
    port forward of NODE (aimed at the first of NODE's addresses that SRC has a route to).
    Each hop shows the interface the packet came in by, the route that matched,
    the way out, any NAT and each filter chain's verdict; the last line is the disposition with a one-line reason.

    Exit status: 0 when the flow is delivered (and answered), 1 when it is not, 2 when it cannot be
    traced (a broken FILE, an unknown node, no such port forward) — for scripts:
    `topograph trace lab.yml red blue || echo "red cannot reach blue"`. FILE `-` reads standard input.
    """
    checked = load_or_exit(file, show_warnings=False, status=2, stdin=True)
    assert checked.topology is not None
    node_or_fail(checked.topology, src, "source")
    net = checked.network
    result = Walker(net).run(resolve_flow(net, src, dst, tcp, udp))
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        click.echo(render(result), nl=False)
    sys.exit(0 if result.ok else 1)
