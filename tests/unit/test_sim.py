"""The reference walker on hand-made labs: one Linux behaviour per test."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from tests.conftest import ROOT
from topograph.model import Proto
from topograph.pipeline import check_file, check_text
from topograph.sim import Disposition as D
from topograph.sim import Flow, FlowResult, Network, SimOptions, trace_flow
from topograph.sim.forward import rp_problem

SEED = ROOT / "samples" / "06-port-forward.yml"


def net_of(text: str, options: SimOptions | None = None) -> Network:
    checked = check_text(text, "lab.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    return Network(checked.topology, options)


def seed(options: SimOptions | None = None) -> Network:
    checked = check_file(SEED)
    assert checked.topology is not None
    return Network(checked.topology, options)


def run(net: Network, src: str, dst: str, port: int | None = None) -> FlowResult:
    return trace_flow(net, Flow(src, ipaddress.ip_address(dst), Proto.TCP if port else Proto.ICMP, port))


# a -- r -- b, r routes; knobs filled in per test
ROUTED = """
nodes:
  a: {{interfaces: {{eth0: 10.0.1.2/24}}, routes: [{{to: default, via: 10.0.1.1}}]}}
  r:
    forwarding: {fwd}
    rp_filter: {rp}
    interfaces: {{eth0: 10.0.1.1/24, eth1: 10.0.2.1/24}}
  b: {{interfaces: {{eth0: 10.0.2.2/24}}{b_routes}}}
links:
  - [a:eth0, r:eth0]
  - [r:eth1, b:eth0]
"""


def routed(fwd: bool = True, rp: str = "disabled", b_routes: str = ", routes: [{to: default, via: 10.0.2.1}]") -> Network:
    return net_of(ROUTED.format(fwd=str(fwd).lower(), rp=rp, b_routes=b_routes))


def test_a_router_forwards_both_ways() -> None:
    r = run(routed(), "a", "10.0.2.2")
    assert r.disposition is D.DELIVERED and r.node == "b"
    assert r.request.nodes == ("a", "r", "b") and r.reply is not None and r.reply.nodes == ("b", "r", "a")


def test_forwarding_off_drops_at_the_router() -> None:
    r = run(routed(fwd=False), "a", "10.0.2.2")
    assert (r.disposition, r.node) == (D.FORWARDING_DISABLED, "r")
    assert "add 'forwarding: true' to r" in r.reason


def test_a_router_answers_for_itself_even_without_forwarding() -> None:
    assert run(routed(fwd=False), "a", "10.0.2.1").ok  # its other interface's address: local delivery


def test_no_route_back_loses_the_reply() -> None:
    r = run(routed(b_routes=""), "a", "10.0.2.2")
    assert (r.disposition, r.node) == (D.REPLY_LOST, "b")
    assert "b has no route to 10.0.1.0/24 — add a route via 10.0.2.1" in r.reason


def test_no_route_names_the_missing_route_and_a_gateway() -> None:
    r = run(routed(b_routes=""), "b", "10.0.1.2")
    assert (r.disposition, r.node) == (D.NO_ROUTE, "b")
    assert r.reason == "b has no route to 10.0.1.0/24 — add a route via 10.0.2.1"


def test_longest_prefix_wins_then_the_metric() -> None:
    lab = """
nodes:
  a:
    interfaces: {eth0: 10.0.1.2/24}
    routes:
      - {to: 10.9.0.0/16, via: 10.0.1.3}
      - {to: 10.9.9.0/24, via: 10.0.1.4, metric: 20}
      - {to: 10.9.9.0/24, via: 10.0.1.5, metric: 10}
  g3: {interfaces: {eth0: 10.0.1.3/24}}
  g4: {interfaces: {eth0: 10.0.1.4/24}}
  g5: {interfaces: {eth0: 10.0.1.5/24}}
  sw: {bridges: {br0: []}}
links:
  - [a:eth0, br0:p1]
  - [g3:eth0, br0:p3]
  - [g4:eth0, br0:p4]
  - [g5:eth0, br0:p5]
"""
    net = net_of(lab)
    assert run(net, "a", "10.9.9.9").node == "g5"  # /24 beats /16, metric 10 beats 20 (g5 does not forward)
    assert run(net, "a", "10.9.1.1").node == "g3"


def test_connected_routes_need_the_interface_up() -> None:
    lab = """
