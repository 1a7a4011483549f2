"""Filter warnings (TG510-TG514): the match-set relations against a brute-force matcher, then each check."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topograph.front.diagnostics import Diagnostic
from topograph.front.filter_checks import Flow, covers, never_accepted, overlaps, replies, shadowing
from topograph.front.rule_index import chain_indexes
from topograph.model import (
    CtState,
    FilterChain,
    FilterRule,
    Hook,
    IPAddress,
    IPNetwork,
    PortForward,
    PortRange,
    Proto,
    RuleAction,
)
from topograph.pipeline import check_text

# -- a brute-force matcher over a small universe ------------------------------------------------

BASE = {4: ipaddress.ip_address("10.0.0.0"), 6: ipaddress.ip_address("2001:db8::")}
IFACES = ("a", "b")


@dataclass(frozen=True)
class Packet:
    family: int
    src: IPAddress
    dst: IPAddress
    proto: str  # icmp, tcp, udp or other (a protocol no rule names)
    sport: int | None  # tcp and udp only
    dport: int | None
    iif: str | None
    oif: str | None
    state: CtState


def matches(rule: FilterRule, p: Packet) -> bool:
    """What the kernel does with one rule and one packet, written out plainly."""
    if rule.family is not None and p.family != rule.family:
        return False
    for net, addr in ((rule.src, p.src), (rule.dst, p.dst)):
        if net is not None and (addr.version != net.version or addr not in net):
            return False
    if rule.proto is not None and p.proto != rule.proto.value:
        return False
    for rng, port in ((rule.sport, p.sport), (rule.dport, p.dport)):
        if rng is not None and (port is None or port not in rng):
            return False
    if rule.in_interface is not None and p.iif != rule.in_interface:
        return False
    if rule.out_interface is not None and p.oif != rule.out_interface:
        return False
    return not rule.states or p.state in rule.states


def verdict(chain: FilterChain, p: Packet) -> RuleAction:
    return next((r.action for r in chain.rules if matches(r, p)), chain.policy)


def address(family: int, n: int) -> IPAddress:
    return BASE[family] + n


def prefixes(family: int) -> st.SearchStrategy[IPNetwork]:
    top = 32 if family == 4 else 128
    return st.one_of(
        st.just(ipaddress.ip_network("0.0.0.0/0" if family == 4 else "::/0")),
        st.builds(lambda n, bits: ipaddress.ip_network(f"{address(family, n)}/{top - bits}", strict=False),
                  st.integers(0, 7), st.integers(0, 3)))


PORTS = st.builds(lambda a, b: PortRange(min(a, b), max(a, b)), st.integers(1, 6), st.integers(1, 6))
STATES = st.frozensets(st.sampled_from(list(CtState)))


@st.composite
def rules(draw: st.DrawFn) -> FilterRule:
    proto = draw(st.sampled_from([None, Proto.ICMP, Proto.TCP, Proto.UDP]))
    family = draw(st.sampled_from([None, 4, 6]))
    if proto is Proto.ICMP and family is None:
        family = draw(st.sampled_from([4, 6]))
    src = draw(st.none() | prefixes(family)) if family else None
    dst = draw(st.none() | prefixes(family)) if family else None
    ported = proto in (Proto.TCP, Proto.UDP)
    return FilterRule(action=draw(st.sampled_from([RuleAction.ACCEPT, RuleAction.DROP, RuleAction.REJECT])),
                      src=src, dst=dst, proto=proto, family=family,
                      dport=draw(st.none() | PORTS) if ported else None,
                      sport=draw(st.none() | PORTS) if ported else None,
                      in_interface=draw(st.sampled_from([None, *IFACES])),
                      out_interface=draw(st.sampled_from([None, *IFACES])), states=draw(STATES))


@st.composite
def wider(draw: st.DrawFn, rule: FilterRule) -> FilterRule:
    """A rule that matches at least what `rule` matches, made by loosening some of its matches."""
    def loose() -> bool:
        return draw(st.booleans())

    def net(n: IPNetwork | None) -> IPNetwork | None:
        if n is None or loose():
            return None if n is None or draw(st.booleans()) else n.supernet(draw(st.integers(0, n.prefixlen)))
        return n

    def rng(r: PortRange | None) -> PortRange | None:
        if r is None or not loose():
            return r
        if draw(st.booleans()):
            return None
        return PortRange(max(1, r.first - draw(st.integers(0, 2))), r.last + draw(st.integers(0, 2)))

    src, dst = net(rule.src), net(rule.dst)
    keep_proto = not loose()
    proto = rule.proto if keep_proto else None
    sport, dport = (rng(rule.sport), rng(rule.dport)) if keep_proto else (None, None)
    family = rule.family
    if src is None and dst is None and proto is not Proto.ICMP and loose():
        family = None
    states = rule.states  # empty: every state, so only a rule with states can loosen them
    if states and loose():
        extra: frozenset[CtState] = draw(STATES)
        states = frozenset() if draw(st.booleans()) else states | extra
    return FilterRule(action=draw(st.sampled_from(list(RuleAction))), src=src, dst=dst, proto=proto, family=family,
                      sport=sport, dport=dport, in_interface=None if loose() else rule.in_interface,
                      out_interface=None if loose() else rule.out_interface, states=states)


@st.composite
def packets_of(draw: st.DrawFn, rule: FilterRule) -> Packet:
    """A packet, most often one `rule` matches (each match it writes is drawn inside what it allows)."""
    family = rule.family or draw(st.sampled_from([4, 6]))

    def addr(net: IPNetwork | None) -> IPAddress:
        if net is not None and net.version == family and draw(st.integers(0, 9)):
            return net.network_address + draw(st.integers(0, min(net.num_addresses - 1, 15)))
        return address(family, draw(st.integers(0, 7)))

    proto = rule.proto.value if rule.proto is not None and draw(st.integers(0, 9)) \
        else draw(st.sampled_from(["icmp", "tcp", "udp", "other"]))

    def port(r: PortRange | None) -> int | None:
        if proto not in ("tcp", "udp"):
            return None
        return draw(st.integers(r.first, r.last)) if r is not None and draw(st.integers(0, 9)) else draw(st.integers(0, 7))

    def itf(name: str | None) -> str | None:
        return name if name is not None and draw(st.integers(0, 9)) else draw(st.sampled_from([None, "a", "b", "c"]))

    state: CtState = draw(st.sampled_from(list(CtState)))
    if draw(st.integers(0, 9)) and rule.states:
        state = draw(st.sampled_from(sorted(rule.states)))
    return Packet(family, addr(rule.src), addr(rule.dst), proto, port(rule.sport), port(rule.dport),
                  itf(rule.in_interface), itf(rule.out_interface), state)


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Count the calls of module.NAME from now on (the count is the list's one item)."""
    calls = [0]
    real = getattr(module, name)

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(module, name, counted)
    return calls


