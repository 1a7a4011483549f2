"""The walker against three kernel behaviours measured in namespaces (tests/live/probes.py): IPv6 neighbour
discovery through the filter chains, a TCP handshake's final ACK, and a ping of :: answered by an ICMPv6 error."""

from __future__ import annotations

import ipaddress

import pytest

from tests.conftest import ROOT
from topograph.model import Proto
from topograph.pipeline import check_file, check_text
from topograph.sim import Disposition as D
from topograph.sim import Flow, FlowResult, Network, SimOptions, trace_flow
from topograph.sim.classes import fast_matrix
from topograph.sim.matrix import ITSELF, reference_matrix, targets
from topograph.sim.ndisc import LINK_LOCAL, solicitation_source, solicited_node
from topograph.sim.trace import Action

REGRESSIONS = ROOT / "tests" / "golden" / "trace" / "regressions"


def net(text: str) -> Network:
    checked = check_text(text, "lab.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    return Network(checked.topology)


def run(n: Network, src: str, dst: str, proto: Proto = Proto.ICMP, port: int | None = None) -> FlowResult:
    return trace_flow(n, Flow(src, ipaddress.ip_address(dst), proto, port))


def pair(b_filter: str, b_extra: str = "") -> Network:
    return net(f"""
lab: t
nodes:
  a:
    interfaces: {{eth0: [10.0.0.1/24, 'fd00::1/64']}}
  b:
    interfaces: {{eth0: [10.0.0.2/24, 'fd00::2/64']}}
{b_extra}    filter:
{b_filter}
links:
  - [a:eth0, b:eth0]
""")


# -- neighbour discovery -------------------------------------------------------------------------------------
def test_solicited_node_group_and_source() -> None:
    assert str(solicited_node(ipaddress.ip_address("fd00::12:3456:789a"))) == "ff02::1:ff56:789a"
    n = pair("      output: {rules: [{action: accept}]}")
    assert solicitation_source(n, "a", "eth0", ipaddress.ip_address("fd00::1")) == ipaddress.ip_address("fd00::1")
    # a packet from an address of another interface (a forwarded one): the link-local address asks
    assert solicitation_source(n, "a", "eth0", ipaddress.ip_address("fd00:9::1")) == LINK_LOCAL


def test_nd_is_untracked_so_established_related_does_not_accept_it() -> None:
    n = net((REGRESSIONS / "nd-filtered-by-the-chains.yml").read_text())
    r = run(n, "a", "fd00::2")  # b's output drops its advertisement
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "b")
    assert "neighbour discovery advertisement" in r.reason and "untracked" in r.reason
    assert any("neighbour discovery: b's output chain" in s.detail for h in r.request.hops for s in h.steps
               if s.action is Action.FILTER)
    r = run(n, "a", "fd00::3")  # c's input drops the solicitation
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "c") and "solicitation" in r.reason
    r = run(n, "c", "fd00::1")  # c's input drops the advertisement it asked for
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "c") and "advertisement" in r.reason
    assert run(n, "a", "10.0.0.2").disposition is D.DELIVERED  # ARP is not filtered by inet chains
    assert run(n, "c", "10.0.0.1").disposition is D.DELIVERED


def test_a_state_less_rule_lets_nd_pass() -> None:
    n = pair("      output:\n        policy: drop\n        rules:\n          - {proto: icmpv6, action: accept}")
    assert run(n, "a", "fd00::2").disposition is D.DELIVERED
    assert run(n, "b", "fd00::1").disposition is D.DELIVERED


def test_the_answerer_keeps_the_solicitations_source_for_its_reply() -> None:
    # b's output passes only what goes to fd00::1: its advertisement to a, not its own solicitation (to ff02::..);
    # measured: a's ping of b is answered (b replies through the neighbour a's solicitation left), b's of a is not
    n = pair("      output:\n        policy: drop\n        rules:\n"
             "          - {state: [established, related], action: accept}\n"
             "          - {proto: icmpv6, to: 'fd00::1', action: accept}")
    assert run(n, "a", "fd00::2").disposition is D.DELIVERED
    r = run(n, "b", "fd00::1")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "b") and "solicitation" in r.reason


def test_the_forward_chain_never_sees_nd() -> None:
    n = pair("      forward: {policy: drop, rules: []}", "    forwarding: true\n")
    assert run(n, "a", "fd00::2").disposition is D.DELIVERED


# -- the TCP handshake's final ACK ---------------------------------------------------------------------------
@pytest.mark.parametrize(("action", "disposition"), [
    ("drop", D.FILTER_DROPPED), ("reject", D.FILTER_REJECTED), ("reset", D.FILTER_REJECTED)])
