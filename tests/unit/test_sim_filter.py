"""The walker and packet filters: every match and action, chain order around NAT, conntrack states, UDP."""

from __future__ import annotations

import ipaddress

import pytest

from tests.conftest import ROOT
from topograph.model import CtState, FilterChain, FilterRule, Hook, PortRange, Proto, RuleAction
from topograph.pipeline import check_text
from topograph.sim import Disposition as D
from topograph.sim import Flow, FlowResult, Network, trace_flow
from topograph.sim.filtering import evaluate_chain
from topograph.sim.trace import Action

A4, B4 = ipaddress.ip_address("10.0.1.2"), ipaddress.ip_address("10.0.3.2")
A6, B6 = ipaddress.ip_address("fd00::2"), ipaddress.ip_address("fd00:3::2")


def verdict(rule: FilterRule, *, src: object = A4, dst: object = B4, proto: Proto = Proto.TCP, sport: int = 40000,
            dport: int = 22, iif: str | None = "eth0", oif: str | None = "eth1",
            state: CtState = CtState.NEW) -> RuleAction:
    chain = FilterChain(Hook.FORWARD, RuleAction.DROP, (rule,))
    return evaluate_chain(chain, src, dst, proto, sport, dport, iif, oif, state).action  # type: ignore[arg-type]


