"""Per-node routing tables from the model: connected routes of up interfaces, static routes, longest prefix then metric."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from topograph.model import LOOPBACK, Interface, IPAddress, IPNetwork, Node, Route

# The kernel's default metrics: IPv4 routes get 0, IPv6 static routes 1024 and IPv6 prefix routes 256.
_STATIC_METRIC = {4: 0, 6: 1024}
_CONNECTED_METRIC = {4: 0, 6: 256}


@dataclass(frozen=True, slots=True)
class FibRoute:
    """One installed route: where it sends packets (dev, and the gateway if any)."""

    net: IPNetwork
    dev: str
    via: IPAddress | None
    metric: int
    route: Route | None  # None for a connected route
    order: int

    def describe(self) -> str:
        to = "default" if self.net.prefixlen == 0 else str(self.net)
        if self.route is None:
            return f"{to} dev {self.dev} (connected)"
        via = f" via {self.via}" if self.via is not None else ""
        metric = f" metric {self.route.metric}" if self.route.metric is not None else ""
        onlink = " onlink" if self.route.onlink else ""
        return f"{to}{via} dev {self.dev}{metric}{onlink}"


def usable(itf: Interface, address: ipaddress.IPv4Interface | ipaddress.IPv6Interface, carrier: bool) -> bool:
    """Can the node use this address (as a local address and a source)?

    IPv4 addresses stay local even on a down interface (the kernel keeps their local routes); an IPv6
    address on an interface that is down or without carrier never finishes duplicate address detection.
    """
    if address.version == 4:
        return True
    return itf.up and (carrier or itf.name == LOOPBACK)


class Fib:
    """The main table of one node, per family, already sorted the way the kernel picks: longest prefix, then metric.

    Connected routes exist for every address of an interface that is up, with or without carrier: the kernel
    marks them 'linkdown' but still uses them (ignore_routes_with_linkdown=0).
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        entries: list[FibRoute] = []
        order = 0
        for itf in node.interfaces:
            if not itf.up or itf.bridge is not None:
                continue
            for a in itf.addresses:
                if itf.name == LOOPBACK and a.network.prefixlen == a.max_prefixlen:
                    continue  # a /32 on lo is only a local address, it makes no subnet route
                entries.append(FibRoute(a.network, itf.name, None, _CONNECTED_METRIC[a.version], None, order))
                order += 1
        connected = list(entries)
        for r in node.routes:
            dev = r.dev
            if r.via is not None and dev is None:
                hit = _lookup(connected, r.via)
                dev = hit.dev if hit is not None else None
            out = node.interface(dev) if dev is not None else None
            if out is None or not out.up:
                continue  # the kernel would refuse to install it
            metric = r.metric if r.metric is not None else _STATIC_METRIC[r.family]
            entries.append(FibRoute(r.to, out.name, r.via, metric, r, order))
            order += 1
        self.v4 = sorted((e for e in entries if e.net.version == 4), key=lambda e: (-e.net.prefixlen, e.metric, e.order))
        self.v6 = sorted((e for e in entries if e.net.version == 6), key=lambda e: (-e.net.prefixlen, e.metric, e.order))
        # IPv6 routes another route ties with (same prefix, same metric): an echo reply may take either (lookup's oif)
        firsts: dict[tuple[IPNetwork, int], FibRoute] = {}
        tied: set[FibRoute] = set()
        for e in self.v6:
            first = firsts.setdefault((e.net, e.metric), e)
            if first is not e:
                tied.add(first)
        self.tied_v6 = frozenset(tied)
        # per family: (prefix length, mask, {network as int: best route}) from the longest prefix down
        self._index = {4: _index(self.v4, 32), 6: _index(self.v6, 128)}

    def lookup(self, address: IPAddress, oif: str | None = None) -> FibRoute | None:
        """The route to `address`. `oif`: an IPv6 lookup that asks for that interface (an ICMPv6 echo reply, which
        the kernel sends with the request's interface as flowi6_oif) takes, among the winning prefix's routes of
        the winning metric, the one out of `oif` if there is one (rt6_score_route -> rt6_check_dev; measured)."""
        value = int(address)
        for _, mask, table in self._index[address.version]:
            hit = table.get(value & mask)
            if hit is not None:
                if oif is not None and hit.dev != oif and address.version == 6:
                    return next((e for e in self.v6 if e.net == hit.net and e.metric == hit.metric and e.dev == oif), hit)
                return hit
        return None


def _index(entries: list[FibRoute], bits: int) -> list[tuple[int, int, dict[int, FibRoute]]]:
    by_len: dict[int, dict[int, FibRoute]] = {}
    for e in entries:  # already in preference order: the first route of a prefix wins
        by_len.setdefault(e.net.prefixlen, {}).setdefault(int(e.net.network_address), e)
    full = (1 << bits) - 1
    return [(n, full ^ ((1 << (bits - n)) - 1), by_len[n]) for n in sorted(by_len, reverse=True)]


def _lookup(entries: list[FibRoute], address: IPAddress) -> FibRoute | None:
    for e in entries:
        if address.version == e.net.version and address in e.net:
            return e
    return None


def select_source(node: Node, dev: str, toward: IPAddress) -> IPAddress | None:
    """The source address Linux picks for a packet out of `dev` toward `toward` (the gateway or the destination).

    An address of `dev` in the same subnet as `toward` first, else dev's first address of the family, else
    the first address of the family anywhere in the node (loopback's 127.0.0.1 and ::1 excluded).
    """
    itf = node.interface(dev)
    family = toward.version
    if itf is not None:
        mine = [a for a in itf.addresses if a.version == family]
        for a in mine:
            if toward in a.network:
                return a.ip
        if mine:
            return mine[0].ip
    for other in node.interfaces:
        for a in other.addresses:
            if a.version == family and not a.ip.is_loopback:
                return a.ip
    return None
