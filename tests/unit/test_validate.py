"""Semantic checks, one by one: addresses, segments, routes, NAT, port forwards, expectations."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topograph.front.diagnostics import Diagnostic
from topograph.front.validate import _overlaps
from topograph.model import IPNetwork, Proto
from topograph.pipeline import check_text
from topograph.sim.forward import trace_flow
from topograph.sim.network import Network
from topograph.sim.trace import Disposition, Flow

PAIR = "links: [[a:e, b:e]]\n"


def diags(text: str) -> list[Diagnostic]:
    return list(check_text(text, "v.yml").report)


def found(text: str) -> list[tuple[str, int]]:
    return [(d.code, d.pos.line) for d in diags(text)]


def test_a_clean_pair() -> None:
    result = check_text("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.2/24}}\n" + PAIR, "v.yml")
    assert result.ok and not result.report.items and result.topology is not None and result.graph is not None


# -- addresses and segments -------------------------------------------------------------------

def test_same_address_twice() -> None:
    (d,) = diags("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.1/24}}\n" + PAIR)
    assert (d.code, d.pos.line) == ("TG211", 3) and "b:e" in d.message and "a:e" in d.message  # on one veth pair


def test_same_address_twice_on_one_interface() -> None:
    (d,) = diags("nodes:\n  a: {interfaces: {e: [10.0.0.1/24, 10.0.0.1/24]}}\n  b: {interfaces: {e: 10.0.0.2/24}}\n" + PAIR)
    assert d.code == "TG211" and d.message == "address 10.0.0.1 is written twice on a:e"


def test_same_address_on_loopbacks() -> None:
    out = found("nodes:\n  a: {interfaces: {lo: 10.9.9.9/32}}\n  b: {interfaces: {lo: 10.9.9.9/32}}\n")
    assert out == [("TG501", 2), ("TG501", 3), ("TG202", 3)]


def test_link_local_addresses_are_unique_per_link_only() -> None:
    # a router may use fe80::1 on every link; all links share fe80::/64 by definition
    assert found("nodes:\n  r: {interfaces: {e: ['fe80::1/64', 'fd00:1::1/64'], f: ['fe80::1/64', 'fd00:2::1/64']}}\n"
                 "  a: {interfaces: {e: ['fe80::2/64', 'fd00:1::2/64']}}\n  b: {interfaces: {f: 'fe80::2/64'}}\n"
                 "  c: {interfaces: {g: 169.254.0.1/16}}\n  d: {interfaces: {g: 169.254.0.1/16}}\n"
                 "links: [[r:e, a:e], [r:f, b:f], [c:g, d:g]]\n") == [("TG211", 6)]
    (d,) = diags("nodes:\n  a: {interfaces: {e: 'fe80::1/64'}}\n  b: {interfaces: {e: 'fe80::1/64'}}\n" + PAIR)
    assert d.code == "TG211" and d.hint == "a link-local address must be unique on its link; pick another"


def test_same_subnet_on_two_segments() -> None:
    out = found("nodes:\n  h: {interfaces: {x: 10.0.0.1/24, y: 10.0.0.5/24}}\n  a: {interfaces: {e: 10.0.0.2/24}}\n"
                "  b: {interfaces: {e: 10.0.0.6/24}}\nlinks: [[h:x, a:e], [h:y, b:e]]\n")
    assert [c for c, _ in out] == ["TG203"]


def test_the_same_address_on_two_segments_is_a_warning_the_simulator_follows() -> None:
    # r holds 10.0.0.0/24 on two veth pairs, a and b both hold 10.0.0.2 (measured: the first installed route wins)
    text = ("nodes:\n  r: {interfaces: {x: 10.0.0.1/24, y: 10.0.0.3/24}}\n  a: {interfaces: {e: 10.0.0.2/24}}\n"
            "  b: {interfaces: {e: 10.0.0.2/24}}\nlinks: [[r:x, a:e], [r:y, b:e]]\n")
    result = check_text(text, "v.yml")
    assert result.ok and [(d.code, d.severity.value) for d in result.report.items] == [("TG202", "warning"),
                                                                                         ("TG203", "warning")]
    assert result.topology is not None
    net = Network(result.topology)
    to_a = trace_flow(net, Flow("r", ipaddress.ip_address("10.0.0.2")))
    assert to_a.disposition is Disposition.DELIVERED and to_a.node == "a"  # x is listed first: its route wins
    from_b = trace_flow(net, Flow("b", ipaddress.ip_address("10.0.0.3")))  # r's reply leaves by x, to a
    assert from_b.disposition is Disposition.REPLY_LOST and from_b.node == "a"


def test_the_same_ipv6_subnet_on_two_segments_is_a_warning_the_simulator_follows() -> None:
    # measured: h's own traffic, TCP answers and ICMPv6 errors take the first route (x); an echo reply leaves by
    # the interface its request came in by (the kernel sets the request's interface as the reply's oif)
    text = ("nodes:\n  h: {interfaces: {x: 'fd00::1/64', y: 'fd00::5/64'}, listen: [tcp/80]}\n"
            "  a: {interfaces: {e: 'fd00::2/64'}}\n  b: {interfaces: {e: 'fd00::6/64'}}\n"
            "links: [[h:x, a:e], [h:y, b:e]]\n")
    result = check_text(text, "v.yml")
    assert result.ok and [(d.code, d.severity.value) for d in result.report.items] == [("TG212", "warning")]
    assert result.topology is not None
    net = Network(result.topology)
    ip = ipaddress.ip_address
    assert trace_flow(net, Flow("h", ip("fd00::2"))).disposition is Disposition.DELIVERED
    assert trace_flow(net, Flow("h", ip("fd00::6"))).disposition is Disposition.NEIGHBOR_UNREACHABLE  # out x
    ping = trace_flow(net, Flow("b", ip("fd00::5")))  # the echo reply leaves by y, where the request came in
    assert ping.disposition is Disposition.DELIVERED and ping.reply is not None
    assert "dev y" in ping.reply.hops[0].steps[-1].detail
    tcp = trace_flow(net, Flow("b", ip("fd00::5"), Proto.TCP, 80))  # the SYN-ACK takes the first route, out x
    assert tcp.disposition is Disposition.REPLY_LOST and tcp.node == "h"
    udp = trace_flow(net, Flow("b", ip("fd00::5"), Proto.UDP, 9))  # so does the port unreachable
    assert udp.disposition is Disposition.REPLY_LOST


def test_overlapping_subnets_on_two_segments() -> None:
    (d,) = diags("nodes:\n  h: {interfaces: {x: 10.0.0.1/24, y: 10.0.1.1/23}}\n  a: {interfaces: {e: 10.0.0.2/24}}\n"
                 "  b: {interfaces: {e: 10.0.1.2/23}}\nlinks: [[h:x, a:e], [h:y, b:e]]\n")
    assert d.code == "TG203" and "overlapping subnets 10.0.0.0/23 and 10.0.0.0/24" in d.message


NETWORKS = st.one_of(
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**32 - 1), st.integers(0, 32)),
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**128 - 1), st.integers(0, 128)),
    st.sampled_from([ipaddress.ip_network(n) for n in ("10.0.0.0/8", "10.0.0.0/24", "10.0.0.0/30", "10.0.1.0/24",
                                                       "0.0.0.0/0", "::/0", "fd00::/64", "fd00::/8")]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(NETWORKS, max_size=30, unique=True))
def test_overlap_sweep_finds_exactly_the_overlapping_pairs(nets: list[IPNetwork]) -> None:
    found = {(a, b) for a, others in _overlaps(nets).items() for b in others}
    brute = {(a, b) for a in nets for b in nets if a != b and a.version == b.version and a.overlaps(b)}
    assert found == brute


def test_v4_and_v6_never_overlap() -> None:
    assert found("nodes:\n  a: {interfaces: {e: [10.0.0.1/24, 'fd00::1/64']}}\n"
                 "  b: {interfaces: {e: [10.0.0.2/24, 'fd00::2/64']}}\n" + PAIR) == []


def test_different_subnets_on_a_veth_pair() -> None:
    (d,) = diags("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.1.2/24}}\n" + PAIR)
    assert (d.code, d.pos.line) == ("TG204", 3)  # the later one is the odd one out


def test_different_subnets_on_a_bridge_blame_the_port_not_the_bridge() -> None:
    out = diags("nodes:\n  s: {bridges: {br: 10.3.0.1/24}}\n  a: {interfaces: {e: 10.0.0.5/24}}\n"
                "  b: {interfaces: {e: 10.3.0.2/24}}\nlinks: [[a:e, br:pa], [b:e, br:pb]]\n")
    assert [(d.code, d.pos.line) for d in out] == [("TG204", 3)]
    assert "a:e uses 10.0.0.0/24" in out[0].message and "already uses 10.3.0.0/24" in out[0].message


def test_the_majority_subnet_wins_on_a_bridge_without_address() -> None:
    out = diags("nodes:\n  s: {bridges: {br: null}}\n  a: {interfaces: {e: 10.9.0.1/24}}\n"
                "  b: {interfaces: {e: 10.0.0.2/24}}\n  c: {interfaces: {e: 10.0.0.3/24}}\n"
                "links: [[a:e, br:pa], [b:e, br:pb], [c:e, br:pc]]\n")
    assert [(d.code, d.pos.line) for d in out] == [("TG204", 3)]


def test_a_wrong_subnet_is_not_also_reported_as_a_clash_between_segments() -> None:
    # b's address belongs to the other pair's subnet: one TG204, no TG203 cascade
    out = found("nodes:\n  h: {interfaces: {x: 10.0.0.1/24, y: 10.0.1.1/24}}\n  a: {interfaces: {e: 10.0.0.2/24}}\n"
                "  b: {interfaces: {e: 10.0.0.3/24}}\nlinks: [[h:x, a:e], [h:y, b:e]]\n")
    assert out == [("TG204", 4)]


def test_address_on_a_bridge_port_warns() -> None:
    out = found("nodes:\n  s: {bridges: {br: 10.0.0.1/24}, interfaces: {pa: 10.0.0.9/24}}\n"
                "  a: {interfaces: {e: 10.0.0.2/24}}\nlinks: [[a:e, br:pa]]\n")
    assert out == [("TG500", 2)]


def test_down_interface_with_address_warns() -> None:
    out = found("nodes:\n  a: {interfaces: {e: {address: 10.0.0.1/24, up: false}}}\n  b: {interfaces: {e: 10.0.0.2/24}}\n"
                + PAIR)
    assert out == [("TG504", 2)]


def test_mtu_mismatch_warns_once_per_link() -> None:
    out = found("nodes:\n  a: {interfaces: {e: {address: 10.0.0.1/24, mtu: 1400}}}\n"
                "  b: {interfaces: {e: {address: 10.0.0.2/24, mtu: 1500}}}\n" + PAIR)
    assert out == [("TG505", 4)]


def test_mtu_on_one_side_only_differs_from_the_default() -> None:
    # a veth end keeps 1500 whatever its peer's MTU: a full-size frame from it is dropped at the 1400 end
    out = found("nodes:\n  a: {interfaces: {e: {address: 10.0.0.1/24, mtu: 1400}}}\n"
                "  b: {interfaces: {e: 10.0.0.2/24}}\n" + PAIR)
    assert [(d.code, d.message) for d in diags("nodes:\n  a: {interfaces: {e: {address: 10.0.0.1/24, mtu: 1400}}}\n"
                                               "  b: {interfaces: {e: 10.0.0.2/24}}\n" + PAIR)] == \
        [("TG505", "MTU differs across the veth pair a:e (1400) and b:e (1500, the default)")]
    assert out == [("TG505", 4)]  # the link's line
    assert found("nodes:\n  a: {interfaces: {e: {address: 10.0.0.1/24, mtu: 1500}}}\n"
                 "  b: {interfaces: {e: 10.0.0.2/24}}\n" + PAIR) == []


def test_mtu_is_one_per_bridge_segment_and_a_bridge_without_one_follows_its_ports() -> None:
    lab = ("nodes:\n  a: {interfaces: {e: {address: 10.0.0.1/24, mtu: 9000}}}\n"
           "  b: {interfaces: {e: {address: 10.0.0.2/24, mtu: 9000}}}\n"
           "  s: {bridges: {br0: 10.0.0.3/24}, interfaces: {pa: {mtu: 9000}, pb: {mtu: PB}}}\n"
           "links: [[a:e, br0:pa], [b:e, br0:pb]]\n")
    assert found(lab.replace("PB", "9000")) == []
    out = [(d.code, d.message) for d in diags(lab.replace("PB", "1500"))]
    assert [c for c, _ in out] == ["TG505"]
    assert "s:pb (1500)" in out[0][1] and "a:e (9000)" in out[0][1] and "s:br0" in out[0][1]


def test_same_mac_on_one_segment_warns_but_not_across_segments() -> None:
    mac = "'02:00:00:00:00:01'"
    out = found(f"nodes:\n  a: {{interfaces: {{e: {{address: 10.0.0.1/24, mac: {mac}}}}}}}\n"
                f"  b: {{interfaces: {{e: {{address: 10.0.0.2/24, mac: {mac}}}}}}}\n" + PAIR)
    assert [c for c, _ in out] == ["TG507"]
    out = found(f"nodes:\n  a: {{interfaces: {{e: {{address: 10.0.0.1/24, mac: {mac}}}, f: 10.0.1.1/24}}}}\n"
                f"  b: {{interfaces: {{e: 10.0.0.2/24, f: {{address: 10.0.1.2/24, mac: {mac}}}}}}}\n"
                "links: [[a:e, b:e], [a:f, b:f]]\n")
    assert out == []


def test_bridge_without_ports_and_node_without_links_warn() -> None:
    out = found("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.2/24}}\n"
                "  s: {bridges: {br: 10.1.0.1/24}}\n" + PAIR)
    assert out == [("TG501", 4), ("TG503", 4)]


def test_a_single_node_lab_is_not_lonely() -> None:
    assert found("nodes:\n  a: {interfaces: {lo: 10.0.0.1/32}}\n") == []


# -- routes -------------------------------------------------------------------------------------

BASE = "nodes:\n  a:\n    interfaces: {e: [10.0.0.1/24, 'fd00::1/64'], f: {address: 10.0.5.1/24, up: false}}\n"
TAIL = "  b: {interfaces: {e: [10.0.0.2/24, 'fd00::2/64'], f: 10.0.5.2/24}}\nlinks: [[a:e, b:e], [a:f, b:f]]\n"


def routes(*written: str) -> list[Diagnostic]:
    return [d for d in diags(BASE + f"    routes: [{', '.join(written)}]\n" + TAIL) if d.code != "TG504"]


@pytest.mark.parametrize("route", [
    "{to: default, via: 10.0.0.2}",
    "{to: default, via: 'fd00::2'}",
    "{to: 10.9.0.0/16, via: 10.0.0.2, dev: e}",
    "{to: 10.9.0.0/16, dev: e}",
    "{to: 'fd00:9::/64', via: 'fe80::1', dev: e}",  # link-local gateways need only the interface
])
def test_good_routes(route: str) -> None:
    assert routes(route) == []


def test_gateway_off_subnet() -> None:
    (d,) = routes("{to: default, via: 192.168.1.1}")
    assert d.code == "TG300" and "route to default" in d.message and "connected: 10.0.0.0/24" in d.message


def test_gateway_of_a_family_without_subnet() -> None:
    (d,) = diags("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}, routes: [{to: '::/0', via: 'fd00::9'}]}\n"
                 "  b: {interfaces: {e: 10.0.0.2/24}}\n" + PAIR)
    assert d.code == "TG300" and "no connected IPv6 subnet" in d.message


def test_gateway_on_a_down_interface() -> None:
    (d,) = routes("{to: default, via: 10.0.5.2}")
    assert d.code == "TG300" and "a:f, which is configured down" in d.message


def test_gateway_on_another_interface_than_dev() -> None:
    (d,) = routes("{to: default, via: 10.0.0.2, dev: lo}")
    assert d.code == "TG300" and "a:e's subnet, not on lo's" in d.message and d.hint == "write dev: e, or leave 'dev' out"


def test_gateway_is_own_address() -> None:
    (d,) = routes("{to: 10.9.0.0/16, via: 10.0.0.1}")
    assert (d.code, d.is_error) == ("TG502", False)


def test_duplicate_routes() -> None:
    out = routes("{to: default, via: 10.0.0.2}", "{to: 0.0.0.0/0, dev: e}", "{to: default, via: 10.0.0.2, metric: 5}")
    assert [d.code for d in out] == ["TG304"]
    assert "two default routes with metric 0 (routes[0] and routes[1])" in out[0].message


def test_v4_and_v6_defaults_are_not_duplicates() -> None:
    assert routes("{to: default, via: 10.0.0.2}", "{to: default, via: 'fd00::2'}") == []


# -- NAT and port forwards -------------------------------------------------------------------

def nat(node: str, extra: str = "") -> list[tuple[str, int]]:
    return found(f"nodes:\n  a: {node}\n  b: {{interfaces: {{e: 10.0.0.2/24}}}}\n{extra}" + PAIR)


def test_nat_without_forwarding() -> None:
    assert nat("{interfaces: {e: 10.0.0.1/24}, nat: [{masquerade: 10.0.0.0/24, out: e}]}") == [("TG302", 2)]


def test_port_forward_without_forwarding_reported_once() -> None:
    assert nat("{interfaces: {e: 10.0.0.1/24}, nat: [{masquerade: 10.0.0.0/24, out: e}], "
               "port_forwards: [{port: 80, to: '10.0.0.2:80'}]}") == [("TG302", 2)]


def test_port_forward_to_nobody() -> None:
    assert nat("{forwarding: true, interfaces: {e: 10.0.0.1/24}, port_forwards: [{port: 80, to: '10.0.0.9:80'}]}") \
        == [("TG303", 2)]


def test_masquerade_out_of_an_interface_without_that_family() -> None:
    assert nat("{forwarding: true, interfaces: {e: 10.0.0.1/24}, nat: [{masquerade: 'fd00::/64', out: e}]}") \
        == [("TG305", 2)]


def test_masquerade_out_of_an_unmanaged_host_interface_is_allowed() -> None:
    # the host's real uplink: declared without address and in no link; lan:eth0 of the same name must not matter
    out = found("nodes:\n  h: {kind: host, forwarding: true, interfaces: {eth0: null, e: 10.0.0.1/24},"
                " nat: [{masquerade: 10.0.0.0/24, out: eth0}]}\n"
                "  b: {interfaces: {e: 10.0.0.2/24}}\n  lan: {kind: external, interfaces: {eth0: 192.168.1.3/24}}\n"
                "  g: {kind: external, interfaces: {eth1: 192.168.1.4/24}}\n"
                "links: [[h:e, b:e], [lan:eth0, g:eth1]]\n")
    assert out == []


def test_masquerade_out_of_a_linked_host_interface_without_address() -> None:
    out = found("nodes:\n  h: {kind: host, forwarding: true, interfaces: {eth0: null, e: 10.0.0.1/24},"
                " nat: [{masquerade: 10.0.0.0/24, out: eth0}]}\n"
                "  b: {interfaces: {e: 10.0.0.2/24}}\n  lan: {kind: external, interfaces: {eth0: 192.168.1.3/24}}\n"
                "links: [[h:e, b:e], [h:eth0, lan:eth0]]\n")
    assert out == [("TG305", 2)]


# -- expectations ---------------------------------------------------------------------------

def test_expectation_targets() -> None:
    out = found("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.2/24}}\n  c: {}\n" + PAIR +
                "expect:\n  - {from: a, to: b}\n  - {from: a, to: 10.0.0.2}\n  - {from: a, to: 10.0.0.7}\n  - {from: a, to: c}\n")
    assert [x for x in out if x[0] == "TG506"] == [("TG506", 9), ("TG506", 10)]


@pytest.mark.parametrize("to", ["0.0.0.0", "'::'", "127.0.0.1", "'::1'"])
def test_an_expectation_to_the_source_itself_is_no_address_nobody_has(to: str) -> None:
    """0.0.0.0, ::, 127.0.0.1 and ::1 are the source node itself to the kernel (and to the simulator), not an
    address 'no node has' (TG506)."""
    assert diags("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.2/24}}\n" + PAIR +
                 f"expect:\n  - {{from: a, to: {to}}}\n") == []


# -- all at once -----------------------------------------------------------------------------

def test_every_semantic_problem_is_reported_in_one_run() -> None:
    out = found(
        "nodes:\n"
        "  a: {interfaces: {e: 10.0.0.1/24}, routes: [{to: default, via: 10.9.9.9}], nat: [{masquerade: 10.0.0.0/24, out: e}]}\n"
        "  b: {interfaces: {e: 10.0.0.1/24}}\n"
        "  c: {interfaces: {e: 10.0.0.3/24}}\n"
        "  d: {interfaces: {e: 10.0.1.4/24}}\n"
        "links: [[a:e, b:e], [c:e, d:e]]\n"
    )
    assert sorted(c for c, _ in out) == ["TG203", "TG204", "TG211", "TG300", "TG302"]
    assert [line for _, line in out] == sorted(line for _, line in out)  # source order