def net(text: str) -> Network:
    checked = check_text(text, "lab.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    return Network(checked.topology)


def run(n: Network, src: str, dst: str, proto: Proto = Proto.ICMP, port: int | None = None) -> FlowResult:
    return trace_flow(n, Flow(src, ipaddress.ip_address(dst), proto, port))


def steps(r: FlowResult, action: Action, reply: bool = False) -> list[str]:
    t = r.reply if reply else r.request
    assert t is not None
    return [f"{h.node}: {s.detail}" for h in t.hops for s in h.steps if s.action is action]


# -- the chain's verdict, match by match ------------------------------------------------------------------
def rule(**kw: object) -> FilterRule:
    return FilterRule(RuleAction.ACCEPT, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("r", "kw", "hit"), [
    (rule(), {}, True),
    (rule(src=ipaddress.ip_network("10.0.1.0/24")), {}, True),
    (rule(src=ipaddress.ip_network("10.0.2.0/24")), {}, False),
    (rule(src=ipaddress.ip_network("fd00::/64"), family=6), {}, False),  # another family never matches
    (rule(dst=ipaddress.ip_network("10.0.3.2/32")), {}, True),
    (rule(dst=ipaddress.ip_network("10.0.3.3/32")), {}, False),
    (rule(proto=Proto.TCP), {}, True),
    (rule(proto=Proto.UDP), {}, False),
    (rule(proto=Proto.ICMP, family=4), {"proto": Proto.ICMP}, True),
    (rule(proto=Proto.ICMP, family=6), {"proto": Proto.ICMP}, False),  # icmpv6 is not icmp
    (rule(proto=Proto.ICMP, family=6), {"proto": Proto.ICMP, "src": A6, "dst": B6}, True),
    (rule(proto=Proto.TCP, dport=PortRange(20, 25)), {}, True),
    (rule(proto=Proto.TCP, dport=PortRange(23, 25)), {}, False),
    (rule(proto=Proto.TCP, sport=PortRange(40000, 40000)), {}, True),
    (rule(proto=Proto.TCP, sport=PortRange(1, 1023)), {}, False),
    (rule(in_interface="eth0"), {}, True),
    (rule(in_interface="eth1"), {}, False),
    (rule(out_interface="eth1"), {}, True),
    (rule(out_interface="eth0"), {"oif": None}, False),
    (rule(states=frozenset({CtState.ESTABLISHED, CtState.RELATED})), {}, False),
    (rule(states=frozenset({CtState.ESTABLISHED, CtState.RELATED})), {"state": CtState.RELATED}, True),
    (rule(states=frozenset({CtState.INVALID})), {"state": CtState.INVALID}, True),
])
def test_each_match(r: FilterRule, kw: dict[str, object], hit: bool) -> None:
    assert verdict(r, **kw) is (RuleAction.ACCEPT if hit else RuleAction.DROP)  # type: ignore[arg-type]


def test_the_first_matching_rule_decides_then_the_policy() -> None:
    chain = FilterChain(Hook.INPUT, RuleAction.ACCEPT, (
        FilterRule(RuleAction.REJECT, proto=Proto.UDP),
        FilterRule(RuleAction.RESET, proto=Proto.TCP, dport=PortRange(22, 22)),
        FilterRule(RuleAction.DROP, proto=Proto.TCP),
    ))
    def act(proto: Proto, dport: int) -> tuple[RuleAction, int]:
        v = evaluate_chain(chain, A4, B4, proto, 40000, dport, "eth0", None, CtState.NEW)
        return v.action, v.index
    assert act(Proto.UDP, 22) == (RuleAction.REJECT, 1)
    assert act(Proto.TCP, 22) == (RuleAction.RESET, 2)
    assert act(Proto.TCP, 80) == (RuleAction.DROP, 3)
    assert act(Proto.ICMP, 0) == (RuleAction.ACCEPT, 0)  # the policy


# -- a -- r1 -- r2 -- b ------------------------------------------------------------------------------------
LINE = """
nodes:
  a: {{interfaces: {{eth0: 10.0.1.2/24}}, routes: [{{to: default, via: 10.0.1.1}}]{a}}}
  r1:
    forwarding: true
    interfaces: {{eth0: 10.0.1.1/24, eth1: 10.0.2.1/24}}
    routes: [{{to: 10.0.3.0/24, via: 10.0.2.2}}]
    filter: {r1}
  r2:
    forwarding: true
    interfaces: {{eth0: 10.0.2.2/24, eth1: 10.0.3.1/24}}
    routes: [{{to: 10.0.1.0/24, via: 10.0.2.1}}]
    filter: {r2}
  b: {{interfaces: {{eth0: 10.0.3.2/24}}, routes: [{{to: default, via: 10.0.3.1}}], listen: [tcp/22, udp/53]}}
links:
  - [a:eth0, r1:eth0]
  - [r1:eth1, r2:eth0]
  - [r2:eth1, b:eth0]
"""


def line(r1: str = "{}", r2: str = "{}", a: str = "") -> Network:
    return net(LINE.format(r1=r1, r2=r2, a=a))


def test_accept_drop_reject_and_reset_in_a_forward_chain() -> None:
    assert run(line(r2="{forward: {rules: [{to: 10.0.3.2, action: accept}]}}"), "a", "10.0.3.2").ok
    r = run(line(r2="{forward: {rules: [{to: 10.0.3.2, action: drop}]}}"), "a", "10.0.3.2")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "r2") and r.reply is None
    assert "r2's forward chain dropped the request" in r.reason and "lab.yml:" in r.reason
    r = run(line(r2="{forward: {rules: [{to: 10.0.3.2, action: reject}]}}"), "a", "10.0.3.2", Proto.TCP, 22)
    assert (r.disposition, r.node) == (D.FILTER_REJECTED, "r2")
    assert r.reply is not None and r.reply.nodes == ("r2", "r1", "a")
    assert "port unreachable icmp 10.0.2.2 -> 10.0.1.2" in "\n".join(steps(r, Action.ORIGINATED, reply=True))
    r = run(line(r2="{forward: {rules: [{proto: tcp, action: reset}]}}"), "a", "10.0.3.2", Proto.TCP, 22)
    assert (r.disposition, r.node) == (D.FILTER_REJECTED, "r2") and "a TCP reset" in r.reason
    assert "reset tcp 10.0.3.2:22 -> 10.0.1.2:40000" in "\n".join(steps(r, Action.ORIGINATED, reply=True))


def test_the_policy_drop_is_named_with_its_line() -> None:
    r = run(line(r1="{forward: {policy: drop}}"), "a", "10.0.3.2")
    assert r.disposition is D.FILTER_DROPPED and r.node == "r1"
    assert "the policy drop of r1's forward chain (lab.yml:" in r.reason
    assert steps(r, Action.FILTER)[0].startswith("r1: forward chain (new): policy drop (lab.yml:")


