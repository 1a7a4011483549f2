"""One flow, hop by hop, as the kernel handles it: routing, ARP/ND, rp_filter, TTL, NAT with conntrack, listeners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from topograph.model import Interface, IPAddress, Proto
from topograph.sim.fib import FibRoute, select_source
from topograph.sim.l2 import candidates
from topograph.sim.network import Network
from topograph.sim.trace import Action, Disposition, Flow, FlowResult, Hop, Step, Trace

CLIENT_PORT = 40000  # the client's source port (TCP), and the ICMP echo identifier
ECHO_ID = 4242

Tuple4 = tuple[IPAddress, IPAddress, int, int]
Direction = Literal["orig", "reply", "new"]  # a packet's direction in its conntrack entry ("new": it created the entry)


@dataclass
class Packet:
    src: IPAddress | None
    dst: IPAddress
    sport: int
    dport: int
    ttl: int
    proto: Proto

    @property
    def tuple(self) -> Tuple4:
        assert self.src is not None
        return (self.src, self.dst, self.sport, self.dport)

    def show(self) -> str:
        if self.proto is Proto.ICMP:
            return f"{self.src} -> {self.dst}"
        return f"{_hp(self.src)}:{self.sport} -> {_hp(self.dst)}:{self.dport}"


def _itself(dst: IPAddress) -> str:
    """A node's own address as a trace names it; 0.0.0.0 and :: mean the node itself to the kernel."""
    if dst.is_unspecified:
        return f"itself at {dst} (which the kernel sends to {'127.0.0.1' if dst.version == 4 else '::1'})"
    return f"its own address {dst}"


def _hp(a: IPAddress | None) -> str:
    return f"[{a}]" if a is not None and a.version == 6 else str(a)


@dataclass
class CtEntry:
    """A conntrack entry: the original tuple and, once NAT is decided, the tuple it was translated to."""

    orig: Tuple4
    trans: Tuple4 | None = None

    @property
    def reply(self) -> Tuple4:
        t = self.trans or self.orig
        return (t[1], t[0], t[3], t[2])


@dataclass
class Leg:
    """How one packet's walk ended."""

    disposition: Disposition
    node: str
    reason: str
    hops: list[Hop]
    packet: Packet
    local: bool = False  # delivered over the node's own loopback


@dataclass
class _Hop:
    node: str
    steps: list[Step] = field(default_factory=list)

    def add(self, action: Action, detail: str) -> None:
        self.steps.append(Step(action, detail))

    def freeze(self) -> Hop:
        return Hop(self.node, tuple(self.steps))


