"""Semantic checks over the built model and its L2 segments: addresses, segments, routes, NAT, port forwards
(and packet filters, in front.filter_checks)."""

from __future__ import annotations

import networkx as nx

from topograph.front import filter_checks
from topograph.front import graph as tg
from topograph.front.diagnostics import Pos, Report, Where
from topograph.front.gaps import Gaps
from topograph.front.gateways import refused_gateway
from topograph.front.natcheck import check_nat_addresses
from topograph.front.quoting import quote
from topograph.model import (
    LOOPBACK,
    Interface,
    IPAddress,
    IPNetwork,
    Link,
    Masquerade,
    NatRule,
    Node,
    NodeKind,
    PortForward,
    Proto,
    Route,
    Topology,
    Written,
)


def _at(topology: Topology, *candidates: Written | None) -> Where | Pos:
    """Where the first of `candidates` that has a place was written (the report keeps its path too)."""
    for c in candidates:
        if c is not None and c.where is not None:
            return c.where
    return Pos(topology.file, 1, 1)


def check_addresses(topology: Topology, segments: tuple[tg.Segment, ...], report: Report, gaps: Gaps) -> None:
    # link-local addresses (fe80::/10, 169.254.0.0/16) are unique per link only: the same fe80::1 on
    # every link of a router is normal, so they are keyed by their segment and left out of subnet checks
    segment_of: dict[tuple[str, str], int] | None = None  # made at the first link-local address
    seen: dict[tuple[IPAddress, int], Interface] = {}
    for node in topology.nodes:
        for itf in node.interfaces:
            for a in itf.addresses:
                ip = a.ip
                link = -1
                local = ip.is_link_local
                if local:
                    if segment_of is None:
                        segment_of = {i.key: n for n, seg in enumerate(segments) for i in seg.interfaces}
                    link = segment_of.get(itf.key, -1 - len(seen))
                first = seen.get((ip, link))
                if first is not None and not local and segment_of is None:
                    segment_of = {i.key: n for n, seg in enumerate(segments) for i in seg.interfaces}
                if first is itf:
                    report.error("TG211", _at(topology, itf), f"address {ip} is written twice on {itf.label}",
                                 hint="remove the repeated address")
                elif first is not None and (local or _same_segment(segment_of, first, itf, ip.version)):
                    # both would answer ARP/ND on one link: which answer the asker keeps is a race
                    on = "whose nodes both answer ARP on" if first.node != itf.node and not local else "on"
                    report.error("TG211", _at(topology, itf),
                                 f"address {ip} is assigned to {itf.label} and to {first.label}, {on} one L2 segment",
                                 hint="a link-local address must be unique on its link; pick another" if local
                                 else "which ARP answer the asker keeps is a race; pick another host address")
                elif first is not None and _segments_unsure(gaps):
                    pass  # a dropped bridge or link may have put both on one segment (an error then, not this warning)
                elif first is not None:
                    # Linux accepts it: each owner answers on its own segment, and elsewhere the routes decide
                    report.warning("TG202", _at(topology, itf),
                                   f"address {ip} is assigned to {itf.label} and to {first.label}",
                                   hint="the packet's segment decides which of them answers, and off-segment the routes "
                                        "do; pick another host address unless that is the point")
                else:
                    seen[(ip, link)] = itf
                if itf.bridge is not None:
                    report.warning("TG500", _at(topology, itf),
                                   f"{itf.label} is a port of bridge {quote(itf.bridge)}; "
                                   "an address on a port is not how a bridge is reached",
                                   hint=f"put the address on the bridge {quote(itf.bridge)} instead")
            if itf.addresses and not itf.up:
                report.warning("TG504", _at(topology, itf), f"{itf.label} has addresses but is configured down",
                               hint="its addresses and connected routes stay unusable; drop 'up: false' or the addresses")

    # an interface numbered out of the wrong subnet is reported once, as TG204 on its segment;
    # only each segment's main subnets take part in the TG203 comparison between segments
    entries: list[tuple[tg.Segment, IPNetwork]] = []
    for seg in segments:
        for family in (4, 6):
            nets = [n for n in seg.subnets if n.version == family and not n.is_link_local]
            if not nets:
                continue
            base = _main_subnet(seg, nets)
            entries.append((seg, base))
            for net in nets:
                if net != base:
                    odd = _first_with(seg, net)
                    report.error("TG204", _at(topology, odd),
                                 f"{odd.label if odd else seg.name} uses {net}, but its L2 segment ({seg.name}) "
                                 f"already uses {base}",
                                 hint=f"interfaces on one veth pair or bridge share one subnet; use an address in {base}")
    # each subnet belongs to the first segment that uses it; a later segment whose subnet equals or
    # overlaps an earlier one's is reported
    first_use: dict[IPNetwork, int] = {}
    for i, (_, net) in enumerate(entries):
        first_use.setdefault(net, i)
    overlapping = _overlaps(list(first_use))
    for i, (seg, net) in enumerate(entries):
        for other_net in (net, *overlapping.get(net, ())):
            j = first_use[other_net]
            other = entries[j][0]
            if j < i and other is not seg and not gaps.links and not _unsure(seg, gaps) and not _unsure(other, gaps):
                same = "the same subnet" if net == other_net else f"overlapping subnets {net} and {other_net}"
                where = _first_with(seg, net)
                if net.version == 6:  # as over IPv4, except that an ICMPv6 echo reply leaves by the request's interface
                    report.warning("TG212", _at(topology, where),
                                   f"{same} on two L2 segments: {seg.name} and {other.name}",
                                   hint="a node on both reaches the subnet through the interface listed first only "
                                        "(it answers a ping by the interface the ping came in by); give each veth pair "
                                        "or bridge a subnet of its own, or join them on one bridge")
                    continue
                # Linux accepts it: a node on both segments sends to the subnet by the first connected route installed
                report.warning("TG203", _at(topology, where),
                               f"{same} on two L2 segments: {seg.name} and {other.name}",
                               hint="a node on both reaches the subnet through the interface listed first only; give "
                                    "each veth pair or bridge a subnet of its own, or join them on one bridge")


