"""The NAT forms of issue 13: port forwards bound to an address, port forwards for the node's own traffic
(`local`), SNAT to a fixed address — format, checks, simulator (walker and fast matrix) and rule text."""

from __future__ import annotations

import ipaddress

import pytest

from tests.conftest import ROOT
from topograph.model import Masquerade, Proto, Snat
from topograph.pipeline import check_file, check_text
from topograph.plan import LoadIptables, LoadNftables, plan
from topograph.plan.firewall import DnatRule, MasqueradeRule, iptables_restore, nft_ruleset
from topograph.sim import Disposition as D
from topograph.sim import Flow, FlowResult, Network, trace_flow
from topograph.sim.classes import fast_matrix
from topograph.sim.forward import CLIENT_PORT, Walker
from topograph.sim.matrix import ITSELF, targets
from topograph.sim.packet import Packet
from topograph.sim.trace import Action

SAMPLE = ROOT / "samples" / "12-nat-forms.yml"

# web -- gw -- up; up routes 198.51.100.0/24 (nobody's) to gw; {nat} and {forwards} filled in per test
LAB = """
nodes:
  web: {{interfaces: {{eth0: [192.168.15.2/24, fd00:15::2/64]}}, routes: [{{to: default, via: 192.168.15.5}},
        {{to: default, via: "fd00:15::5"}}], listen: [tcp/80]}}
  gw:
    forwarding: true
    interfaces: {{lan0: [192.168.15.5/24, fd00:15::5/64], wan0: [203.0.113.2/24, 203.0.113.3/24, 2001:db8:1::2/64]}}
    nat: [{nat}]
    port_forwards: [{forwards}]
  up:
    interfaces: {{eth0: [203.0.113.1/24, 2001:db8:1::1/64]}}
    routes: [{{to: 198.51.100.0/24, via: 203.0.113.2}}]
    listen: [tcp/81]
links:
  - [web:eth0, gw:lan0]
  - [gw:wan0, up:eth0]
"""


def lab(nat: str = "", forwards: str = "") -> Network:
    checked = check_text(LAB.format(nat=nat, forwards=forwards), "lab.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    return Network(checked.topology)


def run(net: Network, src: str, dst: str, port: int | None = None) -> FlowResult:
    return trace_flow(net, Flow(src, ipaddress.ip_address(dst), Proto.TCP if port else Proto.ICMP, port))


def codes(text: str) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in check_text(text, "lab.yml").report]


# -- format and checks ------------------------------------------------------------------------

def test_the_forms_are_read_into_the_model() -> None:
    net = lab("{snat: 192.168.15.0/24, to: 203.0.113.3, out: wan0, dst: 203.0.113.0/24}, "
              "{masquerade: 192.168.15.0/24, out: wan0}",
              "{proto: tcp, port: 80, to: 192.168.15.2:80, address: 203.0.113.2, local: true}")
    gw = net.topology.node("gw")
    assert gw.nat == (Snat(ipaddress.ip_network("192.168.15.0/24"), ipaddress.ip_address("203.0.113.3"), "wan0",
                           ipaddress.ip_network("203.0.113.0/24")),
                      Masquerade(ipaddress.ip_network("192.168.15.0/24"), "wan0"))
    (f,) = gw.port_forwards
    assert f.address == ipaddress.ip_address("203.0.113.2") and f.local


def test_an_address_the_node_does_not_have_is_a_warning() -> None:
    text = LAB.format(nat="{snat: 192.168.15.0/24, to: 203.0.113.9}",
                      forwards="{proto: tcp, port: 80, to: 192.168.15.2:80, address: 198.51.100.9}")
    found = codes(text)
    assert [c for c, _ in found] == ["TG521", "TG520"], found  # in file order: nat before port_forwards
    assert "every tcp/80 connection it routes to 198.51.100.9" in found[1][1]
    assert "no node has it" in found[0][1]
    assert check_text(text, "lab.yml").ok  # warnings only