nodes:
  a: {interfaces: {eth0: {address: 10.0.1.2/24, up: false}}}
  b: {interfaces: {eth0: 10.0.1.3/24}}
links: [[a:eth0, b:eth0]]
"""
    net = net_of(lab)
    assert run(net, "a", "10.0.1.3").disposition is D.NO_ROUTE
    # b still has its connected route, but no carrier reaches a: nobody answers ARP
    assert run(net, "b", "10.0.1.2").disposition is D.NEIGHBOR_UNREACHABLE


def test_arp_stays_inside_its_segment() -> None:
    lab = """
nodes:
  a: {interfaces: {eth0: 10.0.1.2/24}, routes: [{to: 10.0.2.0/24, dev: eth0}]}
  b: {interfaces: {eth0: 10.0.1.3/24}}
  c: {interfaces: {eth0: 10.0.2.3/24}}
  d: {interfaces: {eth0: 10.0.2.4/24}}
links: [[a:eth0, b:eth0], [c:eth0, d:eth0]]
"""
    r = run(net_of(lab), "a", "10.0.2.3")
    assert (r.disposition, r.node) == (D.NEIGHBOR_UNREACHABLE, "a")
    assert "c:eth0 has it, but is not on that segment" in r.reason


def test_linux_answers_arp_for_any_of_its_addresses_but_not_nd() -> None:
    lab = """
nodes:
  a:
    interfaces: {eth0: [10.0.1.2/24, "fd00:1::2/64"]}
    routes: [{to: 10.0.2.0/24, dev: eth0}, {to: "fd00:2::/64", dev: eth0}]
  r: {interfaces: {eth0: [10.0.1.1/24, "fd00:1::1/64"], eth1: [10.0.2.1/24, "fd00:2::1/64"]}}
  b: {interfaces: {eth0: [10.0.2.2/24, "fd00:2::2/64"]}}
links: [[a:eth0, r:eth0], [r:eth1, b:eth0]]
"""
    net = net_of(lab)
    assert run(net, "a", "10.0.2.1").ok  # r answers ARP on eth0 for its eth1 address
    assert run(net, "a", "fd00:2::1").disposition is D.NEIGHBOR_UNREACHABLE  # ND only for the interface's own


def test_loopback_down_cuts_a_node_off_from_itself_only() -> None:
    lab = """
nodes:
  a: {interfaces: {lo: {up: false}, eth0: 10.0.1.2/24}}
  b: {interfaces: {eth0: 10.0.1.3/24}}
links: [[a:eth0, b:eth0]]
"""
    net = net_of(lab)
    assert run(net, "a", "10.0.1.2").disposition is D.LOOPBACK_DOWN
    assert run(net, "b", "10.0.1.2").ok


def test_masquerade_and_conntrack_bring_the_reply_home() -> None:
    r = run(seed(), "blue", "192.168.1.3")
    assert r.ok
    assert any("masquerade out eth0" in s.detail for h in r.request.hops for s in h.steps)
    assert r.reply is not None and any(s.action == "UNNAT" for h in r.reply.hops for s in h.steps)


def test_without_masquerade_the_outside_cannot_answer() -> None:
    text = SEED.read_text().replace("      - {masquerade: 192.168.15.0/24, out: eth0}\n", "")
    r = run(net_of(text), "blue", "192.168.1.3")
    assert (r.disposition, r.node) == (D.REPLY_LOST, "lan")


def test_port_forward_applies_to_other_hosts_not_the_node_itself() -> None:
    net = seed()
    assert run(net, "lan", "192.168.1.2", 80).ok
    own = run(net, "host", "192.168.1.2", 80)
    assert (own.disposition, own.node) == (D.CONNECTION_REFUSED, "host")


def test_hairpin_depends_on_bridge_netfilter() -> None:
    off = run(seed(SimOptions(bridge_nf=False)), "red", "192.168.1.2", 80)
    assert (off.disposition, off.node) == (D.NAT_NO_RETURN, "red")
    assert "bridge_netfilter: false" in off.reason
    assert run(seed(), "red", "192.168.1.2", 80).ok  # the kernel's default: on


def test_strict_rp_filter_passes_b_because_b_sends_from_its_out_interfaces_address() -> None:
    # b's default route points at r, and r's route back to b's lo address 10.0.9.1 would leave by eth0: only the
    # source address b picks (eth0's, whatever order its addresses are written in) keeps the path symmetric
    lab = """