def _same_segment(segment_of: dict[tuple[str, str], int] | None, a: Interface, b: Interface, family: int) -> bool:
    """Whether both holders would answer ARP/ND for their address on one L2 segment: over IPv6 when the interfaces
    sit on one segment; over IPv4 when their nodes do through any interfaces (a node answers ARP for all of its
    addresses on each of its interfaces, arp_ignore=0). Loopback and unlinked interfaces sit on no segment."""
    assert segment_of is not None
    if family == 6 or a.node == b.node:
        sa = segment_of.get(a.key)
        return sa is not None and sa == segment_of.get(b.key)
    on_a = {d for (node, _), d in segment_of.items() if node == a.node}
    return any(d in on_a for (node, _), d in segment_of.items() if node == b.node)


def _segments_unsure(gaps: Gaps) -> bool:
    """Whether a dropped part could join segments: a dropped link, bridge or node."""
    return gaps.links or gaps.links_unknown or gaps.bridges_unknown or bool(gaps.bridges) or bool(gaps.nodes)


def _unsure(seg: tg.Segment, gaps: Gaps) -> bool:
    """Whether an address a dropped part held could change the segment's subnet (and so what it overlaps)."""
    return bool(gaps) and any(gaps.incomplete(i.node, "interfaces", "bridges") for i in seg.interfaces)


def _overlaps(nets: list[IPNetwork]) -> dict[IPNetwork, list[IPNetwork]]:
    """For each of `nets` (distinct), the others it overlaps — in n log n, not by comparing every pair.

    Two prefixes overlap only when one contains the other: sorted by start (bigger first), the prefixes
    still open when a prefix starts are exactly those containing it.
    """
    out: dict[IPNetwork, list[IPNetwork]] = {}
    open_: list[IPNetwork] = []
    for net in sorted(nets, key=lambda n: (n.version, int(n.network_address), n.prefixlen)):
        start = int(net.network_address)
        while open_ and (open_[-1].version != net.version or int(open_[-1].broadcast_address) < start):
            open_.pop()
        for outer in open_:
            out.setdefault(net, []).append(outer)
            out.setdefault(outer, []).append(net)
        open_.append(net)
    return out


