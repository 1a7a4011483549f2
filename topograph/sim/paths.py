"""Destination classes and what holds for a whole class: routes, first hops, chains of routers, ARP answers.

The fast matrix (sim/classes.py) asks these questions of one representative address per class and caches the
answers; nothing here depends on which node the destination address belongs to.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from topograph.model import IPAddress
from topograph.sim.fib import FibRoute, select_source
from topograph.sim.forward import rp_filter_problem, rp_problem
from topograph.sim.l2 import candidates
from topograph.sim.network import Network
from topograph.sim.trace import Disposition as D

EC = tuple[int, int]  # (family, index of the address range)
# a way the shortcut cannot speak for: NAT, a neighbour learnt earlier in the flow, or a segment whose frames are
# bridged through a node's netfilter (bridge netfilter: conntrack, NAT, the forward chain and ND meet them there)
COMPLEX = ("complex",)
FILTERED = ("", "")  # a neighbour that stays silent because of its reverse-path filter


class Classes:
    """Address ranges inside which every node's routing table and every NAT rule give the same answer."""

    def __init__(self, net: Network) -> None:
        bounds: dict[int, set[int]] = {4: {0}, 6: {0}}
        for fib in net.fib.values():
            for e in (*fib.v4, *fib.v6):
                bounds[e.net.version] |= {int(e.net.network_address), int(e.net.broadcast_address) + 1}
        for n in net.topology.nodes:
            for m in n.nat:
                bounds[m.source.version] |= {int(m.source.network_address), int(m.source.broadcast_address) + 1}
            # a filter rule's prefixes split classes too: inside a class, every rule's from/to match holds alike
            for c in n.filter:
                for r in c.rules:
                    for p in (r.src, r.dst):
                        if p is not None:
                            bounds[p.version] |= {int(p.network_address), int(p.broadcast_address) + 1}
        self.starts = {4: sorted(b for b in bounds[4] if b < 2**32), 6: sorted(b for b in bounds[6] if b < 2**128)}
        self._reps: dict[EC, IPAddress] = {}
        self._owned = net.owner.keys()

    def of(self, address: IPAddress) -> EC:
        return (address.version, bisect_right(self.starts[address.version], int(address)) - 1)

    def representative(self, ec: EC) -> IPAddress:
        """An address of the class that no node owns when there is one (a /32 rule or route can make a class start
        at a node's address, which the ARP and martian checks would treat as that node's own)."""
        found = self._reps.get(ec)
        if found is None:
            family, i = ec
            make = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
            starts = self.starts[family]
            last = starts[i + 1] - 1 if i + 1 < len(starts) else 2 ** (32 if family == 4 else 128) - 1
            value = starts[i]
            while value < last and make(value) in self._owned:
                value += 1
            if make(value) in self._owned:
                value = starts[i]
            found = self._reps[ec] = make(value)
        return found


@dataclass(frozen=True, slots=True)
class Chain:
    """Routers a packet of one (destination class, source class) passes from a first arrival, and how it ends."""

    states: tuple[tuple[str, str, bool, FibRoute | None, D | None], ...]  # node, in-interface, forwards, route, rp verdict
    end: tuple[object, ...]  # ("stop",) | ("neigh", node) | ("onlink", node, dev, domain) | ("complex",)
    nodes: int  # bit set of the nodes in `states` (over source indices)
    filtered: bool = False  # a node in `states` has a filter chain that may drop or reject
    classes: tuple[EC, EC] = ((4, 0), (4, 0))  # (destination class, source class) of the packets it carries
    names: frozenset[str] = frozenset()  # the nodes in `states`: each holds a conntrack entry of a request


Group = tuple[tuple[object, ...], int, IPAddress | None]  # (first-hop key, bit set of sources, a source address)


class _Grouping:
    """Sources gathered by first-hop key, in the order the keys first appear; each group keeps its first address."""

    def __init__(self) -> None:
        self.bits: dict[tuple[object, ...], int] = {}
        self.src: dict[tuple[object, ...], IPAddress | None] = {}

    def add(self, key: tuple[object, ...], src: IPAddress | None, bits: int) -> None:
        self.bits[key] = self.bits.get(key, 0) | bits
        self.src.setdefault(key, src)

    def groups(self) -> list[Group]:
        return [(k, b, self.src[k]) for k, b in self.bits.items()]


