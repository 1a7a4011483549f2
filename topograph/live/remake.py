"""What makes a link again as it is now: the plan operations that undo its deletion, read from the kernel.

A converging apply deletes links to make them again (a veth end that must take a MAC of the kernel's, a
link of the wrong kind in the way) and extra ones. Should the run fail, rollback runs these operations
(live/journal.py): the link comes back with its peer (a veth's other end goes with it), MTU, MAC, alias,
bridge, the bridge's ports, addresses, state and the routes over it. Only veths and bridges (which stand-ins
are too) can be made again; per-interface sysctls start from the namespace's `default` values, as for any
new link. Addresses the kernel made itself (IPv6 link-local, autoconf) and routes it made (connected
prefixes, protocol kernel) come back by themselves.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from topograph.live.kernel import Namespaces
from topograph.live.netlink import RTPROT_KERNEL, LinkInfo
from topograph.live.nlsocket import Sockets
from topograph.plan import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateVeth,
    EnslavePort,
    LinkUp,
    MarkLink,
    Operation,
    SetMac,
    SetMtu,
    VethEnd,
)

#: what a new veth end or bridge has, so that only what differs is set again
_NEW_MTU = 1500


def peer_namespace(ns: Namespaces, socks: Sockets, netns: str | None, link: LinkInfo,
                   candidates: Iterable[str | None]) -> tuple[bool, str | None]:
    """(found, the namespace of a veth's peer: None is the root namespace); not found when none of
    `candidates` is it (a link that names no other namespace has its peer beside it)."""
    if link.peer_nsid is None:
        return True, netns
    sock = socks(netns)
    for name in candidates:
        if name != netns and sock.nsid(ns.fd(name)) == link.peer_nsid:
            return True, name
    return False, None


def remake(ns: Namespaces, socks: Sockets, node: str, netns: str | None, link: LinkInfo,
           candidates: Iterable[str | None]) -> list[Operation]:
    """The operations, in the order to run them, that make `link` (of namespace `netns`) again as it is;
    [] when it cannot be made again (another kind, or a veth whose peer is in none of `candidates`)."""
    links = {ln.index: ln for ln in socks(netns).links()}
    if link.kind == "veth":
        found, peer_ns = peer_namespace(ns, socks, netns, link, candidates)
        if not found:
            return []
        peers = links if peer_ns == netns else {ln.index: ln for ln in socks(peer_ns).links()}
        peer = peers.get(link.peer)
        if peer is None or peer.kind != "veth":
            return []
        ends = [(netns, link, links), (peer_ns, peer, peers)]
        made: list[Operation] = [CreateVeth(VethEnd(node, netns, link.name), VethEnd(node, peer_ns, peer.name), -1)]
    elif link.kind == "bridge":
        ends = [(netns, link, links)]
        made = [CreateBridge(node, netns, link.name)]
    else:
        return []
    routes: list[Operation] = []
    for where_ns, end, known in ends:
        made += _settings(node, where_ns, end, known, with_mac=True)
        made += [AddAddress(node, where_ns, end.name, a) for a in _addresses(socks, where_ns, end.index)]
        if end.kind == "bridge":  # its ports are released when it goes
            made += [EnslavePort(node, where_ns, p.name, end.name) for p in known.values() if p.master == end.index]
        if end.up:
            made.append(LinkUp(node, where_ns, end.name))
        routes += _routes(socks, node, where_ns, end)
    return made + routes


def _settings(node: str, netns: str | None, end: LinkInfo, known: dict[int, LinkInfo], *,
              with_mac: bool) -> list[Operation]:
    ops: list[Operation] = []
    if end.mtu and end.mtu != _NEW_MTU:
        ops.append(SetMtu(node, netns, end.name, end.mtu))
    if with_mac and end.mac:
        ops.append(SetMac(node, netns, end.name, end.mac))
    if end.alias:
        ops.append(MarkLink(node, netns, end.name, end.alias))
    master = known.get(end.master) if end.master else None
    if master is not None:
        ops.append(EnslavePort(node, netns, end.name, master.name))
    return ops


def _addresses(socks: Sockets, netns: str | None, index: int) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    found: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
    for a in socks(netns).addresses():
        if a.index == index and a.permanent:
            found.append(ipaddress.ip_interface((ipaddress.ip_address(a.address), a.prefixlen)))
    return found


def _routes(socks: Sockets, node: str, netns: str | None, end: LinkInfo) -> list[Operation]:
    ops: list[Operation] = []
    for r in socks(netns).routes():
        if r.oif != end.index or r.protocol == RTPROT_KERNEL:
            continue
        dst = ipaddress.ip_address(r.dst) if r.dst else ipaddress.ip_address("0.0.0.0" if r.family == socket.AF_INET
                                                                             else "::")
        to = ipaddress.ip_network((dst, r.dst_len))
        via = ipaddress.ip_address(r.gateway) if r.gateway else None
        ops.append(AddRoute(node, netns, to, via, end.name, r.metric or None, r.onlink))
    return ops