def _main_subnet(seg: tg.Segment, nets: list[IPNetwork]) -> IPNetwork:
    """The subnet the segment is meant to have: the bridge's own, else the one most interfaces use."""
    for br in seg.bridges:
        for a in br.addresses:
            if a.network in nets:
                return a.network
    def weight(net: IPNetwork) -> tuple[int, tuple[int, int]]:
        users = [i for i in seg.interfaces if any(a.network == net for a in i.addresses)]
        first = min(((i.pos.line, i.pos.col) for i in users if i.pos is not None), default=(0, 0))
        return (-len(users), first)  # most used, then first written

    return min(nets, key=weight)


def _first_with(seg: tg.Segment, net: IPNetwork) -> Interface | None:
    return next((i for i in seg.interfaces if any(a.network == net for a in i.addresses)), None)


def check_segments(topology: Topology, segments: tuple[tg.Segment, ...], report: Report, gaps: Gaps) -> None:
    links = {e.key: link for link in topology.links for e in link.ends}
    for seg in segments:
        _check_mtu(topology, seg, links, report)
        macs: dict[str, Interface] = {}
        for itf in seg.interfaces:
            if itf.mac:
                if itf.mac in macs:
                    report.warning("TG507", _at(topology, itf),
                                   f"{itf.label} and {macs[itf.mac].label} share MAC {itf.mac} on one L2 segment",
                                   hint="give each interface its own MAC, or leave 'mac' out")
                macs.setdefault(itf.mac, itf)
    if gaps.links:
        return  # which node or bridge a dropped link joined is unknown
    linked = {e.node for link in topology.links for e in link.ends}
    for node in topology.nodes:
        for br in node.bridges:
            if not any(i.bridge == br.name for i in node.interfaces):
                report.warning("TG503", _at(topology, br), f"bridge {br.label} has no ports",
                               hint=f"plug something in with a link such as [red:veth-red, {br.name}:veth-red-br]")
        if node.bridge_netfilter is not None and not node.bridges and not gaps.incomplete(node.name, "bridges"):
            report.warning("TG508", _at(topology, node), f"bridge_netfilter on {node.name}, which has no bridge: it "
                           f"changes nothing there (only frames bridged inside a node meet its netfilter)",
                           hint=f"drop 'bridge_netfilter' from {quote(node.name)}, or set it on the node with the bridge")
        if node.name not in linked and len(topology.nodes) > 1:
            report.warning("TG501", _at(topology, node), f"node {quote(node.name)} has no links; nothing can reach it",
                           hint=f"add a link such as [{node.name}:veth0, OTHER:veth0]")


#: the MTU of a veth end the file sets none for (a bridge without one follows its ports: it is left out)
DEFAULT_MTU = 1500


def _check_mtu(topology: Topology, seg: tg.Segment, links: dict[tuple[str, str], Link], report: Report) -> None:
    """TG505: every member of an L2 segment (a veth pair; a bridge, its ports and their peers) has one MTU."""
    if all(i.mtu is None for i in seg.interfaces):
        return
    members = [(i, i.mtu if i.mtu is not None else DEFAULT_MTU) for i in seg.interfaces
               if i.mtu is not None or not i.is_bridge]
    if len({mtu for _, mtu in members}) < 2:
        return
    def text(i: Interface, mtu: int) -> str:
        return f"{i.label} ({mtu}{'' if i.mtu is not None else ', the default'})"
    if not seg.bridges and len(members) == 2 and members[0][0].key in links:
        link = links[members[0][0].key]
        (a, ma), (b, mb) = sorted(members, key=lambda m: m[0].key != link.a.key)  # in the link's order
        report.warning("TG505", _at(topology, link),
                       f"MTU differs across the veth pair {text(a, ma)} and {text(b, mb)}",
                       hint="set the same MTU on both ends, or large packets will be dropped one way")
        return
    written = next(i for i in seg.interfaces if i.mtu is not None)
    report.warning("TG505", _at(topology, written),
                   f"MTU differs within the L2 segment of {seg.name}: " + ", ".join(text(i, m) for i, m in members),
                   hint="every member of an L2 segment needs one MTU (the bridge, its ports and the veth ends behind "
                        "them), or large frames are dropped where it is smaller")