@pytest.mark.parametrize(("entry", "code"), [
    ("{snat: 192.168.15.0/24, to: '2001:db8::1'}", "TG205"),
    ("{snat: 192.168.15.0/24}", "TG012"),
    ("{masquerade: 192.168.15.0/24, snat: 192.168.15.0/24, out: wan0}", "TG011"),
    ("{out: wan0}", "TG012"),
    ("{masquerade: 192.168.15.0/24, out: wan0, dst: 10.0.0.0/8}", "TG011"),
    ("{snat: 192.168.15.0/24, to: 203.0.113.2, out: wan9}", "TG102"),
])
def test_malformed_nat_entries(entry: str, code: str) -> None:
    assert [c for c, _ in codes(LAB.format(nat=entry, forwards=""))] == [code]


# -- port forwards bound to an address ------------------------------------------------------------

BOUND = "{proto: tcp, port: 80, to: 192.168.15.2:80, address: 203.0.113.2}"


def test_a_bound_forward_catches_its_address_only() -> None:
    net = lab(forwards=BOUND)
    assert run(net, "up", "203.0.113.2", 80).disposition is D.DELIVERED
    other = run(net, "up", "203.0.113.3", 80)  # another address of the same node: not forwarded
    assert other.disposition is D.CONNECTION_REFUSED and other.node == "gw"


def test_a_forward_on_a_transit_address_hijacks_the_connections_routed_through() -> None:
    """Measured: `ip daddr 198.51.100.9 tcp dport 80 dnat to ...` in prerouting forwards transit traffic."""
    net = lab(forwards="{proto: tcp, port: 80, to: 192.168.15.2:80, address: 198.51.100.9}")
    r = run(net, "up", "198.51.100.9", 80)
    assert r.disposition is D.DELIVERED and r.node == "web"
    assert run(net, "up", "198.51.100.9").disposition is D.NO_ROUTE  # ICMP: gw has no route to it


def test_the_matrix_aims_a_bound_forward_at_its_address() -> None:
    net = lab(forwards=BOUND)
    cols = [t for t in targets(net.topology, every_address=True) if t.port == 80]
    assert [str(t.address) for t in cols] == ["203.0.113.2"]


# -- port forwards for the node's own traffic -------------------------------------------------------

def test_without_local_the_node_s_own_connection_skips_the_forward() -> None:
    r = run(lab(forwards=BOUND), "gw", "203.0.113.2", 80)
    assert r.disposition is D.CONNECTION_REFUSED and "skips port forwards" in r.reason


def test_a_local_forward_takes_the_node_s_own_connection_to_the_target_from_its_own_address() -> None:
    """Measured: the target sees the address the connection was made to as its source (203.0.113.2)."""
    net = lab(forwards="{proto: tcp, port: 80, to: 192.168.15.2:80, address: 203.0.113.2, local: true}")
    r = run(net, "gw", "203.0.113.2", 80)
    assert r.disposition is D.DELIVERED and r.node == "web"
    assert r.request.hops[-1].node == "web"
    arrived = Walker(net).walk("gw", _pkt("203.0.113.2", 80), {}, kind="request").packet
    assert str(arrived.src) == "203.0.113.2" and str(arrived.dst) == "192.168.15.2"
    assert run(net, "gw", "192.168.15.5", 80).disposition is D.CONNECTION_REFUSED  # bound: not this address


def test_a_local_forward_needs_the_route_back_from_the_target() -> None:
    """Measured: with web's default route gone, the gateway's own connection times out."""
    text = LAB.format(nat="", forwards="{proto: tcp, port: 80, to: 192.168.15.2:80, local: true}")
    text = text.replace("routes: [{to: default, via: 192.168.15.5},\n        ", "routes: [")
    checked = check_text(text, "lab.yml")
    assert checked.topology is not None
    r = run(Network(checked.topology), "gw", "203.0.113.2", 80)
    assert r.disposition is D.REPLY_LOST and r.node == "web"