@st.composite
def covering_pairs(draw: st.DrawFn) -> tuple[FilterRule, FilterRule, Packet]:
    later = draw(rules())
    earlier = draw(wider(later) | rules())
    return earlier, later, draw(packets_of(later))


@settings(max_examples=300, deadline=None)
@given(covering_pairs())
def test_covers_is_sound(case: tuple[FilterRule, FilterRule, Packet]) -> None:
    earlier, later, p = case
    if covers(earlier, later) and matches(later, p):
        assert matches(earlier, p), f"{earlier.describe()!r} does not match {p} that {later.describe()!r} matches"


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_loosened_rule_covers_the_original(data: st.DataObject) -> None:
    # the other way round: covers finds what loosening makes (completeness on these, not only soundness)
    rule = data.draw(rules())
    assert covers(data.draw(wider(rule)), rule)
    assert covers(rule, rule)


@st.composite
def chains_with_shadows(draw: st.DrawFn) -> list[FilterRule]:
    """Random rules, some of them after a loosened copy (shadowed) or a repeat of themselves."""
    out: list[FilterRule] = []
    for rule in draw(st.lists(rules(), max_size=8)):
        how = draw(st.integers(0, 2))
        if how == 1:
            out.append(draw(wider(rule)))
        elif how == 2 and out:
            out.append(draw(st.sampled_from(out)))
        out.append(rule)
    return out