STATEFUL = ("{forward: {policy: drop, rules: [{state: [established, related], action: accept}, "
            "{from: 10.0.1.0/24, action: accept}]}}")
STATELESS = "{forward: {policy: drop, rules: [{from: 10.0.1.0/24, action: accept}]}}"


def test_a_stateless_policy_drop_kills_the_replies() -> None:
    assert run(line(r1=STATEFUL), "a", "10.0.3.2").ok
    r = run(line(r1=STATELESS), "a", "10.0.3.2")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "r1")
    assert r.reason.startswith("the request reached b, but its reply was dropped: r1's forward chain dropped the reply")
    assert steps(r, Action.FILTER, reply=True)[0].startswith("r1: forward chain (established): policy drop (lab.yml:8:")


def test_a_reject_whose_answer_a_forward_chain_drops_times_out() -> None:
    reject = "{forward: {rules: [{to: 10.0.3.2, action: reject}]}}"
    r = run(line(r1=STATELESS, r2=reject), "a", "10.0.3.2")  # the ICMP error is related: r1 lets only a's LAN out
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "r1")
    assert "r2's forward chain rejected the request" in r.reason and "lost on the way back" in r.reason
    assert "r1: forward chain (related): policy drop" in steps(r, Action.FILTER, reply=True)[0]
    assert run(line(r1=STATEFUL, r2=reject), "a", "10.0.3.2").disposition is D.FILTER_REJECTED


def test_a_reject_whose_answer_its_own_output_chain_drops_times_out() -> None:
    r2 = "{forward: {rules: [{to: 10.0.3.2, action: reject}]}, output: {policy: drop}}"
    r = run(line(r2=r2), "a", "10.0.3.2")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "r2")
    assert "r2's output chain dropped the port unreachable" in r.reason
    assert steps(r, Action.FILTER, reply=True)[0].startswith("r2: output chain (related): policy drop")


def test_a_reset_is_established_on_the_way_back() -> None:
    r2 = "{forward: {rules: [{proto: tcp, action: reset}]}}"
    only_related = "{forward: {policy: drop, rules: [{state: [related], action: accept}, {from: 10.0.1.0/24, action: accept}]}}"
    r = run(line(r1=only_related, r2=r2), "a", "10.0.3.2", Proto.TCP, 22)
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "r1")
    assert "r1: forward chain (established): policy drop" in steps(r, Action.FILTER, reply=True)[0]
    assert run(line(r1=STATEFUL, r2=r2), "a", "10.0.3.2", Proto.TCP, 22).disposition is D.FILTER_REJECTED


def test_a_rejected_reply_lets_the_source_time_out() -> None:
    r = run(line(r1="{forward: {rules: [{from: 10.0.3.2, action: reject}]}}"), "a", "10.0.3.2")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "r1")
    assert "goes to the replier" in r.reason


def test_a_closed_ports_reset_dropped_by_a_filter() -> None:
    r = run(line(r1=STATELESS), "a", "10.0.3.2", Proto.TCP, 23)
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "r1") and "its reset was dropped" in r.reason
    assert run(line(r1=STATEFUL), "a", "10.0.3.2", Proto.TCP, 23).disposition is D.CONNECTION_REFUSED


def test_udp_listener_closed_port_and_its_related_error() -> None:
    assert run(line(), "a", "10.0.3.2", Proto.UDP, 53).ok
    r = run(line(), "a", "10.0.3.2", Proto.UDP, 54)
    assert (r.disposition, r.node) == (D.CONNECTION_REFUSED, "b") and r.reason == "b has no listener on udp/54"
    established_only = ("{forward: {policy: drop, rules: [{state: [established], action: accept}, "
                        "{from: 10.0.1.0/24, action: accept}]}}")
    assert run(line(r1=established_only), "a", "10.0.3.2", Proto.UDP, 53).ok
    r = run(line(r1=established_only), "a", "10.0.3.2", Proto.UDP, 54)
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "r1")
    assert "r1: forward chain (related): policy drop" in steps(r, Action.FILTER, reply=True)[0]
    r = run(line(r2="{forward: {rules: [{proto: udp, dport: 50-60, action: reject}]}}"), "a", "10.0.3.2", Proto.UDP, 53)
    assert r.disposition is D.FILTER_REJECTED