def test_a_local_forward_without_an_address_leaves_loopback_alone() -> None:
    """Measured: DNAT of a connection to 127.0.0.1 to another host times out (its loopback source cannot leave);
    the compiled rule leaves 127.0.0.0/8 and ::1 out, and the node reaches its own listener."""
    net = lab(forwards="{proto: tcp, port: 80, to: 192.168.15.2:80, local: true}")
    assert run(net, "gw", "203.0.113.3", 80).node == "web"  # every own address
    assert run(net, "gw", "127.0.0.1", 80).disposition is D.CONNECTION_REFUSED
    assert run(net, "gw", "2001:db8:1::2", 80).disposition is D.CONNECTION_REFUSED  # an IPv4 forward


def test_ipv6_local_forward() -> None:
    net = lab(forwards="{proto: tcp, port: 80, to: '[fd00:15::2]:80', address: '2001:db8:1::2', local: true}")
    r = run(net, "gw", "2001:db8:1::2", 80)
    assert r.disposition is D.DELIVERED and r.node == "web"


# -- SNAT ---------------------------------------------------------------------------------------------

def test_snat_rules_apply_in_file_order_with_their_matches() -> None:
    net = lab("{snat: 192.168.15.0/24, to: 203.0.113.3, out: wan0, dst: 203.0.113.1/32}, "
              "{masquerade: 192.168.15.0/24, out: wan0}")
    arrived = Walker(net).walk("web", _pkt("203.0.113.1", 81), {}, kind="request").packet
    assert str(arrived.src) == "203.0.113.3"
    assert run(net, "web", "203.0.113.1", 81).disposition is D.DELIVERED


def test_snat_to_an_address_nobody_has_loses_the_reply() -> None:
    """Measured: the upstream's ARP for the SNAT address goes unanswered; the connection times out."""
    r = run(lab("{snat: 192.168.15.0/24, to: 203.0.113.9}"), "web", "203.0.113.1", 81)
    assert r.disposition is D.REPLY_LOST and "203.0.113.9" in r.reason


def test_ipv6_snat() -> None:
    net = lab("{snat: 'fd00:15::/64', to: '2001:db8:1::2', out: wan0}")
    arrived = Walker(net).walk("web", _pkt("2001:db8:1::1", 81), {}, kind="request").packet
    assert str(arrived.src) == "2001:db8:1::2"
    assert run(net, "web", "2001:db8:1::1").disposition is D.DELIVERED


# -- the fast matrix equals the walker ------------------------------------------------------------

@pytest.mark.parametrize("nat", ["{snat: 192.168.15.0/24, to: 203.0.113.3, out: wan0, dst: 203.0.113.1/32}",
                                 "{snat: 192.168.15.0/24, to: 203.0.113.9}", ""])
def test_fast_matrix_equals_the_walker(nat: str) -> None:
    for net in (lab(nat, BOUND), lab(nat, "{proto: tcp, port: 80, to: 192.168.15.2:80, local: true}")):
        cols = (*targets(net.topology, every_address=True), *ITSELF)
        fast = fast_matrix(net, cols)
        for s in fast.sources:
            for i, t in enumerate(cols):
                assert fast.verdict(s, i).disposition is trace_flow(net, t.flow(s)).disposition, (s, t.name)


def test_the_sample_s_matrix_equals_the_walker_and_its_expectations_hold() -> None:
    checked = check_file(SAMPLE, expectations=True)
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    net = Network(checked.topology)
    cols = (*targets(net.topology, every_address=True), *ITSELF)
    fast = fast_matrix(net, cols)
    for s in fast.sources:
        for i, t in enumerate(cols):
            assert fast.verdict(s, i).disposition is trace_flow(net, t.flow(s)).disposition, (s, t.name)


# -- rule text ----------------------------------------------------------------------------------------