@settings(max_examples=150, deadline=None)
@given(chains_with_shadows())
def test_shadowing_finds_the_first_covering_rule(chain: list[FilterRule]) -> None:
    # the destination index only skips what cannot cover: the same answer as trying every earlier rule
    naive = [(i, j) for i, rule in enumerate(chain)
             for j in [next((j for j in range(i) if covers(chain[j], rule)), None)] if j is not None]
    assert shadowing(tuple(chain)) == naive


def _many(kind: str, k: int, action: RuleAction = RuleAction.DROP) -> FilterRule:
    """Rule k of a long chain whose rules differ in one field only."""
    if kind == "dport":
        return FilterRule(action=action, proto=Proto.TCP, dport=PortRange(k, k))
    if kind == "sport":
        return FilterRule(action=action, proto=Proto.TCP, sport=PortRange(k, k), in_interface="e")
    if kind == "range":
        return FilterRule(action=action, proto=Proto.UDP, dport=PortRange(k, k + 1))
    return FilterRule(action=action, family=4, src=ipaddress.ip_network(f"10.{k // 256}.{k % 256}.0/24"))


@pytest.mark.parametrize("kind", ["dport", "sport", "range", "src"])
def test_a_chain_of_thousands_of_rules_is_not_compared_pair_by_pair(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """20,000 rules of one port, source port, port range or source each (files under 1 MB) took check 77 s to
    several minutes of CPU: every earlier rule without a destination was tried against every later one."""
    import topograph.front.filter_checks as fc

    calls = counting(monkeypatch, fc, "covers")
    n = 3000
    chain = [_many(kind, k) for k in range(1, n + 1)] + [_many(kind, 7, RuleAction.ACCEPT)]  # shadowed by rule 7
    assert fc.shadowing(tuple(chain)) == [(n, 6)]
    assert calls[0] < 4 * n  # pair by pair: n * n / 2


@st.composite
def overlapping(draw: st.DrawFn) -> tuple[FilterRule, FilterRule, Packet]:
    a = draw(rules())
    b = draw(wider(a) | rules())
    return a, b, draw(packets_of(a))


@settings(max_examples=300, deadline=None)
@given(overlapping())
def test_overlaps_is_sound(case: tuple[FilterRule, FilterRule, Packet]) -> None:
    a, b, p = case
    if matches(a, p) and matches(b, p):
        assert overlaps(a, b) and overlaps(b, a), f"{a.describe()!r} and {b.describe()!r} both match {p}"


@st.composite
def chains_and_flows(draw: st.DrawFn) -> tuple[FilterChain, Flow, Packet]:
    flow_rule = draw(rules())
    chain_rules = draw(st.lists(wider(flow_rule) | rules(), max_size=4))
    chain = FilterChain(Hook.FORWARD, policy=draw(st.sampled_from([RuleAction.ACCEPT, RuleAction.DROP])),
                        rules=tuple(chain_rules))
    never_to = draw(st.none() | prefixes(flow_rule.family)) if flow_rule.family else None
    return chain, Flow(flow_rule, never_to), draw(packets_of(flow_rule))


@settings(max_examples=200, deadline=None)
@given(chains_and_flows())
def test_never_accepted_is_sound(case: tuple[FilterChain, Flow, Packet]) -> None:
    chain, flow, p = case
    if not matches(flow.match, p) or (flow.never_to is not None and p.dst in flow.never_to):
        return  # not a packet of the flow
    stop = never_accepted(chain, flow)
    if stop is not None:
        assert verdict(chain, p) is not RuleAction.ACCEPT, f"{p} is accepted, yet {stop} was said to stop it"


def _pinned(rule: FilterRule) -> FilterRule:
    """`rule` with its prefixes narrowed to one host and its port ranges to one port: what the indexes narrow by."""
    def host(n: IPNetwork | None) -> IPNetwork | None:
        return None if n is None else ipaddress.ip_network(n.network_address)

    def port(r: PortRange | None) -> PortRange | None:
        return None if r is None else PortRange(r.first, r.first)

    return replace(rule, src=host(rule.src), dst=host(rule.dst), dport=port(rule.dport), sport=port(rule.sport))


@settings(max_examples=300, deadline=None)
@given(chains_and_flows(), st.booleans(), st.booleans())
def test_never_accepted_through_the_indexes_is_the_same(case: tuple[FilterChain, Flow, Packet], pin: bool,
                                                         host: bool) -> None:
    """The indexes (a port forward's flows against a chain of thousands of rules) only skip rules no packet of
    the flow can match: the same answer as trying every rule."""
    chain, flow, _ = case
    if pin:
        flow = Flow(_pinned(flow.match), flow.never_to)
    if host and flow.never_to is not None:
        flow = Flow(flow.match, ipaddress.ip_network(flow.never_to.network_address))
    assert never_accepted(chain, flow, chain_indexes(chain.rules)) == never_accepted(chain, flow)


def test_thousands_of_port_forwards_against_thousands_of_rules_are_not_compared_pair_by_pair(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """4,000 port forwards and 2,000 forward rules (a 0.5 MB file) took check 25 s: each forward's flows were
    held against every rule (its replies against every rule to the target, which they never match)."""
    import topograph.front.filter_checks as fc

    calls = counting(monkeypatch, fc, "overlaps")
    n = 800
    forwards = ", ".join(f"{{proto: tcp, port: {p}, to: '10.0.0.2:{p}'}}" for p in range(1, n + 1))
    rules = ", ".join(f"{{to: 10.0.0.2, proto: tcp, dport: {p}, action: accept}}" for p in range(1, n + 1, 2))
    text = ("nodes:\n  a:\n    forwarding: true\n    interfaces: {e: 10.0.0.1/24, w: 203.0.113.2/24}\n"
            f"    port_forwards: [{forwards}]\n    filter: {{forward: {{policy: drop, rules: [{rules}]}}}}\n"
            "  b: {interfaces: {e: 10.0.0.2/24}}\n  c: {interfaces: {w: 203.0.113.3/24}}\n"
            "links: [[a:e, b:e], [a:w, c:w]]\n")
    codes = [d.code for d in check_text(text, "x.yml").report]
    assert codes.count("TG512") == n // 2 and codes.count("TG514") == n // 2  # the odd ports, then the even ports
    assert calls[0] < 10 * n  # pair by pair: n * n / 2 * 2


@st.composite
def chains_and_packets(draw: st.DrawFn) -> tuple[FilterChain, Packet]:
    chain_rules = draw(st.lists(rules(), min_size=1, max_size=12))
    chain = FilterChain(Hook.FORWARD, policy=draw(st.sampled_from([RuleAction.ACCEPT, RuleAction.DROP])),
                        rules=tuple(chain_rules))
    return chain, draw(packets_of(draw(st.sampled_from(chain_rules))))


@settings(max_examples=300, deadline=None)
@given(chains_and_packets())
def test_the_simulator_s_indexed_chain_search_gives_the_rule_by_rule_verdict(case: tuple[FilterChain, Packet],
                                                                            ) -> None:
    """A long chain is searched through indexes (sim/filtering.py): the verdict, rule and number are those of
    trying every rule in order."""
    from topograph.sim import filtering

    chain, p = case
    if p.proto == "other":
        return
    args = (p.src, p.dst, Proto(p.proto), p.sport or 0, p.dport or 0, p.iif, p.oif, p.state)
    by_rule = filtering.evaluate_chain(chain, *args)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(filtering, "INDEXED_FROM", 0)
        indexed = filtering.evaluate_chain(chain, *args)
    assert (indexed.action, indexed.rule, indexed.index) == (by_rule.action, by_rule.rule, by_rule.index)


def test_the_simulator_does_not_try_every_rule_of_a_long_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """reach of 4,000 port forwards and 4,000 input rules (a 0.5 MB file) took 50 s: each packet tried every rule."""
    from topograph.sim import filtering

    calls = 0
    real = filtering.matches

    def counted(*args: object) -> bool:
        nonlocal calls
        calls += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(filtering, "matches", counted)
    chain = FilterChain(Hook.INPUT, policy=RuleAction.DROP, rules=tuple(
        FilterRule(action=RuleAction.ACCEPT, proto=Proto.TCP, dport=PortRange(p, p), in_interface="e")
        for p in range(1, 3001)))
    src, dst = ipaddress.ip_address("10.0.0.2"), ipaddress.ip_address("10.0.0.1")
    verdict_ = filtering.evaluate_chain(chain, src, dst, Proto.TCP, 40000, 2999, "e", None, CtState.NEW)
    assert (verdict_.action, verdict_.index) == (RuleAction.ACCEPT, 2999)
    assert filtering.evaluate_chain(chain, src, dst, Proto.UDP, 40000, 2999, "e", None, CtState.NEW).index == 0
    assert calls < 10


def test_relations_by_hand() -> None:
    v4 = ipaddress.ip_network
    any_tcp = FilterRule(RuleAction.ACCEPT, proto=Proto.TCP)
    ssh = FilterRule(RuleAction.DROP, proto=Proto.TCP, dport=PortRange(22, 22), src=v4("10.0.0.0/8"), family=4)
    assert covers(any_tcp, ssh) and not covers(ssh, any_tcp)
    udp = FilterRule(RuleAction.DROP, proto=Proto.UDP, dport=PortRange(22, 22))
    assert not covers(any_tcp, udp) and not overlaps(any_tcp, udp)
    # states: none written means every state
    new = FilterRule(RuleAction.ACCEPT, states=frozenset({CtState.NEW}))
    assert covers(FilterRule(RuleAction.DROP), new) and not covers(new, FilterRule(RuleAction.DROP))
    assert not overlaps(new, FilterRule(RuleAction.DROP, states=frozenset({CtState.ESTABLISHED})))
    assert not overlaps(ssh, FilterRule(RuleAction.DROP, src=v4("11.0.0.0/8"), family=4))
    assert not overlaps(ssh, FilterRule(RuleAction.DROP, proto=Proto.TCP, dport=PortRange(23, 80)))
    # a /0 covers every packet of its family, not the other family's
    v4_all = FilterRule(RuleAction.DROP, src=v4("0.0.0.0/0"), family=4)
    assert covers(v4_all, ssh) and not covers(v4_all, FilterRule(RuleAction.DROP, family=6, proto=Proto.ICMP))
    # icmp (IPv4) and icmpv6 never meet
    assert not overlaps(FilterRule(RuleAction.DROP, proto=Proto.ICMP, family=4),
                        FilterRule(RuleAction.DROP, proto=Proto.ICMP, family=6))
    assert not covers(FilterRule(RuleAction.DROP, in_interface="a"), FilterRule(RuleAction.DROP))


def test_replies_never_go_to_the_target_itself() -> None:
    f = PortForward(Proto.TCP, 80, ipaddress.ip_address("192.168.15.2"), 80)
    to_target = FilterRule(RuleAction.ACCEPT, dst=ipaddress.ip_network("192.168.15.2/32"), family=4)
    chain = FilterChain(Hook.FORWARD, policy=RuleAction.DROP, rules=(to_target,))
    assert never_accepted(chain, replies(f)) is chain


# -- the checks on whole files ------------------------------------------------------------------

def diags(text: str) -> list[Diagnostic]:
    return list(check_text(text, "f.yml").report)


def codes(text: str) -> list[tuple[str, int]]:
    return [(d.code, d.pos.line) for d in diags(text)]


SERVER = """lab: fw
nodes:
  server:
    interfaces: {eth0: 192.168.1.2/24}
    filter:
      input:
        rules:
%s
  lan: {interfaces: {eth0: 192.168.1.3/24}}
links: [[server:eth0, lan:eth0]]
"""


def server(*rules: str) -> str:
    return SERVER % "\n".join(f"          - {r}" for r in rules)


def test_shadowed_rule_names_both_rules() -> None:
    (d,) = diags(server("{proto: tcp, action: accept}", "{proto: udp, action: drop}", "{proto: tcp, dport: 22, action: drop}"))
    assert (d.code, d.pos.line, d.severity) == ("TG510", 10, "warning")
    assert "'drop tcp dport 22'" in d.message and "'accept tcp' (f.yml:8)" in d.message
    assert d.hint is not None and "move this rule above line 8" in d.hint


def test_shadowed_by_the_same_action_says_remove() -> None:
    (d,) = diags(server("{from: 10.0.0.0/8, action: drop}", "{from: 10.1.0.0/16, proto: udp, action: drop}"))
    assert d.code == "TG510" and d.hint is not None and d.hint.startswith("remove this rule")


def test_no_shadow_when_the_earlier_rule_matches_less() -> None:
    assert codes(server("{proto: tcp, dport: 22, action: accept}", "{proto: tcp, action: drop}",
                        "{state: [new], action: accept}", "{action: drop}",
                        "{in: eth0, state: [established], action: accept}")) == [("TG510", 12)]


def test_each_shadowed_rule_is_reported_once() -> None:
    assert codes(server("{action: accept}", "{action: drop}", "{proto: tcp, action: reset}")) == \
        [("TG510", 9), ("TG510", 10)]


FORWARDER = """lab: fw
nodes:
  gw:
    forwarding: %s
    interfaces: {eth0: 192.168.1.2/24}
    filter:
      forward: %s
  lan: {interfaces: {eth0: 192.168.1.3/24}}
links: [[gw:eth0, lan:eth0]]
"""


def test_forward_chain_without_forwarding() -> None:
    (d,) = diags(FORWARDER % ("false", "{policy: drop}"))
    assert (d.code, d.pos.line) == ("TG511", 7) and d.hint is not None and "forwarding: true" in d.hint
    assert codes(FORWARDER % ("false", "{rules: [{action: drop}]}")) == [("TG511", 7)]
    assert codes(FORWARDER % ("false", "{policy: accept}")) == []  # filters nothing
    assert codes(FORWARDER % ("true", "{policy: drop}")) == []


GATEWAY = """lab: fw
nodes:
  web: {interfaces: {e: 192.168.15.2/24}, routes: [{to: default, via: 192.168.15.5}]}
  gw:
    forwarding: true
    interfaces: {e: 192.168.15.5/24, eth0: 192.168.1.2/24, eth1: 192.168.2.2/24}
    port_forwards: [%s]
    filter:
      forward:
        policy: %s
        rules:
%s
  lan: {interfaces: {eth0: 192.168.1.3/24}}
  dmz: {interfaces: {eth0: 192.168.2.3/24}}
links: [[web:e, gw:e], [gw:eth0, lan:eth0], [gw:eth1, dmz:eth0]]
"""
PF = "{proto: tcp, port: 8080, to: 192.168.15.2:80}"
ESTABLISHED = "{state: [established, related], action: accept}"


def gateway(forward: str, policy: str, *rules: str) -> str:
    return GATEWAY % (forward, policy, "\n".join(f"          - {r}" for r in rules) or "          []")


def test_port_forward_to_the_public_port_is_dropped_by_policy() -> None:
    (d,) = diags(gateway(PF, "drop", ESTABLISHED, "{to: 192.168.15.2, proto: tcp, dport: 8080, action: accept}"))
    assert (d.code, d.pos.line) == ("TG512", 7) and "tcp/8080 -> 192.168.15.2:80" in d.message
    assert "policy (line 9) is drop" in d.message
    assert d.hint is not None and "{to: 192.168.15.2, proto: tcp, dport: 80, action: accept}" in d.hint


def test_port_forward_dropped_by_a_rule_names_it() -> None:
    (d,) = diags(gateway("{proto: tcp, port: 2222, to: 192.168.15.2:22, in: eth1}", "accept",
                         "{in: eth1, action: drop}"))
    assert d.code == "TG512" and "'drop in eth1' (f.yml:12)" in d.message and "above line 12" in (d.hint or "")


def test_port_forward_accepted_or_possibly_accepted() -> None:
    accepted = "{to: 192.168.15.2, proto: tcp, dport: 80, action: accept}"
    assert codes(gateway(PF, "drop", ESTABLISHED, accepted)) == []
    assert codes(gateway(PF, "accept")) == []
    # a drop of part of it does not stop it all; a drop on another in interface does not touch it
    assert codes(gateway(PF, "accept", "{from: 10.0.0.0/8, action: drop}")) == []
    assert codes(gateway("{proto: tcp, port: 2222, to: 192.168.15.2:22, in: eth0}", "accept",
                         "{in: eth1, action: drop}")) == []
    # an accept out of another interface than the one towards the target does not let it through
    assert codes(gateway(PF, "drop", ESTABLISHED, "{out: eth0, action: accept}")) == [("TG512", 7)]
    assert codes(gateway(PF, "drop", ESTABLISHED, "{out: e, action: accept}")) == []


def test_port_forward_whose_replies_are_dropped() -> None:
    accepted = "{to: 192.168.15.2, proto: tcp, dport: 80, action: accept}"
    (d,) = diags(gateway(PF, "drop", accepted))
    assert d.code == "TG514" and "every reply" in d.message and "established" in (d.hint or "")
    assert codes(gateway(PF, "drop", accepted, "{from: 192.168.15.0/24, action: accept}")) == []
    assert codes(gateway(PF, "accept", "{state: [established], action: drop}", accepted)) == [("TG514", 7)]


HOST = """lab: fw
nodes:
  red: {interfaces: {veth-red: 192.168.15.1/24}, routes: [{to: default, via: 192.168.15.5}]}
  host:
    kind: host
    forwarding: true
    bridges: {v-net-0: 192.168.15.5/24}
    interfaces: {eth0: 192.168.1.2/24, spare: {up: false}}
    filter:
      %s:
        rules: [%s]
  lan: {kind: external, interfaces: {eth0: 192.168.1.3/24}}
links: [[red:veth-red, v-net-0:veth-red-br], [host:eth0, lan:eth0]]
"""


def test_interfaces_no_packet_has() -> None:
    (d,) = diags(HOST % ("input", "{in: veth-red-br, action: accept}"))
    assert (d.code, d.pos.line) == ("TG513", 11) and d.hint == "write 'in: v-net-0'"
    (d,) = diags(HOST % ("forward", "{out: spare, action: drop}"))
    assert d.code == "TG513" and "configured down" in d.message
    assert codes(HOST % ("forward", "{in: lo, action: drop}")) == [("TG513", 11)]
    assert codes(HOST % ("input", "{in: lo, action: accept}")) == []  # the node's own traffic to itself
    assert codes(HOST % ("forward", "{in: v-net-0, out: eth0, action: accept}")) == []


def test_a_filter_section_with_a_shape_error_is_not_judged() -> None:
    text = server("{action: accept}", "{action: drop, frm: 10.0.0.1}", "{action: drop}")
    assert "TG510" not in {d.code for d in diags(text)}
