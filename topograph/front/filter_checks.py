"""Warnings about packet filters that are legal but do not do what they seem to (TG510-TG514).

A rule an earlier rule shadows (TG510), a forward chain on a node that routes nothing (TG511), a port
forward whose connections (TG512) or replies (TG514) the forward chain never lets through, and an
interface match no packet can satisfy (TG513: a down interface, a bridge port, loopback in forward).

The reasoning works on match sets: `covers(e, l)` is true only when every packet `l` matches, `e`
matches too; `overlaps(a, b)` is false only when no packet matches both. Both are sound, not complete
(an exotic combination may go unnoticed, but nothing is reported that is not so).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from topograph.front.diagnostics import Pos, Report, Where
from topograph.front.gaps import Gaps
from topograph.front.quoting import quote
from topograph.front.rule_index import PortIndex, PrefixIndex, chain_indexes, earlier_indexes, fewest, in_order
from topograph.model import (
    LOOPBACK,
    CtState,
    FilterChain,
    FilterRule,
    Hook,
    Interface,
    IPAddress,
    IPNetwork,
    Node,
    PortForward,
    PortRange,
    RuleAction,
    Topology,
)

ALL_STATES = frozenset(CtState)
_VERB = {RuleAction.ACCEPT: "accepts", RuleAction.DROP: "drops", RuleAction.REJECT: "rejects",
         RuleAction.RESET: "resets"}
_DONE = {RuleAction.ACCEPT: "accepted", RuleAction.DROP: "dropped", RuleAction.REJECT: "rejected",
         RuleAction.RESET: "reset"}


# -- match sets ---------------------------------------------------------------------------------

def _states(rule: FilterRule) -> frozenset[CtState]:
    return rule.states or ALL_STATES


def _prefix_covers(outer: IPNetwork | None, inner: IPNetwork | None, inner_family: int | None) -> bool:
    if outer is None:
        return True
    if inner is not None:
        return within(inner, outer)
    return outer.prefixlen == 0 and inner_family == outer.version  # ::/0 covers every IPv6 packet


def within(inner: IPNetwork, outer: IPNetwork) -> bool:
    """inner.subnet_of(outer), in integers: a long chain compares many pairs."""
    if inner.version != outer.version or inner.prefixlen < outer.prefixlen:
        return False
    shift = outer.max_prefixlen - outer.prefixlen
    return int(inner.network_address) >> shift == int(outer.network_address) >> shift


def _ports_cover(outer: PortRange | None, inner: PortRange | None) -> bool:
    return outer is None or (inner is not None and outer.covers(inner))


def covers(outer: FilterRule, inner: FilterRule) -> bool:
    """Whether every packet `inner` matches, `outer` matches too (whatever their actions)."""
    return ((outer.family is None or outer.family == inner.family)  # the cheap tests first
            and (outer.proto is None or outer.proto is inner.proto)
            and _ports_cover(outer.dport, inner.dport)
            and _ports_cover(outer.sport, inner.sport)
            and (outer.in_interface is None or outer.in_interface == inner.in_interface)
            and (outer.out_interface is None or outer.out_interface == inner.out_interface)
            and _states(inner) <= _states(outer)
            and _prefix_covers(outer.src, inner.src, inner.family)
            and _prefix_covers(outer.dst, inner.dst, inner.family))


def _prefixes_meet(a: IPNetwork | None, b: IPNetwork | None) -> bool:
    return a is None or b is None or (a.version == b.version and a.overlaps(b))


def _ports_meet(a: PortRange | None, b: PortRange | None) -> bool:
    return a is None or b is None or (a.first <= b.last and b.first <= a.last)


def _same_or_any(a: object, b: object) -> bool:
    return a is None or b is None or a == b


def overlaps(a: FilterRule, b: FilterRule) -> bool:
    """Whether some packet may match both `a` and `b` (false only when none can)."""
    return (_same_or_any(a.family, b.family)
            and _same_or_any(a.proto, b.proto)
            and _prefixes_meet(a.src, b.src)
            and _prefixes_meet(a.dst, b.dst)
            and _ports_meet(a.dport, b.dport)
            and _ports_meet(a.sport, b.sport)
            and _same_or_any(a.in_interface, b.in_interface)
            and _same_or_any(a.out_interface, b.out_interface)
            and bool(_states(a) & _states(b)))


# -- the checks ---------------------------------------------------------------------------------

def _place(rule: FilterRule) -> str:
    """Where a rule was written, file:line, to name it in another diagnostic's message."""
    pos = rule.pos
    return "" if pos is None else f"{pos.file}:{pos.line}"


def _at(topology: Topology, *candidates: FilterRule | FilterChain | PortForward | Node | None) -> Where | Pos:
    for c in candidates:
        if c is not None and c.where is not None:
            return c.where
    return Pos(topology.file, 1, 1)


def _named(rule: FilterRule) -> str:
    place = _place(rule)
    return f"'{rule.describe()}'" + (f" ({place})" if place else "")