class Walker:
    """The reference simulator: walks one flow at a time, request then reply, with conntrack state."""

    def __init__(self, net: Network, *, explain: bool = True) -> None:
        self.net = net
        self.explain = explain  # False: verdicts only, no hop details or reasons (the matrix's hot path)
        self.original: Tuple4 | None = None  # the request as its source sent it
        self.neigh: dict[tuple[str, str, IPAddress], Interface] = {}  # (node, interface, address) -> neighbour, per flow

    # -- one flow ----------------------------------------------------------------------------------
    def run(self, flow: Flow) -> FlowResult:
        net = self.net
        proto = flow.proto
        dport = flow.port if flow.port is not None else ECHO_ID
        sport = CLIENT_PORT if proto is not Proto.ICMP else ECHO_ID
        ct: dict[str, list[CtEntry]] = {}
        self.neigh = {}
        pkt = Packet(None, flow.dst, sport, dport, net.options.ttl, proto)
        req = self.walk(flow.src, pkt, ct, reply=False)
        request = Trace(req.disposition, tuple(req.hops))
        if not req.disposition.ok:
            return FlowResult(flow, req.disposition, req.node, req.reason, request)
        sent = req.packet  # as the target received it
        if req.local:
            if proto is not Proto.ICMP and (flow.src, proto, dport) not in net.listeners:
                return FlowResult(flow, Disposition.CONNECTION_REFUSED, flow.src,
                                  f"{flow.src} has no listener on {proto}/{dport} (its own traffic skips port forwards)", request)
            return FlowResult(flow, Disposition.DELIVERED, flow.src,
                              f"{flow.src} reaches {_itself(flow.dst)} over loopback", request)
        target = req.node
        refused = proto is not Proto.ICMP and (target, proto, sent.dport) not in net.listeners
        assert sent.src is not None
        back = Packet(sent.dst, sent.src, sent.dport, sent.sport, net.options.ttl, proto)
        rep = self.walk(target, back, ct, reply=True, refused=refused)
        reply = Trace(rep.disposition, tuple(rep.hops))
        original = self.original
        assert original is not None
        expected = (original[1], original[0], original[3], original[2])
        what = "reply" if not refused else "reset"
        if not rep.disposition.ok:
            reason = f"the request reached {target}, but its {what} was lost: {rep.reason}"
            return FlowResult(flow, Disposition.REPLY_LOST, rep.node, reason, request, reply)
        got = rep.packet.tuple
        if rep.node != flow.src:
            reason = f"the request reached {target}, but its {what} ({rep.packet.show()}) was delivered to {rep.node}"
            return FlowResult(flow, Disposition.REPLY_LOST, rep.node, reason, request, reply)
        if got != expected and proto is Proto.ICMP and got[1:] == expected[1:]:
            # ping matches echo replies by identifier only: an answer from another address still counts
            return FlowResult(flow, Disposition.DELIVERED, target,
                              f"{flow.src} reaches {flow.dst} on {target}; the reply comes back from {got[0]} "
                              f"(translated on the way back), which ping accepts", request, reply)
        if got != expected:
            src = _hp(got[0]) + (f":{got[2]}" if proto is not Proto.ICMP else "")
            want = _hp(expected[0]) + (f":{expected[2]}" if proto is not Proto.ICMP else "")
            natted = sorted({n for n, es in ct.items() for e in es if e.trans is not None and e.trans != e.orig})
            by = " and ".join(natted) or "the node"
            reason = (f"the {what} from {target} reached {flow.src} from {src} instead of {want}: it bypassed {by}, "
                      f"which translated the request, so {flow.src} rejects it")
            if any(h.steps and h.steps[0].action is Action.BRIDGED and h.node in natted for h in rep.hops):
                reason += " (bridged frames skip netfilter: bridge-nf-call-iptables=0)"
            return FlowResult(flow, Disposition.NAT_NO_RETURN, flow.src, reason, request, reply)
        if refused:
            reason = f"{target} has no listener on {proto}/{sent.dport}"
            if sent.dst != flow.dst or sent.dport != dport:
                reason += f" (the request was forwarded to {_hp(sent.dst)}:{sent.dport})"
            return FlowResult(flow, Disposition.CONNECTION_REFUSED, target, reason, request, reply)
        via = f" (forwarded to {_hp(sent.dst)}:{sent.dport})" if sent.dst != flow.dst else ""
        return FlowResult(flow, Disposition.DELIVERED, target,
                          f"{flow.src} reaches {flow.dst}{via} on {target}, and the {what} comes back", request, reply)

    # -- one packet --------------------------------------------------------------------------------
    def walk(self, start: str, pkt: Packet, ct: dict[str, list[CtEntry]], *, reply: bool, refused: bool = False) -> Leg:
        net = self.net
        hops: list[_Hop] = []
        hop = _Hop(start)
        hops.append(hop)

        def end(d: Disposition, node: str, reason: str | Callable[[], str]) -> Leg:
            if not self.explain:
                return Leg(d, node, "", [], pkt)
            text = reason if isinstance(reason, str) else reason()
            hop.add(Action.DELIVERED if d.ok else Action.DROPPED, text)
            return Leg(d, node, text, [h.freeze() for h in hops], pkt)

        node = net.nodes[start]
        if pkt.src is None and net.is_local(start, pkt.dst):
            hop.add(Action.ORIGINATED, f"to {_itself(pkt.dst)}")
            if not net.loopback_up(start):
                return end(Disposition.LOOPBACK_DOWN, start, f"{start} cannot reach {_itself(pkt.dst)}: its loopback "
                           f"interface is down — drop 'up: false' from {start}:lo")
            pkt.src = pkt.dst
            self.original = pkt.tuple
            leg = end(Disposition.DELIVERED, start, f"delivered over loopback on {start}")
            leg.local = True
            return leg
        route = net.fib[start].lookup(pkt.dst)
        if route is None:
            hop.add(Action.ORIGINATED, f"{'reply' if reply else 'request'} to {pkt.dst}")
            return end(Disposition.NO_ROUTE, start, lambda: self.no_route(start, pkt.dst))
        if pkt.src is None:
            pkt.src = select_source(node, route.dev, route.via or pkt.dst)
            if pkt.src is None:
                return end(Disposition.NO_ROUTE, start, f"{start} has no address of IPv{pkt.dst.version} to send from")
        kind = ("reset" if refused else "reply") if reply else "request"
        if self.explain:
            hop.add(Action.ORIGINATED, f"{kind} {pkt.proto} {pkt.show()}")
        if not reply:
            self.original = pkt.tuple
        entry, direction = self.conntrack(start, pkt, ct)
        if self.explain:
            hop.add(Action.ROUTED, f"route {route.describe()}")
        pending = self.reverse_src(entry, direction)
        self.postrouting(hop, start, route, pkt, entry, direction, pending)
        where = (start, route.dev)
        nh = route.via or pkt.dst
        while True:
            # -- the frame crosses the segment ------------------------------------------------------
            sender = where[0]
            domain = net.l2.domain.get(where)
            target = self.neigh.get((sender, where[1], nh))  # learnt from an ARP request earlier in this flow
            if target is None and domain is not None:
                found = candidates(net.l2, domain, nh, net.owner_in(nh, domain), sender)
                sip = None
                if found and nh.version == 4:
                    own = pkt.src is not None and net.is_local(sender, pkt.src)
                    sip = pkt.src if own else select_source(net.nodes[sender], where[1], nh)
                    if sip is not None:  # each interface of the owner on the segment checks the asker's address
                        found = [c for c in found if rp_problem(net, c.node, c.name, sip) is None]
                target = found[0] if found else None
                if target is not None and nh.version == 4 and sip is not None:
                    # the answering node keeps the asker's address and MAC (arp_process -> neigh_event_ns), so a
                    # reply sent back to that address needs no ARP of its own
                    asker = net.nodes[sender].interface(where[1])
                    if asker is not None:
                        self.neigh.setdefault((target.node, target.name, sip), asker)
            if target is None:
                return end(Disposition.NEIGHBOR_UNREACHABLE, sender, partial(self.unreachable, sender, where[1], nh, domain))
            nat_state = net.options.bridge_nf and bool(ct)
            for br in net.l2.bridges_between(where, target.key) if self.explain or nat_state else ():
                bhop = _Hop(br.node)
                bhop.add(Action.BRIDGED, f"through bridge {br.name}")
                hops.append(bhop)
                if net.options.bridge_nf and br.node in ct:
                    known = self.conntrack_lookup(br.node, pkt, ct)  # a bridge only sees connections, never starts one
                    if known is not None and known[1] == "reply":
                        e = known[0]
                        before = pkt.show() if self.explain else ""
                        pkt.src, pkt.dst, pkt.sport, pkt.dport = e.orig[1], e.orig[0], e.orig[3], e.orig[2]
                        if self.explain and pkt.show() != before:
                            bhop.add(Action.UNNAT, f"conntrack (bridge netfilter): {before} becomes {pkt.show()}")
            # -- arrival ----------------------------------------------------------------------------
            m = target.node
            hop = _Hop(m)
            hops.append(hop)
            if self.explain:
                hop.add(Action.RECEIVED, f"in {target.name}")
            entry, direction = self.conntrack(m, pkt, ct)
            if direction == "reply":
                before = pkt.show() if self.explain else ""
                pkt.dst, pkt.dport = entry.orig[0], entry.orig[2]
                if self.explain and pkt.show() != before:
                    hop.add(Action.UNNAT, f"conntrack: destination {before} becomes {pkt.show()}")
            elif direction == "new":
                self.dnat(hop, m, target.name, pkt)
            pending = self.reverse_src(entry, direction)
            if net.is_local(m, pkt.dst):
                problem = rp_problem(net, m, target.name, pkt.src)
                if problem is not None:
                    return end(problem[0], m, problem[1])
                if pending is not None:
                    self.apply_src(hop, pkt, pending)
                if entry.trans is None:
                    entry.trans = pkt.tuple
                return end(Disposition.DELIVERED, m, f"{pkt.dst} is {m}'s own address")
            if not net.nodes[m].forwarding:
                return end(Disposition.FORWARDING_DISABLED, m, f"{m} received a packet for {pkt.dst} but does not forward — "
                           f"add 'forwarding: true' to {m}, or route {pkt.dst} another way")
            route = net.fib[m].lookup(pkt.dst)
            if route is None:
                return end(Disposition.NO_ROUTE, m, partial(self.no_route, m, pkt.dst))
            problem = rp_problem(net, m, target.name, pkt.src)
            if problem is not None:
                return end(problem[0], m, problem[1])
            if pkt.ttl <= 1:
                return end(Disposition.TTL_EXCEEDED, m, partial(self.ttl_text, m, hops))
            pkt.ttl -= 1
            if self.explain:
                hop.add(Action.ROUTED, f"route {route.describe()}")
            self.postrouting(hop, m, route, pkt, entry, direction, pending)
            where = (m, route.dev)
            nh = route.via or pkt.dst

    # -- netfilter ---------------------------------------------------------------------------------
    @staticmethod
    def conntrack_lookup(node: str, pkt: Packet, ct: dict[str, list[CtEntry]]) -> tuple[CtEntry, Direction] | None:
        """The node's conntrack entry the packet belongs to, and in which direction; None for a new connection."""
        t = pkt.tuple
        for e in ct.get(node, []):
            if e.orig == t:
                return e, "orig"
            if e.reply == t:
                return e, "reply"
        return None

    def conntrack(self, node: str, pkt: Packet, ct: dict[str, list[CtEntry]]) -> tuple[CtEntry, Direction]:
        """The node's conntrack entry for the packet, created (direction "new") when it starts a connection."""
        known = self.conntrack_lookup(node, pkt, ct)
        if known is not None:
            return known
        e = CtEntry(pkt.tuple)
        ct.setdefault(node, []).append(e)
        return e, "new"

    @staticmethod
    def reverse_src(entry: CtEntry, direction: Direction) -> tuple[IPAddress, int] | None:
        """The source a reply gets back at POSTROUTING/INPUT (undoing a DNAT of the request)."""
        if direction != "reply":
            return None
        return (entry.orig[1], entry.orig[3])

    def apply_src(self, hop: _Hop, pkt: Packet, pending: tuple[IPAddress, int]) -> None:
        before = pkt.show() if self.explain else ""
        pkt.src, pkt.sport = pending
        if self.explain and pkt.show() != before:
            hop.add(Action.UNNAT, f"conntrack: source {before} becomes {pkt.show()}")

    def dnat(self, hop: _Hop, node: str, in_itf: str, pkt: Packet) -> None:
        for f in self.net.nodes[node].port_forwards:
            if f.proto is not pkt.proto or f.port != pkt.dport or f.to_address.version != pkt.dst.version:
                continue
            if f.in_interface is not None and f.in_interface != in_itf:
                continue
            if self.net.options.dnat_local_only and not self.net.is_local(node, pkt.dst):
                continue
            before = pkt.show() if self.explain else ""
            pkt.dst, pkt.dport = f.to_address, f.to_port
            if self.explain:
                hop.add(Action.DNAT, f"port forward {f.proto}/{f.port}: {before} becomes {pkt.show()}")
            return

    def postrouting(self, hop: _Hop, node: str, route: FibRoute, pkt: Packet, entry: CtEntry, direction: Direction,
                    pending: tuple[IPAddress, int] | None) -> None:
        if pending is not None:
            self.apply_src(hop, pkt, pending)
        if direction != "new":
            return
        n = self.net.nodes[node]
        assert pkt.src is not None
        for m in n.nat:
            if m.out == route.dev and pkt.src.version == m.source.version and pkt.src in m.source:
                new = select_source(n, route.dev, route.via or pkt.dst)
                if new is not None and new != pkt.src:
                    before = pkt.show() if self.explain else ""
                    pkt.src = new
                    if self.explain:
                        hop.add(Action.SNAT, f"masquerade out {m.out}: {before} becomes {pkt.show()}")
                break
        entry.trans = pkt.tuple

    # -- checks and reasons ------------------------------------------------------------------------
    def no_route(self, node: str, dst: IPAddress) -> str:
        owner = self.net.owner.get(dst)
        target = dst
        if owner is not None:
            for a in owner.addresses:
                if a.ip == dst and a.network.prefixlen < a.max_prefixlen:
                    target = a.network  # type: ignore[assignment]
        text = f"{node} has no route to {target}"
        gw = self.suggest_gateway(node, dst)
        return text + (f" — add a route via {gw}" if gw is not None else " — add a route to it")

    def suggest_gateway(self, node: str, dst: IPAddress) -> IPAddress | None:
        """A neighbour's address through which `dst` is routable: the gateway the author probably forgot."""
        net = self.net
        for itf in net.nodes[node].interfaces:
            d = net.l2.domain.get(itf.key)
            if d is None:
                continue
            for other in net.l2.members[d]:
                if other.node == node or not net.nodes[other.node].forwarding:
                    continue
                if not (net.is_local(other.node, dst) or net.fib[other.node].lookup(dst) is not None):
                    continue
                for a in other.addresses:
                    if a.version == dst.version:
                        return a.ip
        return None

    def unreachable(self, node: str, dev: str, nh: IPAddress, domain: int | None) -> str:
        net = self.net
        what = "ARP" if nh.version == 4 else "neighbour solicitation"
        if domain is None:
            itf = net.nodes[node].interface(dev)
            why = "it is down" if itf is not None and not itf.up else "it has no carrier (its link or bridge is down)"
            return f"{node} sends {nh} out {dev}, but {why}"
        owner = net.owner_in(nh, domain)
        text = f"{node}: no answer to {what} for {nh} out {dev}"
        if owner is None:
            return text + f" — no node has {nh}"
        if owner.node == node:
            return text + f" — {nh} is {node}'s own address"
        if net.l2.node_interface(domain, owner.node) is None or nh.version == 6:
            return text + f" — {owner.label} has it, but is not on that segment"
        return text + f" — {owner.node}'s reverse-path filter ignores the request"

    def ttl_text(self, node: str, hops: list[_Hop]) -> str:
        received = [h.node for h in hops if h.steps and h.steps[0].action is Action.RECEIVED]
        return f"the TTL ran out at {node}: a routing loop " + self.loop_text(received)

    @staticmethod
    def loop_text(nodes: list[str]) -> str:
        seen: list[str] = []
        for n in nodes:
            if n in seen:
                cycle = [*seen[seen.index(n):], n]
                return "between " + " -> ".join(cycle)
            seen.append(n)
        return "through " + " -> ".join(nodes[-6:])