@pytest.mark.parametrize("src", ["a", "b"])  # b: its own address, over loopback
def test_the_final_ack_is_established(action: str, disposition: D, src: str) -> None:
    n = pair(f"      input:\n        rules:\n          - {{proto: tcp, dport: 8000, state: [established], "
             f"action: {action}}}", "    listen: [tcp/8000, tcp/8001]\n")
    r = run(n, src, "10.0.0.2", Proto.TCP, 8000)
    assert (r.disposition, r.node) == (disposition, "b"), r.reason
    assert "final ACK" in r.reason
    assert run(n, src, "10.0.0.2", Proto.TCP, 8001).disposition is D.DELIVERED
    assert run(n, src, "fd00::2", Proto.TCP, 8001).disposition is D.DELIVERED


def test_regression_gen1027_resets_the_final_ack() -> None:
    checked = check_file(REGRESSIONS / "gen1027-established-reset-on-the-handshake.yml")
    assert checked.topology is not None
    n = Network(checked.topology)
    r = run(n, "n1", "10.163.1.6", Proto.TCP, 8000)
    assert (r.disposition, r.node) == (D.FILTER_REJECTED, "n2") and "final ACK" in r.reason


def test_the_final_ack_is_translated_like_the_syn() -> None:
    # a port forward with masquerade: the ACK must go to the forward's target from the masqueraded source, as the
    # SYN did (untranslated, r's input chain would take it, and s's input chain drops any other source)
    n = net("""
lab: t
nodes:
  c:
    interfaces: {eth0: [10.0.1.2/24]}
    routes: [{to: default, via: 10.0.1.1}]
  r:
    forwarding: true
    interfaces: {eth0: [10.0.1.1/24], eth1: [10.0.2.1/24]}
    port_forwards: [{proto: tcp, port: 80, to: '10.0.2.2:8080'}]
    nat: [{masquerade: 10.0.1.0/24, out: eth1}]
    filter:
      input:
        rules:
          - {proto: tcp, dport: 80, action: drop}
  s:
    interfaces: {eth0: [10.0.2.2/24]}
    listen: [tcp/8080]
    filter:
      input:
        policy: drop
        rules:
          - {from: 10.0.2.1, proto: tcp, dport: 8080, action: accept}
links:
  - [c:eth0, r:eth0]
  - [r:eth1, s:eth0]
""")
    assert run(n, "c", "10.0.1.1", Proto.TCP, 80).disposition is D.DELIVERED


# -- a ping of :: -------------------------------------------------------------------------------------------
def test_a_ping_of_the_unspecified_ipv6_address_ignores_the_error_about_loopback() -> None:
    checked = check_file(REGRESSIONS / "ipv6-reject-over-loopback.yml")
    assert checked.topology is not None
    n = Network(checked.topology)
    r = run(n, "x", "::")
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "x") and "ignores an error" in r.reason
    assert run(n, "x", "::1").disposition is D.FILTER_REJECTED
    assert run(n, "x", "0.0.0.0").disposition is D.FILTER_REJECTED


# -- the fast matrix models the same ------------------------------------------------------------------------
@pytest.mark.parametrize("lab", sorted(p.name for p in REGRESSIONS.glob("*.yml")))
def test_fast_matrix_equals_the_walker_on_the_regression_labs(lab: str) -> None:
    checked = check_file(REGRESSIONS / lab)
    assert checked.topology is not None
    n = Network(checked.topology)
    cols = (*targets(checked.topology, every_address=True), *ITSELF)
    assert fast_matrix(n, cols).differences(reference_matrix(n, cols)) == []


def test_the_servers_data_is_picked_up_and_masqueraded_where_the_syn_did_not_pass() -> None:
    # n4's SYN goes n1 -> n0, the SYN-ACK n0 -> n3 -> n2 -> n4; n3 took the SYN-ACK as invalid, picks the banner up
    # as new and masquerades it out br2 (measured with tcpdump: the banner came from 10.1.2.5, n4 reset it)
    checked = check_file(REGRESSIONS / "gen2009-ping-accepts-a-translated-reply.yml")
    assert checked.topology is not None
    n = Network(checked.topology, SimOptions(bridge_nf=False))  # as measured: the plan then pinned it off
    r = run(n, "n4", "10.1.2.9", Proto.TCP, 80)
    assert r.disposition is D.NAT_NO_RETURN and "10.1.2.5" in r.reason and "server's data" in r.reason
    assert run(n, "n4", "10.1.2.9").disposition is D.DELIVERED  # ping: the echo reply is new at n3 and accepted