def shadowing(rules: tuple[FilterRule, ...]) -> list[tuple[int, int]]:
    """(i, j) for each rule i that the earlier rule j covers, j the first such: O(n) for the usual chains.

    Earlier rules are indexed by destination, source and ports (front/rule_index.py): only those that every
    index lets through can cover a rule, and the shortest index answer is tried, in order.
    """
    out: list[tuple[int, int]] = []
    indexes = earlier_indexes()
    for i, later in enumerate(rules):
        found = fewest([ix.candidates(later) for ix in indexes])
        j = next((j for j in found if covers(rules[j], later)), None)
        if j is not None:
            out.append((i, j))
        for ix in indexes:
            ix.add(i, later)
    return out


def check_shadowed(topology: Topology, node: Node, chain: FilterChain, report: Report) -> None:
    """TG510: a rule no packet ever reaches, because an earlier rule matches (and decides) all it matches."""
    for i, j in shadowing(chain.rules):
        later, earlier = chain.rules[i], chain.rules[j]
        verb = _VERB[earlier.action]
        above = f"above line {earlier.pos.line}" if earlier.pos is not None else "above the earlier one"
        if earlier.action is later.action:
            hint = f"remove this rule: the earlier one already {verb} all of its packets"
        else:
            hint = f"if these packets should be {_DONE[later.action]}, move this rule {above}; otherwise remove it"
        report.warning("TG510", _at(topology, later, chain, node),
                       f"{node.name}'s {chain.hook} chain: rule '{later.describe()}' never decides a packet: "
                       f"the earlier rule {_named(earlier)} matches all of its packets first and {verb} them", hint=hint)


def check_forward_chain(topology: Topology, node: Node, report: Report) -> None:
    """TG511: a forward chain that filters on a node that routes nothing through."""
    chain = node.chain(Hook.FORWARD)
    if chain is None or node.forwarding or (not chain.rules and chain.policy is RuleAction.ACCEPT):
        return
    report.warning("TG511", _at(topology, chain, node),
                   f"{node.name} has a forward chain but does not forward packets: the chain never sees one",
                   hint=f"add 'forwarding: true' to node {quote(node.name)} if it routes, or move the rules to 'input' "
                        "(packets for the node) or remove them")


@dataclass(frozen=True, slots=True)
class Flow:
    """Packets a port forward makes the forward chain see: those `match` matches, except any to `never_to`."""

    match: FilterRule
    never_to: IPNetwork | None = None


def route_out(node: Node, address: IPAddress) -> str | None:
    """The interface the node routes `address` out of, by the longest prefix; None when it cannot be told."""
    found: list[tuple[int, str]] = [(net.prefixlen, itf.name) for itf, net in connected(node) if address in net]
    for route in node.routes:
        if route.to.version != address.version or address not in route.to:
            continue
        dev = route.dev
        if dev is None and route.via is not None:
            dev = next((itf.name for itf, net in connected(node) if route.via in net), None)
        if dev is None:
            return None  # a gateway the node cannot reach: the route does not tell
        found.append((route.to.prefixlen, dev))
    if not found:
        return None
    longest = max(n for n, _ in found)
    devs = {dev for n, dev in found if n == longest}
    return devs.pop() if len(devs) == 1 else None  # equal prefixes out of two interfaces: the metric decides


def connected(node: Node) -> list[tuple[Interface, IPNetwork]]:
    """The node's connected subnets: every address on an interface that is up (validate's routes use it too)."""
    return [(i, a.network) for i in node.interfaces if i.up for a in i.addresses]


def new_connections(f: PortForward, out: str | None) -> Flow:
    """The first packets of a port forward's connections in the forward chain (after the DNAT)."""
    host = ipaddress.ip_network(f.to_address)
    return Flow(FilterRule(action=RuleAction.ACCEPT, dst=host, proto=f.proto, family=host.version,
                           dport=PortRange(f.to_port, f.to_port), in_interface=f.in_interface,
                           out_interface=out, states=frozenset({CtState.NEW})))


def replies(f: PortForward) -> Flow:
    """The replies of a port forward's connections in the forward chain (before the DNAT is undone).

    Any interface: a reply usually comes back the way the request left, but routing decides. Never to the
    target itself: a connection the target opens to its own port forward is answered inside the target.
    """
    host = ipaddress.ip_network(f.to_address)
    return Flow(FilterRule(action=RuleAction.ACCEPT, src=host, proto=f.proto, family=host.version,
                           sport=PortRange(f.to_port, f.to_port), states=frozenset({CtState.ESTABLISHED})),
                never_to=host)


def never_accepted(chain: FilterChain, flow: Flow,
                   indexes: list[PrefixIndex | PortIndex] | None = None) -> FilterRule | FilterChain | None:
    """What stops every packet of `flow` in `chain` (a rule, or the chain's drop policy), or None.

    None whenever some rule that accepts could match one of them before a rule that drops all of them.
    `indexes` (chain_indexes of the chain's rules) skip the rules no packet of the flow can match.
    """
    for rule in chain.rules if indexes is None else in_order(chain.rules, indexes, flow.match, flow.never_to):
        if not overlaps(rule, flow.match):
            continue
        if flow.never_to is not None and rule.dst is not None and within(rule.dst, flow.never_to):
            continue  # it matches only packets to where the flow never goes
        if rule.action is RuleAction.ACCEPT:
            return None
        if covers(rule, flow.match):
            return rule
    return chain if chain.policy is not RuleAction.ACCEPT else None