def _dest(route: Route) -> str:
    return "default" if route.is_default else str(route.to)


def check_routes(topology: Topology, report: Report, gaps: Gaps) -> None:
    for node in topology.nodes:
        own = {a.ip for a in node.addresses}
        addresses_known = not gaps.incomplete(node.name, "interfaces", "bridges")
        seen: dict[tuple[IPNetwork, int], int] = {}
        for i, route in enumerate(node.routes):
            # as written: routes the builder (or the shape stage) dropped do not renumber the rest
            index = route.where.path[-1] if route.where is not None and isinstance(route.where.path[-1], int) else i
            key = (route.to, route.metric or 0)
            if key in seen:
                what = "two default routes" if route.is_default else f"two routes to {route.to}"
                report.error("TG304", _at(topology, route, node),
                             f"{node.name} has {what} with metric {key[1]} (routes[{seen[key]}] and routes[{index}])",
                             hint="the kernel refuses the second one; remove it or give it another 'metric'")
            seen.setdefault(key, index)
            if route.via is None:
                continue
            refused = refused_gateway(node, route, addresses_known)
            if refused is not None:
                report.error("TG307", _at(topology, route, node),
                             f"gateway {route.via} of {node.name}'s route to {_dest(route)} {refused[0]}", hint=refused[1])
                continue
            if route.onlink:
                if addresses_known:
                    _check_onlink(topology, node, route, report, own)
                continue
            if route.via in own:
                report.warning("TG502", _at(topology, route, node), f"{node.name} routes {route} through its own address",
                               hint="a gateway is a neighbour's address on a shared subnet")
                continue
            if (route.via.is_link_local and route.dev is not None) or not addresses_known:
                continue
            _check_gateway(topology, node, route, report)


def _check_gateway(topology: Topology, node: Node, route: Route, report: Report) -> None:
    """TG300 unless the gateway is on a connected subnet (of `dev`, when the route names one)."""
    assert route.via is not None
    via = route.via
    nets = filter_checks.connected(node)
    if any(via in n for i, n in nets if route.dev is None or i.name == route.dev):
        return
    at = _at(topology, route, node)  # a problem from here on: where to say it
    what = f"gateway {via} of {node.name}'s route to {_dest(route)}"
    down = next((i for i in node.interfaces if not i.up and (route.dev is None or i.name == route.dev)
                 and any(via in a.network for a in i.addresses)), None)
    if down is not None:
        report.error("TG300", at, f"{what} is on {down.label}, which is configured down",
                     hint=f"drop 'up: false' from {down.label}, or route through an interface that is up")
        return
    elsewhere = next((i for i, n in nets if via in n), None)
    if elsewhere is not None:  # on a subnet of the node, but not of the interface the route names
        report.error("TG300", at, f"{what} out of {route.dev} is on {elsewhere.label}'s subnet, not on {route.dev}'s",
                     hint=f"write dev: {elsewhere.name}, or leave 'dev' out")
        return
    subnets = ", ".join(sorted({str(n) for i, n in nets if i.name != LOOPBACK and n.version == via.version}))
    known = f"connected: {subnets}" if subnets else f"the node has no connected IPv{via.version} subnet"
    report.error("TG300", at, f"{what} is not on a connected subnet ({known})",
                 hint="a gateway must be a neighbour's address on one of the node's own subnets; if the neighbour "
                      "answers for it on the link anyway, say so with 'onlink: true' and 'dev'")


def _check_onlink(topology: Topology, node: Node, route: Route, report: Report, own: set[IPAddress]) -> None:
    """An onlink gateway needs no connected subnet, but the kernel still refuses it on a down interface
    ("Nexthop device is not up") and when it is the node's own address ("Nexthop has invalid gateway")."""
    at = _at(topology, route, node)
    what = f"onlink gateway {route.via} of {node.name}'s route to {_dest(route)}"
    if route.via in own:
        report.error("TG300", at, f"{what} is {node.name}'s own address, which the kernel refuses for an onlink route",
                     hint="an onlink gateway is a neighbour's address on the interface named in 'dev'")
        return
    out = node.interface(route.dev) if route.dev is not None else None
    if out is not None and not out.up:
        report.error("TG300", at, f"{what} is out of {out.label}, which is configured down",
                     hint=f"drop 'up: false' from {out.label}: the kernel refuses an onlink route over a down interface")


