"""One flow, hop by hop, as the kernel handles it: routing, ARP/ND, rp_filter, TTL, NAT with conntrack, filter
chains, listeners."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from topograph.model import CtState, Hook, Interface, IPAddress, Proto
from topograph.sim.bridging import Bridging
from topograph.sim.fib import select_source
from topograph.sim.filtering import Verdict as ChainVerdict
from topograph.sim.handshake import Handshake
from topograph.sim.l2 import candidates
from topograph.sim.ndisc import LINK_LOCAL, exchange, nd_filters
from topograph.sim.network import Network
from topograph.sim.packet import WHAT, Answer, CtEntry, Direction, HopSteps, Kind, Leg, Packet, Tuple4, hp
from topograph.sim.reasons import Reasons, rp_filter_problem, rp_problem
from topograph.sim.trace import Action, Disposition, Flow, FlowResult, Trace

__all__ = ["CLIENT_PORT", "ECHO_ID", "Walker", "rp_filter_problem", "rp_problem", "trace_flow"]

CLIENT_PORT = 40000  # the client's source port (TCP, UDP), and the ICMP echo identifier
ECHO_ID = 4242

def _itself(dst: IPAddress) -> str:
    """A node's own address as a trace names it; 0.0.0.0 and :: mean the node itself to the kernel."""
    if dst.is_unspecified:
        return f"itself at {dst} (which the kernel sends to {'127.0.0.1' if dst.version == 4 else '::1'})"
    return f"its own address {dst}"