def test_input_and_output_chains_of_the_ends() -> None:
    r = run(line(a=", filter: {output: {policy: drop, rules: [{proto: udp, action: accept}]}}"), "a", "10.0.3.2")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "a") and "a's output chain dropped the request" in r.reason
    assert steps(r, Action.FILTER)[0].startswith("a: output chain (new): policy drop (lab.yml:3:")
    r = run(line(a=", filter: {output: {rules: [{out: eth0, proto: tcp, action: reset}]}}"), "a", "10.0.3.2", Proto.TCP, 22)
    assert (r.disposition, r.node) == (D.FILTER_REJECTED, "a")  # its own reset comes back over loopback
    assert r.reply is not None and r.reply.nodes == ("a",)
    r = run(line(a=", filter: {input: {policy: drop, rules: [{state: [new], action: accept}]}}"), "a", "10.0.3.2")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "a") and "a's input chain dropped the reply" in r.reason


def test_a_nodes_own_address_over_loopback() -> None:
    r = run(line(a=", filter: {output: {rules: [{out: lo, action: drop}]}}"), "a", "10.0.1.2")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "a")
    r = run(line(a=", filter: {input: {rules: [{in: lo, proto: tcp, action: reject}]}}"), "a", "10.0.1.2", Proto.TCP, 22)
    assert (r.disposition, r.node) == (D.FILTER_REJECTED, "a")
    # the port unreachable is ICMP: a rule that rejects ICMP on lo drops it too (no error about an error)
    r = run(line(a=", filter: {input: {rules: [{in: lo, proto: icmp, action: reject}]}}"), "a", "10.0.1.2")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "a") and "goes to nobody" in r.reason
    r = run(line(a=", filter: {input: {policy: drop, rules: [{state: [new], action: accept}]}}"), "a", "10.0.1.2")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "a") and "its reply was lost" in r.reason


# -- chain order around NAT: the seed's host as a firewall ------------------------------------------------
SEED = (ROOT / "samples" / "06-port-forward.yml").read_text().split("expect:")[0]


def seed(filter_yaml: str) -> Network:
    text = SEED.replace("      - {proto: tcp, port: 80, to: 192.168.15.2:80}\n",
                        "      - {proto: tcp, port: 80, to: 192.168.15.2:80}\n    filter: " + filter_yaml + "\n")
    return net(text.replace("    interfaces: {veth-blue: 192.168.15.2/24}",
                            "    interfaces: {veth-blue: 192.168.15.2/24}\n    listen: [tcp/80]"))


def test_the_forward_chain_sees_the_dnat_destination() -> None:
    first = "{forward: {policy: drop, rules: [{state: [established], action: accept}, "
    to_blue = first + "{to: 192.168.15.2, proto: tcp, dport: 80, action: accept}]}}"
    r = run(seed(to_blue), "lan", "192.168.1.2", Proto.TCP, 80)
    assert r.ok and r.node == "blue"
    to_host = first + "{to: 192.168.1.2, proto: tcp, dport: 80, action: accept}]}}"
    r = run(seed(to_host), "lan", "192.168.1.2", Proto.TCP, 80)
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "host")
    assert "(192.168.1.3:40000 -> 192.168.15.2:80)" in r.reason


def test_the_forward_chain_sees_the_source_before_masquerade() -> None:
    inside = "{forward: {policy: drop, rules: [{state: [established], action: accept}, {from: 192.168.15.0/24, action: accept}]}}"
    assert run(seed(inside), "blue", "192.168.1.3").ok
    outside = "{forward: {policy: drop, rules: [{state: [established], action: accept}, {from: 192.168.1.2, action: accept}]}}"
    r = run(seed(outside), "blue", "192.168.1.3")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "host")
    # the reply's forward verdict comes after conntrack gave it back its original destination
    r = run(seed(inside), "blue", "192.168.1.3")
    filt = steps(r, Action.FILTER, reply=True)
    assert len(filt) == 1 and filt[0].startswith("host: forward chain (established): accept by rule 1 (lab.yml:28:")
    assert filt[0].endswith("'accept state established'")