nodes:
  a: {interfaces: {eth0: 10.0.1.2/24}, routes: [{to: default, via: 10.0.1.1}]}
  r:
    forwarding: true
    rp_filter: strict
    interfaces: {eth0: 10.0.1.1/24, eth1: 10.0.2.1/24}
    routes: [{to: 10.0.9.0/24, via: 10.0.1.2}]
  b: {interfaces: {eth0: 10.0.2.2/24, lo: 10.0.9.1/32}, routes: [{to: default, via: 10.0.2.1}]}
links: [[a:eth0, r:eth0], [r:eth1, b:eth0]]
"""
    strict = net_of(lab)
    drop = rp_problem(strict, "r", "eth1", ipaddress.ip_address("10.0.9.1"))
    assert drop is not None and drop[0] is D.RP_FILTER_DROP  # a packet from b's lo address would be dropped
    hit = trace_flow(strict, Flow("b", ipaddress.ip_address("10.0.1.1")))
    assert hit.ok  # from its eth0 address: symmetric
    assert "10.0.2.2 -> 10.0.1.1" in hit.request.hops[0].steps[0].detail
    text = lab.replace("b: {interfaces: {eth0: 10.0.2.2/24, lo: 10.0.9.1/32}",
                       "b: {interfaces: {lo: 10.0.9.1/32, eth0: 10.0.2.2/24}")
    assert text != lab
    again = trace_flow(net_of(text), Flow("b", ipaddress.ip_address("10.0.1.1")))
    assert again.ok and "10.0.2.2 -> 10.0.1.1" in again.request.hops[0].steps[0].detail
    loose = net_of(lab.replace("rp_filter: strict", "rp_filter: loose"))
    assert run(loose, "a", "10.0.2.2").ok


def test_strict_rp_filter_drop_is_named() -> None:
    # x's packets reach r through a, but r's route back to x's subnet leaves by eth2
    lab = """
nodes:
  x: {interfaces: {eth0: 10.0.8.2/24}, routes: [{to: default, via: 10.0.8.1}]}
  a:
    forwarding: true
    interfaces: {eth1: 10.0.8.1/24, eth0: 10.0.1.2/24}
    routes: [{to: default, via: 10.0.1.1}]
  r:
    forwarding: true
    rp_filter: strict
    interfaces: {eth0: 10.0.1.1/24, eth1: 10.0.2.1/24, eth2: 10.0.3.1/24}
    routes: [{to: 10.0.8.0/24, via: 10.0.3.2}]
  c: {interfaces: {eth0: 10.0.3.2/24}}
  b: {interfaces: {eth0: 10.0.2.2/24}, routes: [{to: default, via: 10.0.2.1}]}
links: [[x:eth0, a:eth1], [a:eth0, r:eth0], [r:eth1, b:eth0], [r:eth2, c:eth0]]
"""
    net = net_of(lab)
    for dst in ("10.0.2.2", "10.0.1.1"):  # forwarded, and addressed to the router itself
        r = run(net, "x", dst)
        assert (r.disposition, r.node) == (D.RP_FILTER_DROP, "r"), r.reason
        assert "leaves by eth2" in r.reason
    assert run(net_of(lab.replace("rp_filter: strict", "rp_filter: loose")), "x", "10.0.2.2").disposition is D.REPLY_LOST


def test_strict_rp_filter_also_silences_arp() -> None:
    # the ARP request's sender address fails the same reverse-path check, so the router stays silent
    lab = """
nodes:
  a: {interfaces: {eth0: 10.0.1.2/24}, routes: [{to: default, via: 10.0.1.1}]}
  r:
    forwarding: true
    rp_filter: strict
    interfaces: {eth0: 10.0.1.1/24, eth2: 10.0.3.1/24}
    routes: [{to: 10.0.1.0/25, via: 10.0.3.2}]
  c: {interfaces: {eth0: 10.0.3.2/24}}