def _stopper(what: FilterRule | FilterChain) -> str:
    if isinstance(what, FilterRule):
        return f"the rule {_named(what)} {_VERB[what.action]} them all"
    line = f" (line {what.pos.line})" if what.pos is not None else ""
    return f"no rule accepts them and the chain's policy{line} is drop"


def _before(stop: FilterRule | FilterChain, node: Node) -> str:
    """Where a rule that lets packets through must go: above the rule that stops them, or anywhere."""
    if isinstance(stop, FilterRule) and stop.pos is not None:
        return f"to {node.name}'s forward rules above line {stop.pos.line}"
    return f"to {node.name}'s forward rules"


def check_port_forwards(topology: Topology, node: Node, report: Report, routes_known: bool) -> None:
    """TG512 and TG514: a port forward whose new connections, or whose replies, the forward chain stops."""
    chain = node.chain(Hook.FORWARD)
    if chain is None or not node.forwarding:
        return
    own = {a.ip for a in node.addresses}
    indexes = chain_indexes(chain.rules)  # thousands of forwards against thousands of rules: not pair by pair
    for f in node.port_forwards:
        if f.to_address in own:
            continue  # forwarded to the node itself: the input chain sees it, not forward
        name = f"port forward {f.proto}/{f.port} -> {f.target}" + (f" (in {f.in_interface})" if f.in_interface else "")
        stop = never_accepted(chain, new_connections(f, route_out(node, f.to_address) if routes_known else None),
                              indexes)
        if stop is not None:
            report.warning("TG512", _at(topology, f, node),
                           f"{node.name}'s forward chain stops every new connection of its {name}: {_stopper(stop)}",
                           hint=f"add {{to: {f.to_address}, proto: {f.proto}, dport: {f.to_port}, action: accept}} "
                                f"{_before(stop, node)} (the forward chain sees the destination after the port "
                                "forward's translation)")
            continue
        stop = never_accepted(chain, replies(f), indexes)
        if stop is not None:
            report.warning("TG514", _at(topology, f, node),
                           f"{node.name}'s forward chain stops every reply of its {name}: {_stopper(stop)}",
                           hint=f"add {{state: [established, related], action: accept}} {_before(stop, node)}")


def _unseen(node: Node, hook: Hook, key: str, dev: str) -> tuple[str, str] | None:
    """Why no packet of the `hook` chain comes in on (key 'in') or leaves by ('out') `dev`, with a hint."""
    itf = node.interface(dev)
    if itf is None:
        return None
    way, ways = ("comes in on", "come in on") if key == "in" else ("leaves by", "leave by")
    if not itf.up:
        return (f"{itf.label} is configured down: no packet {way} it",
                f"drop 'up: false' from {itf.label}, or remove the rule")
    if itf.bridge is not None:
        return (f"{dev} is a port of bridge {quote(itf.bridge)}: routed packets {ways} the bridge itself, "
                f"and bridged frames skip the filter",
                f"write '{key}: {itf.bridge}'")
    if dev == LOOPBACK and hook is Hook.FORWARD:
        return (f"no packet the node routes on {way} loopback",
                f"remove the rule, or move it to the {'input' if key == 'in' else 'output'} chain")
    return None


def check_interfaces(topology: Topology, node: Node, chain: FilterChain, report: Report) -> None:
    """TG513: a rule whose in/out interface no packet of its chain can have."""
    for rule in chain.rules:
        for key, dev in (("in", rule.in_interface), ("out", rule.out_interface)):
            why = None if dev is None else _unseen(node, chain.hook, key, dev)
            if why is None or rule.where is None:
                continue
            report.warning("TG513", Where(rule.where.source, (*rule.where.path, key)),
                           f"'{key}: {dev}' in {node.name}'s {chain.hook} chain never matches: {why[0]}",
                           hint=why[1])


def _nodes(topology: Topology, gaps: Gaps) -> Iterator[Node]:
    """The nodes whose filter, as the model holds it, is the whole of what the file writes."""
    for node in topology.nodes:
        if node.filter and not gaps.incomplete(node.name, "filter"):
            yield node


def check_filters(topology: Topology, report: Report, gaps: Gaps) -> None:
    """Every filter warning. A node whose filter section lost a part to a shape error is left out."""
    for node in _nodes(topology, gaps):
        for chain in node.filter:
            check_shadowed(topology, node, chain, report)
            if not gaps.incomplete(node.name, "interfaces", "bridges") and not gaps.links:
                check_interfaces(topology, node, chain, report)
        if not gaps.incomplete(node.name, "forwarding"):
            check_forward_chain(topology, node, report)
        if not gaps.incomplete(node.name, "interfaces", "bridges"):
            check_port_forwards(topology, node, report, not gaps.incomplete(node.name, "routes"))