def test_rule_text_of_both_back_ends() -> None:
    addr = ipaddress.ip_address
    fwd = DnatRule(Proto.TCP, 80, addr("192.168.15.2"), 80, address=addr("203.0.113.2"), local=True)
    assert fwd.nft() == "ip daddr 203.0.113.2 tcp dport 80 dnat ip to 192.168.15.2:80"
    assert fwd.iptables("PRE") == "-A PRE -d 203.0.113.2 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.168.15.2:80"
    own = DnatRule(Proto.TCP, 80, addr("fd00:15::2"), 80, in_interface="wan0", local=True)
    assert own.nft_output() == ("meta nfproto ipv6 fib daddr type local ip6 daddr != ::1 tcp dport 80 "
                                "dnat ip6 to [fd00:15::2]:80")  # no in-interface in the output hook
    assert own.iptables_output("LOC") == ("-A LOC ! -d ::1 -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 80 "
                                          "-j DNAT --to-destination [fd00:15::2]:80")
    snat = MasqueradeRule(ipaddress.ip_network("192.168.15.0/24"), "wan0", addr("203.0.113.2"),
                          ipaddress.ip_network("198.51.100.0/24"))
    assert snat.nft() == 'ip saddr 192.168.15.0/24 ip daddr 198.51.100.0/24 oifname "wan0" snat ip to 203.0.113.2'
    assert snat.iptables("POST") == "-A POST -s 192.168.15.0/24 -d 198.51.100.0/24 -o wan0 -j SNAT --to-source 203.0.113.2"


def test_the_sample_plans_an_output_chain_only_for_local_forwards() -> None:
    checked = check_file(SAMPLE)
    assert checked.topology is not None
    (nft,) = [op for op in plan(checked.topology).operations if isinstance(op, LoadNftables)]
    text = nft_ruleset(nft)
    assert "type nat hook output priority -100" in text
    assert text.count(" dnat ip") == 3 + 2  # three prerouting rules, and one output rule per local forward (v4, v6)
    (ipt,) = [op for op in plan(checked.topology, firewall="iptables").operations if isinstance(op, LoadIptables)]
    v4 = iptables_restore(ipt, 4)
    assert ":TG-natforms-LOCAL - [0:0]" in v4 and "-A OUTPUT -j TG-natforms-LOCAL" in v4
    assert ipt.local_chain in ipt.chains and ipt.local_chain in ipt.loaded_chains


def test_a_local_forward_and_an_output_filter_get_chains_of_their_own() -> None:
    """The nat output hook's chain and the filter's output chain live in one table: each needs its own name, or
    `nft -f` refuses the whole load (found by the differential test's random lab 1000)."""
    text = LAB.format(nat="", forwards="{proto: tcp, port: 80, to: '192.168.15.2:80', local: true}")
    text = text.replace("    port_forwards:", "    filter: {output: {policy: drop, rules: [{proto: tcp, action: accept}]}}\n"
                        "    port_forwards:")
    checked = check_text(text, "lab.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    (nft,) = [op for op in plan(checked.topology).operations if isinstance(op, LoadNftables)]
    chains = [line.split()[1] for line in nft_ruleset(nft).splitlines() if line.lstrip().startswith("chain ")]
    assert "output" in chains and "nat_output" in chains
    assert len(chains) == len(set(chains)), chains


def _pkt(dst: str, port: int) -> Packet:
    return Packet(None, ipaddress.ip_address(dst), CLIENT_PORT, port, 64, Proto.TCP)


def test_a_local_forward_to_the_node_itself_stays_on_loopback() -> None:
    """Measured: nat output DNAT of 203.0.113.2:8080 to the node's own 192.168.15.5:80 connects (the listener
    sees source 203.0.113.2). A forward's target counts as listening (Network.listeners)."""
    text = LAB.format(nat="", forwards="{proto: tcp, port: 8080, to: 192.168.15.5:80, local: true}")
    checked = check_text(text, "lab.yml")
    assert checked.topology is not None
    r = run(Network(checked.topology), "gw", "203.0.113.2", 8080)
    assert r.disposition is D.DELIVERED and r.node == "gw"
    assert [s.action for s in r.request.hops[0].steps][:2] == [Action.ORIGINATED, Action.DNAT]