links: [[a:eth0, r:eth0], [r:eth2, c:eth0]]
"""
    r = run(net_of(lab), "a", "10.0.1.1")
    assert (r.disposition, r.node) == (D.NEIGHBOR_UNREACHABLE, "a")
    assert "reverse-path filter" in r.reason


LOOP = """
nodes:
  a: {interfaces: {eth0: 10.0.1.2/24}, routes: [{to: default, via: 10.0.1.1}]}
  r1:
    forwarding: true
    interfaces: {eth0: 10.0.1.1/24, eth1: 10.0.12.1/30}
    routes: [{to: 10.9.0.0/16, via: 10.0.12.2}]
  r2:
    forwarding: true
    interfaces: {eth0: 10.0.12.2/30}
    routes: [{to: 10.9.0.0/16, via: 10.0.12.1}, {to: 10.0.1.0/24, via: 10.0.12.1}]
links: [[a:eth0, r1:eth0], [r1:eth1, r2:eth0]]
"""


def test_a_forwarded_packet_dies_of_ttl_in_a_loop() -> None:
    r = run(net_of(LOOP), "a", "10.9.0.1")
    assert r.disposition is D.TTL_EXCEEDED
    assert "between r1 -> r2 -> r1" in r.reason


def test_a_routers_own_packet_bounces_once() -> None:
    r = run(net_of(LOOP), "r1", "10.9.0.1")
    assert (r.disposition, r.node) == (D.LOOP, "r1")
    assert r.request.nodes == ("r1", "r2", "r1")


def test_source_address_is_the_out_interfaces() -> None:
    r = run(routed(), "r", "10.0.1.2")
    assert "10.0.1.1 -> 10.0.1.2" in r.request.hops[0].steps[0].detail


def test_ipv6_alongside_ipv4() -> None:
    checked = check_file(ROOT / "samples" / "07-router-two-lans.yml")
    assert checked.topology is not None
    net = Network(checked.topology)
    assert run(net, "a1", "fd00:b::11").ok
    assert run(net, "a1", "10.2.0.11").ok


@pytest.mark.parametrize("dst", ["192.168.15.2", "192.168.1.3", "198.51.100.8"])
def test_traces_are_frozen_values(dst: str) -> None:
    r = run(seed(), "red", dst)
    traces = [t for t in (r.request, r.reply) if t is not None]
    hops = [h for t in traces for h in t.hops]
    steps = [s for h in hops for s in h.steps]
    assert hops and steps
    parts: list[tuple[object, str]] = [(r, "disposition"), (r, "request"), (r.flow, "dst")]
    parts += [(t, f) for t in traces for f in ("disposition", "hops")]
    parts += [(h, f) for h in hops for f in ("node", "steps")]
    parts += [(s, f) for s in steps for f in ("action", "detail")]
    for value, name in parts:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, getattr(value, name))
    # equal inputs (a fresh network, a fresh walker) give equal traces, and all of it hashes (no lists inside)
    again = run(seed(), "red", dst)
    assert again == r
    assert hash(again) == hash(r)
    assert {again, r} == {r}
    assert r.as_json() == again.as_json()
    assert r.as_json()["disposition"] == str(r.disposition)


@pytest.mark.parametrize("dst", ["0.0.0.0", "::"])
def test_the_unspecified_address_is_the_node_itself(dst: str) -> None:
    """As the kernel has it (measured in a namespace: `ping 0.0.0.0` is answered from 127.0.0.1, `ping -6 ::` from
    ::1, a TCP connect to 0.0.0.0 or :: lands on the node's own listener): over loopback, never routed."""
    r = run(seed(), "red", dst)
    assert (r.disposition, r.node) == (D.DELIVERED, "red")
    assert r.request.nodes == ("red",) and r.reply is None
    assert dst in r.reason and "itself" in r.reason
    assert run(seed(), "blue", dst, 80).ok  # blue listens on port 80 (the port forward's target)
    assert run(seed(), "red", dst, 80).disposition is D.CONNECTION_REFUSED  # red does not
    lab = """
nodes:
  a: {interfaces: {lo: {up: false}, eth0: [10.0.1.2/24, "fd00::2/64"]}, routes: [{to: default, via: 10.0.1.3}]}
  b: {interfaces: {eth0: [10.0.1.3/24, "fd00::3/64"]}, forwarding: true}
links: [[a:eth0, b:eth0]]
"""
    down = run(net_of(lab), "a", dst)  # the kernel: "Network is unreachable" / "Cannot assign requested address"
    assert (down.disposition, down.node) == (D.LOOPBACK_DOWN, "a")
