"""The fast matrix: every column's verdicts from the destination classes' paths, each path followed once.

Per class, every source's first hop gives it a group key (its gateway or segment, and its source address's
class); a group's request and reply are followed once, through memoised chains of routers (sim/paths.py), and
only the last step — who answers ARP/ND for the exact address — is answered for all sources of the group at
once, with bit sets. Sources that the shortcut cannot speak for (the target itself, a source met again on the
path, any NAT on the way, TCP columns) are handed to the reference walker, so the result equals
`reference_matrix` exactly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from topograph.model import CtState, Hook, IPAddress, Proto, RuleAction
from topograph.sim.filtering import evaluate_chain
from topograph.sim.forward import Walker, rp_filter_problem
from topograph.sim.l2 import answers
from topograph.sim.matrix import SOURCE, TARGET, Matrix, Target, ordered, reference_matrix, targets
from topograph.sim.ndisc import nd_filters
from topograph.sim.network import Network
from topograph.sim.paths import COMPLEX, EC, FILTERED, Chain, Paths
from topograph.sim.trace import Disposition as D
from topograph.sim.trace import Verdict

#: run_chain's answer when a filter rejects the request: the walker follows the reject's answer back.
WALK = Verdict(D.FILTER_REJECTED, "\x00walk")


class FastMatrix:
    """The matrix column by column: verdicts of the class paths for the column's address, bit sets of sources."""

    def __init__(self, net: Network, cols: Sequence[Target], sources: Sequence[str]) -> None:
        self.net = net
        self.cols = tuple(cols)
        self.paths = Paths(net, sources)
        self.sources = self.paths.sources
        self.bit = self.paths.bit
        self.ttl = net.options.ttl
        self.walker = Walker(net, explain=False)
        self._landing: dict[tuple[object, ...], tuple[int, int, int, int]] = {}
        self._runs: dict[tuple[int, str | None, str | None, frozenset[str] | None], Verdict | None] = {}
        self._lands: dict[tuple[object, ...], Verdict | None] = {}
        self._owner: str | None = None  # the node the current column's address is local to
        self._answering: dict[tuple[int, EC, int], tuple[int, dict[str, str]]] = {}
        self.rp_on = sum(self.bit[n.name] for n in net.topology.nodes
                         if n.rp_filter.value != "disabled" and n.name in self.bit)
        self._columns: dict[tuple[object, ...], tuple[str, list[tuple[Verdict, int]]]] = {}
        self._addr: IPAddress = ipaddress.ip_address(0)
        self._source_sigs: dict[str, tuple[object, ...] | None] = {}
        self._kinds: dict[str, int] | None = None
        self._target_kinds: dict[str, int | None] = {}  # a target's signature without its class, numbered
        self._target_ids: dict[tuple[object, ...], int] = {}
        self._filter_verdicts: dict[tuple[object, ...], RuleAction] = {}
        self.filtering_nodes = {n.name for n in net.topology.nodes if n.filters}
        # nodes whose input or output chain may stop IPv6 neighbour discovery (sim/ndisc.py): an IPv6 path through
        # one of them is the walker's to follow (the fast path never has them at its ends: those are walked)
        self.nd_nodes = {n.name for n in net.topology.nodes if nd_filters(net, n.name)}
        self._kind_bits: dict[int, int] = {}
        self.forward_targets = {o for n in net.topology.nodes for f in n.port_forwards
                                if (o := net.owner_node(f.to_address)) is not None}
        # nodes some route points at: they stand on other flows' paths, so they are never interchangeable
        self.gateways = {o for fib in net.fib.values() for r in (*fib.v4, *fib.v6) if r.via is not None
                         and (o := net.owner_node(r.via)) is not None}
        # sources whose own chains may drop or reject: always walked (interchangeable ones once per column)
        self.filtering = sum(self.bit[n.name] for n in net.topology.nodes if n.filters and n.name in self.bit)

    def run_chain(self, chain: Chain, owner: str | None, origin: str | None = None,
                  seen: frozenset[str] | None = None) -> Verdict | None:
        """The verdict if the chain decides before its last hop (delivery included), else None; WALK when a filter
        rejects (its answer's way back is the walker's to follow).

        `owner` is the node the destination address is local to (None: nobody); `origin` is the node whose own
        address is the packet's source: met again, it drops it as a martian. `seen`: for a ping's reply, the
        nodes its request went through (their conntrack says established; elsewhere an echo reply is invalid);
        None for the request itself (new).
        """
        key = (id(chain), owner, origin, seen)
        if key in self._runs:
            return self._runs[key]
        v = self._run_chain(chain, owner, origin, seen)
        self._runs[key] = v
        return v

    def _run_chain(self, chain: Chain, owner: str | None, origin: str | None,
                   seen: frozenset[str] | None) -> Verdict | None:
        if chain.classes[0][0] == 6 and self.nd_nodes and any(st[0] in self.nd_nodes for st in chain.states):
            return WALK
        for j, (node, itf, fwd, r, rp_filter) in enumerate(chain.states, start=1):
            rp = D.LOOP if node == origin else rp_filter
            if node == owner:
                return Verdict(rp, node) if rp is not None else Verdict(D.DELIVERED, node)
            if not fwd:
                return Verdict(D.FORWARDING_DISABLED, node)
            if r is None:
                return Verdict(D.NO_ROUTE, node)
            if rp is not None:
                return Verdict(rp, node)
            if j >= self.ttl:
                return Verdict(D.TTL_EXCEEDED, node)
            if chain.filtered and node in self.filtering_nodes:
                state = CtState.NEW if seen is None else CtState.ESTABLISHED if node in seen else CtState.INVALID
                act = self.forward_verdict(node, itf, r.dev, chain.classes, state)
                if act is not None:
                    if act is RuleAction.DROP or (act is not RuleAction.ACCEPT and seen is not None):
                        return Verdict(D.FILTER_DROPPED, node)  # a rejected reply: its answer goes to the replier
                    if act is not RuleAction.ACCEPT:
                        return WALK
        if chain.end[0] == "neigh":
            return Verdict(D.NEIGHBOR_UNREACHABLE, str(chain.end[1]))
        return None

    def forward_verdict(self, node: str, iif: str, oif: str, classes: tuple[EC, EC], state: CtState) -> RuleAction | None:
        """The action of `node`'s forward chain for a ping between two classes (None: it has no forward chain)."""
        key = (node, iif, oif, classes, state)
        if key not in self._filter_verdicts:
            c = self.net.nodes[node].chain(Hook.FORWARD)
            if c is None:
                return None
            e_dst, e_src = classes
            rep = self.paths.classes.representative
            self._filter_verdicts[key] = evaluate_chain(c, rep(e_src), rep(e_dst), Proto.ICMP, 0, 0, iif, oif, state).action
        return self._filter_verdicts[key]

    def land(self, node: str, d: int, dst: IPAddress, sip: IPAddress | None, src: IPAddress) -> Verdict | None:
        """The last hop: `node` sends to `dst` on its segment `d` (ARP asked from `sip`; the packet's source is `src`)."""
        key = (node, d, dst.version, int(dst), int(sip) if sip is not None else None, int(src))
        if key not in self._lands:
            self._lands[key] = self._land(node, d, dst, sip, src)
        return self._lands[key]

    def _land(self, node: str, d: int, dst: IPAddress, sip: IPAddress | None, src: IPAddress) -> Verdict | None:
        ans = self.paths.neighbour_in(d, node, dst, sip)
        if ans == FILTERED:
            return None if node != SOURCE else Verdict(D.NEIGHBOR_UNREACHABLE, node)
        if ans is None:
            return Verdict(D.NEIGHBOR_UNREACHABLE, node)
        m, itf = ans
        if m != self._owner:
            return Verdict(D.NEIGHBOR_UNREACHABLE, node)  # never for an address's owner; kept for safety
        rp = rp_filter_problem(self.net, m, itf, src)
        return Verdict(rp[0], m) if rp else Verdict(D.DELIVERED, m)

    def request(self, key: tuple[object, ...], dst: IPAddress, e_dst: EC) -> tuple[Verdict | None, int, frozenset[str]]:
        """(verdict or None for 'hand to the walker', bit set of nodes on the way) for a group's request to `dst`."""
        kind = key[0]
        if kind == "drop":
            return Verdict(key[1], SOURCE), 0, frozenset()  # type: ignore[arg-type]
        if kind == "onlink":
            _, d, e_src = key
            src = self.paths.classes.representative(e_src)  # type: ignore[arg-type]
            v = self.land(SOURCE, d, dst, src, src)  # type: ignore[arg-type]
            assert v is not None
            return (Verdict(v.disposition, SOURCE) if v.node == SOURCE else v), 0, frozenset()
        if kind == "gw":
            _, k, itf, e_src = key
            ch = self.paths.chain(k, itf, e_dst, e_src)  # type: ignore[arg-type]
            if ch.end == COMPLEX:
                return None, ch.nodes, ch.names
            v = self.run_chain(ch, self._owner)
            if v is WALK:
                return None, ch.nodes, ch.names
            if v is None:
                _, m, dev, d = ch.end
                src = self.paths.classes.representative(e_src)  # type: ignore[arg-type]
                sip = self.paths.source(str(m), str(dev), e_dst)
                v = self.land(str(m), int(d), dst, sip, src)  # type: ignore[call-overload]
            return v, ch.nodes, ch.names
        return None, 0, frozenset()

    def column(self, t: Target) -> list[tuple[Verdict, int]]:
        net = self.net
        out: dict[Verdict, int] = {}

        def put(v: Verdict, bits: int) -> None:
            if bits:
                out[v] = out.get(v, 0) | bits

        seen: dict[int, Verdict] = {}
        kinds = self.source_kinds()

        def walk(bits: int) -> None:
            while bits:
                low = bits & -bits
                s = self.sources[low.bit_length() - 1]
                kind = kinds.get(s)
                if kind is not None and kind in seen:  # interchangeable sources: one walk per column for them all
                    same = bits & self._kind_bits[kind]
                    put(seen[kind], same)
                    bits &= ~same
                    continue
                bits ^= low
                v = self.walker.run(t.flow(s, net)).verdict
                v = Verdict(v.disposition, SOURCE) if v.node == s else v
                if kind is not None:
                    seen[kind] = v
                    same = bits & self._kind_bits[kind]
                    put(v, same)
                    bits &= ~same
                put(v, low)

        if t.proto is not Proto.ICMP:
            walk((1 << len(self.sources)) - 1)
            return ordered(out)
        a = t.address
        e = self.paths.classes.of(a)
        owner = net.owner_node(a)
        self._addr = a
        self._owner = owner if owner is not None and net.is_local(owner, a) else None
        mine = self.bit.get(self._owner, 0) if self._owner is not None else 0
        itself = a.is_loopback or a.is_unspecified  # every source's own (net.is_local): the walker decides each
        if self._owner in self.filtering_nodes:  # its input and output chains decide
            walk((1 << len(self.sources)) - 1)
            return ordered(out)
        if itself:
            mine = (1 << len(self.sources)) - 1
        if mine and not itself and self._owner is not None:  # a ping of one's own address: loopback decides
            put(Verdict(D.DELIVERED if net.loopback_up(self._owner) else D.LOOPBACK_DOWN, SOURCE), mine)
        else:
            walk(mine)
        sig = self.signature(self._owner, e) if self._owner is not None and not itself else None
        if sig is not None and sig in self._columns:
            # an interchangeable target met before: its column, with the two nodes swapped
            was, cached = self._columns[sig]
            me, other = self.bit[self._owner], self.bit[was]  # type: ignore[index]
            for v, bits in cached:
                if bits & me:
                    bits = (bits & ~me) | other
                put(Verdict(v.disposition, self._owner) if v.node == TARGET else v, bits)  # type: ignore[arg-type]
            return ordered(out)
        walk(self.filtering & ~mine)
        skip = mine | self.filtering
        for key, group_bits, _src in self.paths.groups(e):
            bits = group_bits & ~skip
            if not bits:
                continue
            found, on_way, passed = self.request(key, a, e)
            if found is None:
                walk(bits)
                continue
            v = found
            odd = bits & on_way
            walk(odd)
            bits &= ~odd
            if not v.ok:
                put(v, bits)
                continue
            self.reply(v.node, a, key[-1], group_bits, bits, put, walk, passed)  # type: ignore[arg-type]
        if sig is not None and self._owner is not None:
            self._columns[sig] = (self._owner, [(Verdict(v.disposition, TARGET) if v.node == self._owner else v, b & ~mine)
                                                for v, b in out.items()])
        return ordered(out)

    def source_kinds(self) -> dict[str, int]:
        """Every source with a signature, numbered by signature (equal numbers: interchangeable sources); the bit
        set of each number's sources in `_kind_bits`. Numbers, not the signatures: a tuple's hash is not kept."""
        if self._kinds is None:
            ids: dict[tuple[object, ...], int] = {}
            self._kinds = {}
            for s in self.sources:
                sig = self.source_signature(s)
                if sig is not None:
                    k = self._kinds[s] = ids.setdefault(sig, len(ids))
                    self._kind_bits[k] = self._kind_bits.get(k, 0) | self.bit[s]
        return self._kinds

    def source_signature(self, node: str) -> tuple[object, ...] | None:
        """What a flow depends on about its source node, when the node is a plain end host (see `signature`)."""
        if node in self._source_sigs:
            return self._source_sigs[node]
        n = self.net.nodes[node]
        sig: tuple[object, ...] | None = None
        if not (node in self.gateways or node in self.forward_targets or n.forwarding or n.nat or n.port_forwards):
            fib = self.net.fib[node]
            l2 = self.net.l2
            sig = (n.rp_filter, n.kind, self.net.loopback_up(node), n.filter,
                   tuple((r.net, r.dev, r.via, r.metric) for r in (*fib.v4, *fib.v6)),
                   tuple((i.name, i.up, l2.domain.get(i.key), l2.carrier.get(i.key),
                          tuple((a.network, self.paths.classes.of(a.ip)) for a in i.addresses)) for i in n.interfaces))
        self._source_sigs[node] = sig
        return sig

    def signature(self, node: str, e: EC) -> tuple[object, ...] | None:
        """What a column depends on about its target node, when the node is a plain end host.

        Two targets with the same signature are interchangeable: same destination class, same routing table,
        same interfaces on the same segments, same settings. Routers, gateways (anyone's `via`) and NAT nodes
        take part in other flows' paths, so they get no signature and their columns are computed in full.
        """
        if node not in self._target_kinds:
            n = self.net.nodes[node]
            if node in self.gateways or n.forwarding or n.nat or n.port_forwards:
                self._target_kinds[node] = None
            else:
                fib = self.net.fib[node]
                routes = tuple((r.net, r.dev, r.via, r.metric) for r in (*fib.v4, *fib.v6))
                l2 = self.net.l2
                itfs = tuple((i.name, i.up, l2.domain.get(i.key), l2.carrier.get(i.key),
                              tuple(a.network for a in i.addresses)) for i in n.interfaces)
                sig = (n.rp_filter, n.kind, routes, itfs)
                self._target_kinds[node] = self._target_ids.setdefault(sig, len(self._target_ids))
        kind = self._target_kinds[node]
        if kind is None:
            return None
        holder = self.net.owner.get(self._addr)
        return (e, kind, holder.name if holder else None)

    def reply(self, target: str, a: IPAddress, e_back: EC, group_bits: int, bits: int,
              put: Callable[[Verdict, int], None], walk: Callable[[int], None], seen: frozenset[str]) -> None:
        """The replies from `target` (source address `a`) to the sources in `bits`, whose addresses are in class `e_back`."""
        net = self.net
        lost = D.REPLY_LOST
        r = self.paths.route(target, e_back)
        if r is None:
            put(Verdict(lost, target), bits)
            return
        if self.paths.masquerades(target, r.dev, a) or self.paths.bridged_nf(target, r.dev) or r in net.fib[target].tied_v6:
            walk(bits)  # (a tied IPv6 route: the echo reply leaves by the request's interface, the walker's to follow)
            return
        e_a = self.paths.classes.of(a)
        if r.via is None:
            d = net.l2.domain.get((target, r.dev))
            if d is None:
                put(Verdict(lost, target), bits)
                return
            end: tuple[object, ...] = ("onlink", target, r.dev, d)
            sip: IPAddress | None = a
        else:
            ans = self.paths.neighbour(target, r.dev, r.via, a)
            if ans is None:
                put(Verdict(lost, target), bits)
                return
            if ans == FILTERED:  # the target may have learnt that neighbour from the request's ARP
                walk(bits)
                return
            ch = self.paths.chain(ans[0], ans[1], e_back, e_a)
            odd = bits & ch.nodes
            walk(odd)
            bits &= ~odd
            if ch.end == COMPLEX:
                walk(bits)
                return
            # only IPv4 drops a packet with the node's own source address as a martian (as forward.rp_problem);
            # an IPv6 reply that loops back through its target is forwarded on until its hop limit runs out
            v = self.run_chain(ch, None, origin=target if a.version == 4 else None, seen=seen)
            if v is WALK:
                walk(bits)
                return
            if v is not None:
                put(Verdict(D.FILTER_DROPPED if v.disposition is D.FILTER_DROPPED else lost, v.node), bits)
                return
            end = ch.end
            sip = None  # the last router asks with its own address, chosen per destination class below
        m, dev, where = str(end[1]), str(end[2]), end[3]
        assert isinstance(where, int)
        ok, at_router, at_source, filtered = self.landing(m, dev, where, e_back, e_a, sip, group_bits)
        walk(bits & filtered)
        put(Verdict(D.DELIVERED, target), bits & ok)
        put(Verdict(lost, str(m)), bits & at_router)
        put(Verdict(lost, SOURCE), bits & at_source)

    def landing(self, m: str, dev: str, d: int, e_back: EC, e_a: EC, sip: IPAddress | None,
                bits: int) -> tuple[int, int, int, int]:
        """For every source: does the reply's last hop reach it (ok), die at the router (no ARP answer), at the source
        (rp), or does the source ignore the router's ARP (filtered: the walker decides, entries may have been learnt)?

        Only classes matter here: the asking router is never one of these sources (those were walked), so the
        answer is the same for every router and target that ask on segment `d` from the same classes.
        """
        net = self.net
        if sip is None:
            sip = self.paths.source(m, dev, e_back)
        e_sip = self.paths.classes.of(sip) if sip is not None else None
        key = (d, e_back, e_a, e_sip, bits)
        found = self._landing.get(key)
        if found is not None:
            return found
        sip_rep = self.paths.classes.representative(e_sip) if e_sip is not None else None
        a_rep = self.paths.classes.representative(e_a)
        ok = at_router = at_source = filtered = 0
        # who answers on `d` does not depend on the classes of the asker and of the reply's source: once per group
        base = (d, e_back, bits)
        if base not in self._answering:
            yes = 0
            where: dict[str, str] = {}
            rest = bits
            while rest:
                b = rest & -rest
                rest ^= b
                s = self.sources[b.bit_length() - 1]
                src = self.paths.address.get((s, e_back))
                ans = answers(net.l2, d, src, net.owner.get(src), "") if src is not None else None
                if ans is not None and ans.node == s:
                    yes |= b
                    where[s] = ans.name
            self._answering[base] = (yes, where)
        yes, where = self._answering[base]
        at_router = bits & ~yes
        ok = yes & ~self.rp_on  # no reverse-path filter: nothing more to check
        rest = yes & self.rp_on
        while rest:
            b = rest & -rest
            rest ^= b
            s = self.sources[b.bit_length() - 1]
            name = where[s]
            if sip_rep is not None and sip_rep.version == 4 and rp_filter_problem(net, s, name, sip_rep) is not None:
                filtered |= b
            elif rp_filter_problem(net, s, name, a_rep) is not None:
                at_source |= b
            else:
                ok |= b
        result = (ok, at_router, at_source, filtered)
        self._landing[key] = result
        return result

    def compute(self) -> Matrix:
        return Matrix(self.sources, self.cols, [self.column(t) for t in self.cols])


def fast_matrix(net: Network, cols: Sequence[Target] | None = None, sources: Sequence[str] | None = None) -> Matrix:
    """The full matrix by equivalence classes; equal to `reference_matrix` cell for cell."""
    cols = tuple(cols if cols is not None else targets(net.topology))
    srcs = tuple(sources if sources is not None else net.nodes)
    if net.shared:  # an address on two interfaces: its columns and replies depend on the segment, so walk every pair
        return reference_matrix(net, cols, srcs)
    return FastMatrix(net, cols, srcs).compute()