class Walker(Bridging, Handshake, Reasons):
    """The reference simulator: walks one flow at a time, request then reply, with conntrack state."""

    def __init__(self, net: Network, *, explain: bool = True) -> None:
        self.net = net
        self.explain = explain  # False: verdicts only, no hop details or reasons (the matrix's hot path)
        self.original: Tuple4 | None = None  # the request as its source sent it
        self.neigh: dict[tuple[str, str, IPAddress], Interface] = {}  # (node, interface, address) -> neighbour, per flow
        self.third_leg = False  # walking a TCP handshake's final ACK: conntrack translates it as it did the SYN
        self.pickup = False  # walking a server's data: conntrack picks a TCP connection up from it where it had none

    # -- one flow ----------------------------------------------------------------------------------
    def run(self, flow: Flow) -> FlowResult:
        net = self.net
        proto = flow.proto
        dport = flow.port if flow.port is not None else ECHO_ID
        sport = CLIENT_PORT if proto is not Proto.ICMP else ECHO_ID
        ct: dict[str, list[CtEntry]] = {}
        self.neigh = {}
        pkt = Packet(None, flow.dst, sport, dport, net.options.ttl, proto)
        req = self.walk(flow.src, pkt, ct, kind="request")
        request = Trace(req.disposition, tuple(req.hops))
        if req.answer is not None:
            return self.rejected(flow, req, ct, request)
        if not req.disposition.ok:
            return FlowResult(flow, req.disposition, req.node, req.reason, request)
        sent = req.packet  # as the target received it
        target = req.node
        listening = proto is Proto.ICMP or (target, proto, sent.dport) in net.listeners
        kind: Kind = "reply" if listening else "reset" if proto is Proto.TCP else "error"
        assert sent.src is not None
        if kind == "error":  # a closed UDP port: the target's stack answers ICMP port unreachable
            back = Packet(sent.dst, sent.src, 0, 0, net.options.ttl, Proto.ICMP, sent.tuple)
        else:
            back = Packet(sent.dst, sent.src, sent.dport, sent.sport, net.options.ttl, proto)
        if req.local:
            return self.local(flow, req, back, kind, ct, request)
        # the kernel sends an ICMPv6 echo reply with the request's interface as its output interface (icmpv6_echo_reply:
        # flowi6_oif = icmp6_iif), so of two routes to one prefix it takes the one out of that interface (measured);
        # TCP answers, ICMPv6 errors and IPv4 follow the route lookup alone
        echo = req.iif if proto is Proto.ICMP and kind == "reply" and sent.src.version == 6 else None
        rep = self.walk(target, back, ct, kind=kind, oif=echo)
        done = self.back(flow, target, sent, rep, kind, ct, request)
        if done.ok and proto is Proto.TCP:
            done = self.handshake(flow, done, ct)
            if done.ok:
                done = self.server_data(flow, target, sent, ct, done)
        return done

    def local(self, flow: Flow, req: Leg, back: Packet, kind: Kind, ct: dict[str, list[CtEntry]],
              request: Trace) -> FlowResult:
        """A flow to the node's own address: over loopback both ways (its filter chains see lo)."""
        src, proto = flow.src, flow.proto
        reply: Trace | None = None
        if self.net.nodes[src].filter:
            rep = self.walk(src, back, ct, kind=kind, loopback=True)
            reply = Trace(rep.disposition, tuple(rep.hops))
            if not rep.disposition.ok:
                return FlowResult(flow, rep.disposition, rep.node, f"{src} reaches {_itself(flow.dst)} over loopback, "
                                  f"but its {WHAT[kind]} was lost: {rep.reason}", request, reply)
        if kind != "reply":
            why = " (its own traffic skips port forwards)" if req.packet.dst == flow.dst else \
                f" (a port forward of its own traffic sent it to {hp(req.packet.dst)}:{req.packet.dport})"
            return FlowResult(flow, Disposition.CONNECTION_REFUSED, src, f"{src} has no listener on "
                              f"{proto}/{req.packet.dport}{why}", request, reply)
        done = FlowResult(flow, Disposition.DELIVERED, src, f"{src} reaches {_itself(flow.dst)} over loopback",
                          request, reply)
        return self.handshake(flow, done, ct, loopback=True) if proto is Proto.TCP and reply is not None else done

    def rejected(self, flow: Flow, req: Leg, ct: dict[str, list[CtEntry]], request: Trace) -> FlowResult:
        """A filter rejected the request: its answer goes back from the rejecting node to the source."""
        answer = req.answer
        assert answer is not None
        kind: Kind = "error" if answer.packet.inner is not None else "answer"
        rep = self.walk(req.node, answer.packet, ct, kind=kind, origin=answer)
        reply = Trace(rep.disposition, tuple(rep.hops))
        if rep.disposition.ok and rep.node == flow.src and flow.proto is Proto.ICMP and flow.dst.version == 6 \
                and flow.dst.is_unspecified and answer.packet.inner is not None:
            # the kernel sends a ping of :: to ::1, so its error is about ::1; ping (iputils) takes an error only
            # about the address it pinged (::) as its own, ignores this one and hears nothing (measured). IPv4's
            # ping turns 0.0.0.0 into 127.0.0.1 itself, and a TCP or UDP socket to :: is connected to ::1.
            return FlowResult(flow, Disposition.FILTER_DROPPED, req.node,
                              f"{req.reason} and reaches {flow.src}, but it is about ::1, to which the kernel sent "
                              f"the ping of ::, and ping ignores an error about another address than the one it "
                              f"pinged: {flow.src} hears nothing" if self.explain else "", request, reply)
        if rep.disposition.ok and rep.node == flow.src:
            tcp = "the connection fails at once"
            if flow.dst.version == 6 and answer.packet.inner is not None:
                tcp = ("the connection is refused (maybe only after the SYN's first retransmission, 1 s later: an "
                       "ICMPv6 error that comes back while connect() still holds the socket counts as a soft error)")
            how = {Proto.TCP: tcp, Proto.ICMP: "the ping fails at once",
                   Proto.UDP: "a connected UDP socket gets 'connection refused' at once"}[flow.proto]
            return FlowResult(flow, Disposition.FILTER_REJECTED, req.node,
                              f"{req.reason} and reaches {flow.src}: {how}" if self.explain else "", request, reply)
        if rep.disposition.ok:
            reason = f"{req.reason}, but it is delivered to {rep.node}: {flow.src} times out"
        else:
            reason = f"{req.reason}, but that answer is lost on the way back, so {flow.src} times out: {rep.reason}"
        return FlowResult(flow, Disposition.FILTER_DROPPED, rep.node, reason if self.explain else "", request, reply)

    def back(self, flow: Flow, target: str, sent: Packet, rep: Leg, kind: Kind, ct: dict[str, list[CtEntry]],
             request: Trace) -> FlowResult:
        """The flow's end once its reply (or reset, or port unreachable) has been walked back from the target."""
        proto = flow.proto
        dport = sent.dport if flow.port is None else flow.port
        reply = Trace(rep.disposition, tuple(rep.hops))
        what = WHAT[kind]
        if rep.disposition is Disposition.FILTER_DROPPED:
            reason = f"the request reached {target}, but its {what} was dropped: {rep.reason}"
            return FlowResult(flow, Disposition.FILTER_DROPPED, rep.node, reason, request, reply)
        if not rep.disposition.ok:
            reason = f"the request reached {target}, but its {what} was lost: {rep.reason}"
            return FlowResult(flow, Disposition.REPLY_LOST, rep.node, reason, request, reply)
        if rep.node != flow.src:
            reason = f"the request reached {target}, but its {what} ({rep.packet.show()}) was delivered to {rep.node}"
            return FlowResult(flow, Disposition.REPLY_LOST, rep.node, reason, request, reply)
        original = self.original
        assert original is not None
        expected = (original[1], original[0], original[3], original[2])
        got = rep.packet.tuple
        if kind != "error" and got != expected and proto is Proto.ICMP and got[1:] == expected[1:]:
            # ping matches echo replies by identifier only: an answer from another address still counts
            return FlowResult(flow, Disposition.DELIVERED, target,
                              f"{flow.src} reaches {flow.dst} on {target}; the reply comes back from {got[0]} "
                              f"(translated on the way back), which ping accepts", request, reply)
        if kind != "error" and got != expected:
            src = hp(got[0]) + (f":{got[2]}" if proto is not Proto.ICMP else "")
            want = hp(expected[0]) + (f":{expected[2]}" if proto is not Proto.ICMP else "")
            natted = sorted({n for n, es in ct.items() for e in es if e.trans is not None and e.trans != e.orig})
            by = " and ".join(natted) or "the node"
            reason = (f"the {what} from {target} reached {flow.src} from {src} instead of {want}: it bypassed {by}, "
                      f"which translated the request, so {flow.src} rejects it")
            if any(h.steps and h.steps[0].action is Action.BRIDGED and h.node in natted
                   and not self.net.bridge_nf(h.node) for h in rep.hops):
                reason += (" (frames bridged inside a node skip its netfilter there: bridge_netfilter: false, "
                           "net.bridge.bridge-nf-call-iptables/-ip6tables = 0)")
            return FlowResult(flow, Disposition.NAT_NO_RETURN, flow.src, reason, request, reply)
        if kind != "reply":
            reason = f"{target} has no listener on {proto}/{sent.dport}"
            if sent.dst != flow.dst or sent.dport != dport:
                reason += f" (the request was forwarded to {hp(sent.dst)}:{sent.dport})"
            return FlowResult(flow, Disposition.CONNECTION_REFUSED, target, reason, request, reply)
        via = f" (forwarded to {hp(sent.dst)}:{sent.dport})" if sent.dst != flow.dst else ""
        return FlowResult(flow, Disposition.DELIVERED, target,
                          f"{flow.src} reaches {flow.dst}{via} on {target}, and the {what} comes back", request, reply)

    def discover(self, hop: HopSteps, asker: str, dev: str, nh: IPAddress, src: IPAddress | None,
                 answerer: Interface, bridges: list[Interface]) -> tuple[str, str] | None:
        """IPv6 neighbour discovery through both neighbours' chains (sim/ndisc.py): None when it passes, else
        (the node whose chain stopped it, the reason). The answerer keeps the solicitation's source as a neighbour."""
        steps, ns_src = exchange(self.net, asker, dev, nh, src, answerer, bridges)
        if self.explain:
            for step in steps:
                hop.add(Action.FILTER, step.describe())
        if ns_src != LINK_LOCAL and all(s.verdict.passes or s.what != "solicitation" for s in steps):
            mine = self.net.nodes[asker].interface(dev)
            if mine is not None:
                self.neigh.setdefault((answerer.node, answerer.name, ns_src), mine)
        last = steps[-1] if steps else None
        if last is None or last.verdict.passes:
            return None
        return last.node, last.reason(asker, dev, nh) if self.explain else ""

    # -- one packet --------------------------------------------------------------------------------
    def _end(self, hops: list[HopSteps], pkt: Packet, d: Disposition, node: str, reason: str | Callable[[], str],
             answer: Answer | None = None) -> Leg:
        if not self.explain:
            return Leg(d, node, "", [], pkt, answer=answer)
        text = reason if isinstance(reason, str) else reason()
        hops[-1].add(Action.DELIVERED if d.ok else Action.DROPPED, text)
        return Leg(d, node, text, [h.freeze() for h in hops], pkt, answer=answer)

    def _deny(self, hops: list[HopSteps], node: str, v: ChainVerdict, pkt: Packet, kind: Kind, entry: CtEntry | None,
              direction: Direction, ct: dict[str, list[CtEntry]], hook: Hook) -> Leg:
        back = None
        if hook is Hook.FORWARD and kind == "request" and pkt.src is not None:
            back = self.net.fib[node].lookup(pkt.src)
        d, reason, answer = self.denied(node, v, pkt, kind, entry, direction, ct, hook, back)
        return self._end(hops, pkt, d, node, reason, answer)

    def _loopback(self, hops: list[HopSteps], start: str, pkt: Packet, ct: dict[str, list[CtEntry]], kind: Kind,
                  origin: Answer | None) -> Leg:
        """A packet from a node to its own address: OUTPUT (out lo), then INPUT (in lo), with one conntrack state."""
        hop = hops[-1]
        first = pkt.src is None
        hop.add(Action.ORIGINATED, f"to {_itself(pkt.dst)}" if first else f"{WHAT[kind]} {pkt.show()} over loopback")
        if not self.net.loopback_up(start):
            return self._end(hops, pkt, Disposition.LOOPBACK_DOWN, start, f"{start} cannot reach {_itself(pkt.dst)}: "
                             f"its loopback interface is down — drop 'up: false' from {start}:lo")
        if first:
            pkt.src = pkt.dst
            self.original = pkt.tuple
        if origin is not None:
            entry, direction, state = origin.entry, origin.direction, CtState.RELATED
        elif self.net.nodes[start].filter:
            entry, direction, state = self.track(start, pkt, ct, kind)
        else:
            entry, direction, state = None, "none", CtState.NEW
        for hook, iif, oif in ((Hook.OUTPUT, None, "lo"), (Hook.INPUT, "lo", None)):
            v = self.chain(hop, start, hook, pkt, state, iif, oif)
            if v is not None and not v.passes:
                return self._deny(hops, start, v, pkt, kind, entry, direction, ct, hook)
        if entry is not None and entry.trans is None:
            entry.trans = pkt.tuple
        leg = self._end(hops, pkt, Disposition.DELIVERED, start, f"delivered over loopback on {start}")
        leg.local = True
        return leg

    def walk(self, start: str, pkt: Packet, ct: dict[str, list[CtEntry]], *, kind: Kind,
             origin: Answer | None = None, loopback: bool = False, oif: str | None = None) -> Leg:
        """One packet from `start` until it is delivered or lost. `origin`: a reject's answer, tracked as related
        to the rejected packet's entry at `start`; `loopback`: a packet the node sends to itself; `oif`: the
        interface an IPv6 route lookup at `start` prefers (an ICMPv6 echo reply's)."""
        net = self.net
        hops: list[HopSteps] = [HopSteps(start)]
        hop = hops[0]
        node = net.nodes[start]
        # a `local: true` port forward takes the node's own new connection to its target (nat output hook)
        natted = self.output_dnat(hop, start, pkt, ct, kind) if kind == "request" and pkt.src is None else None
        if self.third_leg and natted is None and origin is None:  # the ACK of a connection the nat output hook
            natted = self.redo_output_dnat(hop, start, pkt, ct)  # sent elsewhere goes where its SYN went
        if natted is not None and net.is_local(start, pkt.dst):  # forwarded to the node itself: over loopback
            if self.explain:
                hop.add(Action.ROUTED, f"{pkt.dst} is {start}'s own address: over loopback")
            return self._loopback(hops, start, pkt, ct, kind, origin)
        if natted is None and (pkt.src is None or loopback or origin is not None) and net.is_local(start, pkt.dst):
            return self._loopback(hops, start, pkt, ct, kind, origin)
        end = partial(self._end, hops, pkt)
        route = net.fib[start].lookup(pkt.dst, oif)
        if route is None:
            hop.add(Action.ORIGINATED, f"{'request' if kind == 'request' else 'reply'} to {pkt.dst}")
            return end(Disposition.NO_ROUTE, start, lambda: self.no_route(start, pkt.dst))
        if pkt.src is None:
            pkt.src = select_source(node, route.dev, route.via or pkt.dst)
            if pkt.src is None:
                return end(Disposition.NO_ROUTE, start, f"{start} has no address of IPv{pkt.dst.version} to send from")
        if self.explain and natted is None:
            hop.add(Action.ORIGINATED, f"{WHAT[kind]} {pkt.proto} {pkt.show()}")
        if kind == "request" and natted is None:
            self.original = pkt.tuple
        entry: CtEntry | None
        if origin is not None:
            entry, direction, state = origin.entry, origin.direction, CtState.RELATED
        elif natted is not None:
            entry, direction, state = natted
        else:
            entry, direction, state = self.track(start, pkt, ct, kind)
        if self.explain:
            by_iif = " — the echo reply's route out of the request's interface" \
                if oif is not None and route is not net.fib[start].lookup(pkt.dst) else ""
            hop.add(Action.ROUTED, f"route {route.describe()}{by_iif}")
        v = self.chain(hop, start, Hook.OUTPUT, pkt, state, None, route.dev)
        if v is not None and not v.passes:
            return self._deny(hops, start, v, pkt, kind, entry, direction, ct, Hook.OUTPUT)
        pending = self.reverse_src(entry, direction)
        self.postrouting(hop, start, route, pkt, entry, direction, pending)
        where = (start, route.dev)
        nh = route.via or pkt.dst
        while True:
            # -- the frame crosses the segment ------------------------------------------------------
            sender = where[0]
            domain = net.l2.domain.get(where)
            learnt = target = self.neigh.get((sender, where[1], nh))  # learnt from an ARP/ND request in this flow
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
            between = [br for br in net.l2.bridges_between(where, target.key) if br.node in net.nf_bridges] \
                if nh.version == 6 and net.nf_bridges else []
            if learnt is None and nh.version == 6 and (nd_filters(net, sender) or nd_filters(net, target.node) or between):
                stop = self.discover(hop, sender, where[1], nh, pkt.src, target, between)
                if stop is not None:
                    return end(Disposition.FILTER_DROPPED, stop[0], stop[1])
            prerouted: tuple[CtEntry | None, Direction, CtState] | None = None
            ingress: tuple[str, str] | None = None
            dst_in = pkt.dst
            for br in net.l2.bridges_between(where, target.key) if self.explain or net.nf_bridges else ():
                bhop = HopSteps(br.node)
                bhop.add(Action.BRIDGED, f"through bridge {br.name}")
                hops.append(bhop)
                if br.node not in net.nf_bridges:
                    continue
                done = self.bridged(bhop, br, pkt, ct, kind)
                if done is not None and done[3] is not None:
                    return self._deny(hops, br.node, done[3], pkt, kind, done[0], done[1], ct, Hook.FORWARD)
                if done is not None:  # its destination changed: the frame goes up to the node's stack
                    prerouted, ingress, target = done[:3], net.l2.port_toward(br.key, where), br
                    break
            # -- arrival: PREROUTING (conntrack, DNAT), routing, then INPUT or FORWARD ------------------
            m = target.node
            hop = HopSteps(m)
            hops.append(hop)
            if self.explain:
                hop.add(Action.RECEIVED, f"in {target.name}")
            if prerouted is not None:  # a bridged frame whose new destination takes it up to the node's stack
                entry, direction, state = prerouted
            else:
                if target.is_bridge and net.bridge_nf(m):
                    ingress = net.l2.port_toward(target.key, where)
                entry, direction, state = self.track(m, pkt, ct, kind)
                if direction == "new":
                    self.dnat(hop, m, target.name, pkt)
                elif self.third_leg and direction == "orig":
                    self.redo_dnat(hop, pkt, entry)
                else:
                    self.undo_snat(hop, pkt, entry, direction)
            pending = self.reverse_src(entry, direction)
            if net.is_local(m, pkt.dst):
                problem = rp_problem(net, m, target.name, pkt.src)
                if problem is not None:
                    return end(problem[0], m, problem[1])
                v = self.chain(hop, m, Hook.INPUT, pkt, state, target.name, None)
                if v is not None and not v.passes:
                    return self._deny(hops, m, v, pkt, kind, entry, direction, ct, Hook.INPUT)
                if pending is not None:
                    self.apply_src(hop, pkt, pending)
                if entry is not None and entry.trans is None:
                    entry.trans = pkt.tuple
                leg = end(Disposition.DELIVERED, m, f"{pkt.dst} is {m}'s own address")
                leg.iif = target.name
                return leg
            if ingress is not None and pkt.dst != dst_in:
                # bridge netfilter changed the destination of a frame that came in by a port of this bridge: when
                # the new destination is out of that very bridge, the frame is bridged on, not routed (IPv4 only
                # where the node forwards: measured)
                route = net.fib[m].lookup(pkt.dst)
                if route is not None and route.dev == target.name and (pkt.dst.version == 6 or net.nodes[m].forwarding):
                    problem = rp_problem(net, m, target.name, pkt.src)
                    if problem is not None:
                        return end(problem[0], m, problem[1])
                    if self.explain:
                        hop.add(Action.BRIDGE_NF, f"bridged on, not routed (the TTL stays): {pkt.dst} is out of "
                                f"{target.name}, the bridge it came in by (route {route.describe()})")
                    if self.back_out(m, route, pkt.dst, ingress):  # the bridge drops it before its forward hook
                        return end(Disposition.BRIDGE_HAIRPIN, m,
                                   partial(self.hairpin_text, (m, target.name, ingress), pkt))
                    v = self.chain(hop, m, Hook.FORWARD, pkt, state, target.name, route.dev)
                    if v is not None and not v.passes:
                        return self._deny(hops, m, v, pkt, kind, entry, direction, ct, Hook.FORWARD)
                    self.postrouting(hop, m, route, pkt, entry, direction, pending)
                    where = (m, route.dev)
                    nh = route.via or pkt.dst
                    continue
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
            v = self.chain(hop, m, Hook.FORWARD, pkt, state, target.name, route.dev)
            if v is not None and not v.passes:
                return self._deny(hops, m, v, pkt, kind, entry, direction, ct, Hook.FORWARD)
            self.postrouting(hop, m, route, pkt, entry, direction, pending)
            where = (m, route.dev)
            nh = route.via or pkt.dst


def trace_flow(net: Network, flow: Flow) -> FlowResult:
    return Walker(net).run(flow)