def trace_flow(net: Network, flow: Flow) -> FlowResult:
    return Walker(net).run(flow)


def rp_problem(net: Network, node: str, itf: str, src: IPAddress | None) -> tuple[Disposition, str] | None:
    """Martian source or reverse-path filter verdict for a packet (or ARP request) from `src` arriving on node:itf."""
    if src is None or src.version != 4:
        return None
    if src in net.local[node]:
        return (Disposition.LOOP, f"{node} dropped a packet arriving on {itf} with its own address {src} as source "
                f"(martian): its own packet was routed back to it — a routing loop")
    return rp_filter_problem(net, node, itf, src)


def rp_filter_problem(net: Network, node: str, itf: str, src: IPAddress) -> tuple[Disposition, str] | None:
    """The reverse-path filter alone (IPv4): is the route back to `src` acceptable for a packet in on `itf`?"""
    if src.version != 4:
        return None
    mode = net.nodes[node].rp_filter.value
    if mode == "disabled":
        return None
    back = net.fib[node].lookup(src)
    if back is None:
        return (Disposition.RP_FILTER_DROP, f"{node} ({mode} rp_filter) dropped a packet from {src} on {itf}: it has no "
                f"route back to {src} — add one, or set rp_filter: disabled")
    if mode == "strict" and back.dev != itf:
        return (Disposition.RP_FILTER_DROP, f"{node} (strict rp_filter) dropped a packet from {src} on {itf}: its route "
                f"back to {src} leaves by {back.dev} — make the paths symmetric, or set rp_filter: loose")
    return None