def test_a_reject_behind_a_port_forward_answers_from_the_address_the_client_used() -> None:
    reject = seed("{forward: {rules: [{to: 192.168.15.2, action: reject}]}}")
    assert run(reject, "lan", "192.168.1.2", Proto.TCP, 80).disposition is D.FILTER_REJECTED
    r = run(reject, "red", "192.168.1.2", Proto.TCP, 80)  # the hairpin: the error leaves by the bridge
    assert (r.disposition, r.node) == (D.FILTER_REJECTED, "host")
    unnat = steps(r, Action.UNNAT, reply=True)
    assert unnat == ["host: conntrack: source 192.168.15.5 -> 192.168.15.1 (about 192.168.15.1:40000 -> 192.168.1.2:80) "
                     "becomes 192.168.1.2 -> 192.168.15.1 (about 192.168.15.1:40000 -> 192.168.1.2:80)"]


INPUT_DNAT = """
nodes:
  host:
    forwarding: true
    interfaces: {eth0: 192.168.1.2/24, lo: 192.168.15.5/32}
    port_forwards: [{proto: tcp, port: 80, to: '192.168.15.5:8080'}]
    listen: [tcp/8080]
    filter: {input: {policy: drop, rules: [{to: %s, proto: tcp, dport: %d, action: accept}]}}
  lan: {interfaces: {eth0: 192.168.1.3/24}}
links:
  - [host:eth0, lan:eth0]
"""


def test_the_input_chain_sees_the_dnat_destination() -> None:
    assert run(net(INPUT_DNAT % ("192.168.15.5", 8080)), "lan", "192.168.1.2", Proto.TCP, 80).ok
    r = run(net(INPUT_DNAT % ("192.168.1.2", 80)), "lan", "192.168.1.2", Proto.TCP, 80)
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "host") and "host's input chain dropped the request" in r.reason


# -- invalid: a reply on a path the request did not take ---------------------------------------------------
ASYMMETRIC = """
nodes:
  a:
    interfaces: {e1: 10.0.1.2/24, e2: 10.0.2.2/24}
    routes: [{to: 10.0.3.0/24, via: 10.0.1.1}]
  r1:
    forwarding: true
    interfaces: {e1: 10.0.1.1/24, e3: 10.0.3.1/24}
  r2:
    forwarding: true
    interfaces: {e2: 10.0.2.1/24, e4: 10.0.4.1/24}
    routes: [{to: 10.0.1.0/24, via: 10.0.2.2}]
    filter: {forward: {rules: [{state: [%s], action: drop}]}}
  b:
    interfaces: {e3: 10.0.3.2/24, e4: 10.0.4.2/24}
    routes: [{to: 10.0.1.0/24, via: 10.0.4.1}]
    listen: [tcp/22, udp/53]
links:
  - [a:e1, r1:e1]
  - [a:e2, r2:e2]
  - [r1:e3, b:e3]
  - [r2:e4, b:e4]
"""


def test_replies_conntrack_cannot_place_are_invalid_but_udp_is_new() -> None:
    invalid = net(ASYMMETRIC % "invalid")
    for proto, port in ((Proto.ICMP, None), (Proto.TCP, 22), (Proto.TCP, 23)):  # echo reply, SYN-ACK, RST
        r = run(invalid, "a", "10.0.3.2", proto, port)
        assert (r.disposition, r.node) == (D.FILTER_DROPPED, "r2"), (proto, port)
        assert steps(r, Action.FILTER, reply=True)[0].startswith("r2: forward chain (invalid): drop by rule 1")
    assert run(invalid, "a", "10.0.3.2", Proto.UDP, 53).ok
    new = net(ASYMMETRIC % "new")
    assert run(new, "a", "10.0.3.2").ok
    assert run(new, "a", "10.0.3.2", Proto.UDP, 53).disposition is D.FILTER_DROPPED


def test_nodes_without_chains_show_no_filter_steps() -> None:
    r = run(line(), "a", "10.0.3.2")
    assert steps(r, Action.FILTER) == [] and steps(r, Action.FILTER, reply=True) == []