class Paths:
    """Per destination class: the routes, the sources' first hops and the chains of routers after them, memoised."""

    def __init__(self, net: Network, sources: Sequence[str]) -> None:
        self.net = net
        self.sources = tuple(sources)
        self.bit = {s: 1 << i for i, s in enumerate(self.sources)}
        self.classes = Classes(net)
        self.ttl = net.options.ttl
        self.address: dict[tuple[str, EC], IPAddress] = {}  # (source, class of its address) -> the address
        self._route: dict[tuple[str, EC], FibRoute | None] = {}
        self._groups: dict[EC, list[Group]] = {}
        self._chains: dict[tuple[str, str, EC, EC], Chain] = {}
        self._neigh: dict[tuple[object, ...], tuple[str, str] | None] = {}
        self._sources: dict[tuple[str, str, EC], IPAddress | None] = {}
        self._first: dict[tuple[object, ...], tuple[tuple[object, ...], IPAddress | None]] = {}
        self._defaults: dict[int, list[Group]] = {}
        self._own_way: dict[int, int] = {}
        self._covers: dict[EC, int] | None = None
        self.nf_domains = {d for n in net.nf_bridges for br in net.nodes[n].bridges
                           if (d := net.l2.domain.get(br.key)) is not None}

    def bridged_nf(self, node: str, dev: str) -> bool:
        """Does a frame `node` sends out of `dev` cross a segment with a bridge whose node's netfilter it meets?"""
        return bool(self.nf_domains) and self.net.l2.domain.get((node, dev)) in self.nf_domains

    def route(self, node: str, ec: EC) -> FibRoute | None:
        key = (node, ec)
        if key not in self._route:
            self._route[key] = self.net.fib[node].lookup(self.classes.representative(ec))
        return self._route[key]

    def masquerades(self, node: str, dev: str, src: IPAddress) -> bool:
        if not self.net.nodes[node].nat:
            return False
        # an SNAT's destination match is left to the walker: any rule that may translate makes the flow complex
        return any(m.out in (dev, None) and m.source.version == src.version and src in m.source
                   for m in self.net.nodes[node].nat)

    def neighbour(self, node: str, dev: str, nh: IPAddress, sip: IPAddress | None) -> tuple[str, str] | None:
        """Who answers `node`'s ARP/ND for `nh` out of `dev` (sip: the source address of the request)."""
        d = self.net.l2.domain.get((node, dev))
        return None if d is None else self.neighbour_in(d, node, nh, sip)

    def neighbour_in(self, d: int, asker: str, nh: IPAddress, sip: IPAddress | None) -> tuple[str, str] | None:
        key = (d, asker, nh.version, int(nh), int(sip) if sip is not None else None)  # ints: an address hashes slowly
        if key not in self._neigh:
            self._neigh[key] = self._neighbour_in(d, asker, nh, sip)
        return self._neigh[key]

    def source(self, node: str, dev: str, toward: EC) -> IPAddress | None:
        """The source address `node` picks out of `dev` toward an address of class `toward`."""
        key = (node, dev, toward)
        if key not in self._sources:
            self._sources[key] = select_source(self.net.nodes[node], dev, self.classes.representative(toward))
        return self._sources[key]

    def _neighbour_in(self, d: int, asker: str, nh: IPAddress, sip: IPAddress | None) -> tuple[str, str] | None:
        net = self.net
        found = candidates(net.l2, d, nh, net.owner_in(nh, d), asker)
        if not found:
            return None
        if nh.version == 4 and sip is not None:
            found = [c for c in found if rp_problem(net, c.node, c.name, sip) is None]
            if not found:
                # silent because of its reverse-path filter: a neighbour entry learnt earlier in the flow may still
                # carry the packet, which only the walker knows about (except on a flow's very first ARP)
                return FILTERED
        return (found[0].node, found[0].name)

    def groups(self, ec: EC) -> list[Group]:
        """Sources grouped by their first hop toward class `ec`: (key, bit set, a source address of the group).

        Most sources reach most classes by their default route (or miss them all alike): those answers are
        computed once per family; only sources with a more specific route covering `ec` are asked again.
        """
        if ec in self._groups:
            return self._groups[ec]
        rep = self.classes.representative(ec)
        by = _Grouping()
        special = self.specific(ec)
        for key, bits, src in self.by_default(ec[0]):
            if bits & ~special:
                by.add(key, src, bits & ~special)
        rest = special
        while rest:
            low = rest & -rest
            rest ^= low
            name = self.sources[low.bit_length() - 1]
            key, src = self.first_hop(name, ec, rep)
            if src is not None:
                self.address[(name, self.classes.of(src))] = src
            by.add(key, src, low)
        out = self._groups[ec] = by.groups()
        return out

    def by_default(self, family: int) -> list[Group]:
        """Every source's first hop by its default route (or its lack of one), for classes no other route covers."""
        if family in self._defaults:
            return self._defaults[family]
        by = _Grouping()
        self._own_way.setdefault(family, 0)
        for name in self.sources:
            fib = self.net.fib[name]
            default = next((r for r in (fib.v4 if family == 4 else fib.v6) if r.net.prefixlen == 0), None)
            if default is not None and default.via is None:
                self._own_way[family] |= self.bit[name]  # an on-link default route: its source address depends on the class
                continue
            key: tuple[object, ...]
            src: IPAddress | None
            if default is None:
                key, src = ("drop", D.NO_ROUTE), None
            else:
                cached = (name, id(default), None)  # the same cache `first_hop` fills for routes through a gateway
                if cached not in self._first:
                    self._first[cached] = self._first_hop(name, default, self.classes.representative((family, 0)))
                key, src = self._first[cached]
                if src is not None:
                    self.address[(name, self.classes.of(src))] = src
            by.add(key, src, self.bit[name])
        out = self._defaults[family] = by.groups()
        return out

    def specific(self, ec: EC) -> int:
        """Sources a route more specific than the default covers for class `ec` (or whose default is on-link)."""
        if self._covers is None:
            covers: dict[EC, int] = {}
            starts = self.classes.starts
            for name in self.sources:
                fib = self.net.fib[name]
                for r in (*fib.v4, *fib.v6):
                    if r.net.prefixlen == 0:
                        continue
                    fam = r.net.version
                    lo = bisect_right(starts[fam], int(r.net.network_address)) - 1
                    hi = bisect_right(starts[fam], int(r.net.broadcast_address))
                    for i in range(lo, hi):
                        covers[(fam, i)] = covers.get((fam, i), 0) | self.bit[name]
            self._covers = covers
        self.by_default(ec[0])
        return self._covers.get(ec, 0) | self._own_way.get(ec[0], 0)

    def first_hop(self, s: str, ec: EC, rep: IPAddress) -> tuple[tuple[object, ...], IPAddress | None]:
        r = self.route(s, ec)
        if r is None:
            return ("drop", D.NO_ROUTE), None
        # through a gateway, nothing below depends on the destination class: one answer per (node, route)
        key = (s, id(r), ec if r.via is None else None)
        found = self._first.get(key)
        if found is None:
            found = self._first[key] = self._first_hop(s, r, rep)
        return found

    def _first_hop(self, s: str, r: FibRoute, rep: IPAddress) -> tuple[tuple[object, ...], IPAddress | None]:
        src = select_source(self.net.nodes[s], r.dev, r.via or rep)
        if src is None:
            return ("drop", D.NO_ROUTE), None
        if self.masquerades(s, r.dev, src) or self.bridged_nf(s, r.dev):
            return COMPLEX, src
        e_src = self.classes.of(src)
        if r.via is not None:
            ans = self.neighbour(s, r.dev, r.via, src)
            if ans is None or ans == FILTERED:  # the flow's first ARP: nothing learnt yet, so silence is final
                return ("drop", D.NEIGHBOR_UNREACHABLE), src
            return ("gw", ans[0], ans[1], e_src), src
        d = self.net.l2.domain.get((s, r.dev))
        if d is None:
            return ("drop", D.NEIGHBOR_UNREACHABLE), src
        return ("onlink", d, e_src), src

    def chain(self, node: str, itf: str, e_dst: EC, e_src: EC) -> Chain:
        key = (node, itf, e_dst, e_src)
        found = self._chains.get(key)
        if found is not None:
            return found
        net = self.net
        src = self.classes.representative(e_src)
        states = []
        bits = 0
        filtered = False
        end: tuple[object, ...] = ("stop",)
        while True:
            filtered = filtered or net.nodes[node].filters
            fwd = net.nodes[node].forwarding
            r = self.route(node, e_dst) if fwd else None
            rp = rp_filter_problem(net, node, itf, src)
            states.append((node, itf, fwd, r, rp[0] if rp else None))
            bits |= self.bit.get(node, 0)
            if len(states) >= self.ttl or r is None or rp is not None:
                break
            if self.masquerades(node, r.dev, src) or self.bridged_nf(node, r.dev):
                end = COMPLEX
                break
            if r.via is None:
                d = net.l2.domain.get((node, r.dev))
                end = ("onlink", node, r.dev, d) if d is not None else ("neigh", node)
                break
            sip = select_source(net.nodes[node], r.dev, r.via)
            ans = self.neighbour(node, r.dev, r.via, sip)
            if ans is None:
                end = ("neigh", node)
                break
            if ans == FILTERED:
                end = COMPLEX
                break
            node, itf = ans
        chain = Chain(tuple(states), end, bits, filtered, (e_dst, e_src), frozenset(st[0] for st in states))
        self._chains[key] = chain
        return chain