def check_nat(topology: Topology, report: Report, gaps: Gaps) -> None:
    for node in topology.nodes:
        rules: list[NatRule | PortForward] = [*node.nat, *node.port_forwards]
        if rules and not node.forwarding and not gaps.incomplete(node.name, "forwarding"):
            first = _at(topology, rules[0], node)
            report.error("TG302", first, f"{node.name} has NAT or port-forward rules but does not forward packets",
                         hint=f"add 'forwarding: true' to node {quote(node.name)}")
        for m in node.nat:
            if not isinstance(m, Masquerade):
                continue  # an SNAT names its address: front/natcheck.py
            if gaps.links or gaps.incomplete(node.name, "interfaces", "bridges", "kind"):
                break  # its interfaces' addresses, its kind or its links are not all known
            out = node.interface(m.out)
            family = m.source.version
            if out is not None and not any(a.version == family for a in out.addresses) and node.kind is not NodeKind.EXTERNAL:
                if node.kind is NodeKind.HOST and out.key not in {e.key for link in topology.links for e in link.ends}:
                    continue  # an existing host interface whose address the lab does not manage
                report.error("TG305", _at(topology, m),
                             f"masquerade out of {node.name}:{m.out}, which has no IPv{family} address",
                             hint=f"MASQUERADE rewrites the source to {m.out}'s address; give {m.out} one")
        for f in node.port_forwards:
            if topology.owner_of(f.to_address) is None and not gaps.addresses:
                report.error("TG303", _at(topology, f),
                             f"port forward {f.proto}/{f.port} on {node.name} goes to {f.to_address}, which no node has",
                             hint="forward to an address of one of the lab's interfaces")


def check_expectations(topology: Topology, report: Report, gaps: Gaps) -> None:
    if gaps.addresses:
        return  # an address a dropped part held would change the answer
    for e in topology.expectations:
        if e.forward and e.dst_node is not None:
            node = topology.node(e.dst_node)
            f = next((f for f in node.port_forwards if f.port == e.port and f.proto is Proto.TCP), None)
            if f is not None and not any(a.version == f.to_address.version for itf in node.interfaces
                                         if itf.name != LOOPBACK for a in itf.addresses):
                report.warning("TG506", _at(topology, e), f"expectation {e} goes through {node.name}'s port forward, "
                               f"but {node.name} has no IPv{f.to_address.version} address for it",
                               hint=f"give {node.name} an IPv{f.to_address.version} address outside loopback")
        elif e.dst_node is not None and topology.node(e.dst_node).primary_address is None:
            report.warning("TG506", _at(topology, e), f"expectation {e} targets node {quote(e.dst_node)}, which has no address",
                           hint="give the node an address, or name an address in 'to'")
        elif e.dst_address is not None and topology.owner_of(e.dst_address) is None \
                and not (e.dst_address.is_loopback or e.dst_address.is_unspecified):  # the source itself
            report.warning("TG506", _at(topology, e), f"expectation {e} targets {e.dst_address}, which no node has",
                           hint="name an address of one of the lab's interfaces")


def validate(topology: Topology, g: nx.Graph, report: Report, gaps: Gaps | None = None) -> None:
    """Run every semantic check; all problems are reported, not only the first. `g`: the lab's tg.l2_graph.

    `gaps`: what the shape stage dropped from a broken document; a check whose answer could depend on
    it is left out rather than report a consequence of the drop.
    """
    gaps = gaps if gaps is not None else Gaps()
    segments = tg.segments(topology, g)
    check_addresses(topology, segments, report, gaps)
    check_segments(topology, segments, report, gaps)
    check_routes(topology, report, gaps)
    check_nat(topology, report, gaps)
    check_nat_addresses(topology, report, gaps)
    check_expectations(topology, report, gaps)
    filter_checks.check_filters(topology, report, gaps)

