"""Bridge netfilter per node (`bridge_netfilter`): frames bridged inside a node meet its netfilter, as the kernel does."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from topograph.model import Proto
from topograph.pipeline import check_text
from topograph.plan import SetSysctls, plan
from topograph.sim import Disposition as D
from topograph.sim import Flow, Network, SimOptions, trace_flow
from topograph.sim.classes import fast_matrix
from topograph.sim.matrix import ITSELF, reference_matrix, targets

# a gateway whose bridge holds both hosts, with a port forward to b; `BNF` is replaced per test
LAB = """
nodes:
  g:
    forwarding: true
    BNF
    bridges: {br0: [10.0.0.254/24, 'fd00::fe/64']}
    port_forwards:
      - {proto: tcp, port: 8080, to: 10.0.0.2:80}
      - {proto: tcp, port: 8080, to: '[fd00::2]:80'}
      - {proto: tcp, port: 8081, to: 10.0.0.1:80}
    FILTER
  a: {interfaces: {eth0: [10.0.0.1/24, 'fd00::1/64']}, listen: [tcp/80]}
  b: {interfaces: {eth0: [10.0.0.2/24, 'fd00::2/64']}, listen: [tcp/80]}
links:
  - [a:eth0, br0:pa]
  - [b:eth0, br0:pb]
"""


def net(bnf: str = "", filt: str = "", options: SimOptions | None = None) -> Network:
    checked = check_text(LAB.replace("BNF", bnf).replace("FILTER", filt), "lab.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    return Network(checked.topology, options)


def tcp(n: Network, src: str, dst: str, port: int) -> D:
    return trace_flow(n, Flow(src, ipaddress.ip_address(dst), Proto.TCP, port)).disposition


@pytest.mark.parametrize("dst", ["10.0.0.254", "fd00::fe"])
def test_a_neighbour_through_the_gateways_port_forward_needs_bridge_netfilter(dst: str) -> None:
    assert tcp(net("bridge_netfilter: true"), "a", dst, 8080) is D.DELIVERED
    assert tcp(net(), "a", dst, 8080) is D.DELIVERED  # unset: the kernel's default, on
    assert tcp(net("bridge_netfilter: false"), "a", dst, 8080) is D.NAT_NO_RETURN
    assert tcp(net(options=SimOptions(bridge_nf=False)), "a", dst, 8080) is D.NAT_NO_RETURN


def test_a_host_reaching_itself_through_the_forward_is_lost_in_the_bridge() -> None:
    r = trace_flow(net("bridge_netfilter: true"), Flow("a", ipaddress.ip_address("10.0.0.254"),
                                                        Proto.TCP, 8081))
    assert (r.disposition, r.node) == (D.BRIDGE_HAIRPIN, "g")
    assert "back out of the port it came in on" in r.reason and "pa" in r.reason
    # without bridge netfilter the gateway routes it back to a, which drops its own source as a martian
    assert tcp(net("bridge_netfilter: false"), "a", "10.0.0.254", 8081) is not D.DELIVERED


def test_ipv4_bridged_dnat_needs_forwarding_ipv6_does_not() -> None:
    # check refuses a port forward without forwarding (TG302); the simulator still answers what the kernel does
    topo = net("bridge_netfilter: true").topology
    n = Network(dataclasses.replace(topo, nodes=tuple(dataclasses.replace(x, forwarding=False) if x.name == "g" else x
                                                      for x in topo.nodes)))
    assert tcp(n, "a", "10.0.0.254", 8080) is D.FORWARDING_DISABLED
    assert tcp(n, "a", "fd00::fe", 8080) is D.DELIVERED


DROP_BRIDGED = "filter: {forward: {policy: drop, rules: [{state: [established], action: accept}, " \
               "{from: 10.0.0.1, action: accept}, {from: 'fd00::1', action: accept}]}}"


def test_the_forward_chain_sees_bridged_frames_only_with_bridge_netfilter() -> None:
    on = net("bridge_netfilter: true", DROP_BRIDGED)
    assert tcp(on, "a", "10.0.0.2", 80) is D.DELIVERED  # new from a accepted, the reply established
    r = trace_flow(on, Flow("b", ipaddress.ip_address("10.0.0.1"), Proto.TCP, 80))
    assert (r.disposition, r.node) == (D.FILTER_DROPPED, "g") and "forward chain" in r.reason
    off = net("bridge_netfilter: false", DROP_BRIDGED)
    assert tcp(off, "b", "10.0.0.1", 80) is D.DELIVERED


def test_bridged_ipv6_neighbour_discovery_meets_the_forward_chain_untracked() -> None:
    # a's new connection is accepted by source, but ND between a and b is untracked: the policy drops it
    r = trace_flow(net("bridge_netfilter: true", DROP_BRIDGED),
                   Flow("a", ipaddress.ip_address("fd00::2"), Proto.TCP, 80))
    assert r.disposition is D.FILTER_DROPPED and "neighbour discovery" in r.reason
    accept_nd = DROP_BRIDGED.replace("rules: [", "rules: [{proto: icmpv6, action: accept}, ")
    assert tcp(net("bridge_netfilter: true", accept_nd), "a", "fd00::2", 80) is D.DELIVERED


def test_masquerade_out_of_the_bridge_catches_bridged_frames() -> None:
    masq = "nat: [{masquerade: 10.0.0.0/24, out: br0}]"
    r = trace_flow(net("bridge_netfilter: true", masq), Flow("a", ipaddress.ip_address("10.0.0.2"),
                                                             Proto.TCP, 80))
    assert r.ok and any("masquerade out br0" in s.detail for h in r.request.hops for s in h.steps)
    r = trace_flow(net("bridge_netfilter: false", masq), Flow("a", ipaddress.ip_address("10.0.0.2"),
                                                              Proto.TCP, 80))
    assert r.ok and not any("masquerade" in s.detail for h in r.request.hops for s in h.steps)


@pytest.mark.parametrize("bnf", ["", "bridge_netfilter: true", "bridge_netfilter: false"])
@pytest.mark.parametrize("filt", ["", DROP_BRIDGED, "nat: [{masquerade: 10.0.0.0/24, out: br0}]"])
def test_fast_matrix_equals_reference(bnf: str, filt: str) -> None:
    n = net(bnf, filt)
    cols = (*targets(n.topology, every_address=True), *ITSELF)
    assert fast_matrix(n, cols).differences(reference_matrix(n, cols)) == []


@pytest.mark.parametrize(("bnf", "pinned"), [("", None), ("bridge_netfilter: true", 1), ("bridge_netfilter: false", 0)])
def test_the_plan_pins_bridge_nf_only_when_the_file_says(bnf: str, pinned: int | None) -> None:
    n = net(bnf)
    p = plan(n.topology, sandbox_prefix="t-")
    values = {s.key: s.value for op in p.operations if isinstance(op, SetSysctls) and op.node == "g" for s in op.values}
    for t in ("iptables", "ip6tables"):
        assert values.get(f"net.bridge.bridge-nf-call-{t}") == pinned
    assert "net.bridge.bridge-nf-call-arptables" not in values
