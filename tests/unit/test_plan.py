"""The plan: order, determinism, real vs sandbox placement, sysctls, firewall rules and the reverse."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES
from topograph import kernel_names
from topograph.model import Topology
from topograph.pipeline import check_file, check_text
from topograph.plan import (
    SECTIONS,
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    DeleteLink,
    DeleteNetns,
    DeleteNftables,
    LinkUp,
    LoadIptables,
    LoadNftables,
    LoopbackUp,
    RestoreSysctls,
    SetLinkSysctls,
    SetSysctls,
    StopService,
    iptables_restore,
    namespaces,
    nft_ruleset,
    plan,
    reverse,
)

SEED = ROOT / "samples" / "06-port-forward.yml"


def load(path: Path) -> Topology:
    checked = check_file(path)
    assert checked.ok and checked.topology is not None, checked.report
    return checked.topology


def load_text(text: str) -> Topology:
    checked = check_text(text, "lab.yml")
    assert checked.ok and checked.topology is not None, list(checked.report)
    return checked.topology


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("prefix", [None, "t-"])
def test_plan_is_deterministic_and_sectioned(sample: Path, prefix: str | None) -> None:
    first, second = plan(load(sample), sandbox_prefix=prefix), plan(load(sample), sandbox_prefix=prefix)
    assert first == second
    order = [SECTIONS.index(op.SECTION) for op in first.operations]
    assert order == sorted(order), "operations must come section by section"
    down = reverse(first)
    assert [SECTIONS.index(op.SECTION) for op in down.operations] == sorted(SECTIONS.index(op.SECTION) for op in down.operations)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sandbox_puts_every_node_in_a_prefixed_namespace(sample: Path) -> None:
    topology = load(sample)
    p = plan(topology, sandbox_prefix="sb1-")
    assert p.namespaces == tuple("sb1-" + n.name for n in topology.nodes)
    for op in p.operations:
        for netns in namespaces(op):
            assert netns is not None and netns.startswith("sb1-"), f"{op} touches the root namespace"
    mark = kernel_names.mark(topology.name, "sb1-")
    # a service is stopped first (deleting its namespace would not stop it), the last started first
    run_dir = kernel_names.service_dir(topology.name, "sb1-")
    stops = tuple(StopService(n.name, "sb1-" + n.name, s.name, run_dir) for n in reversed(topology.nodes)
                  for s in reversed(n.services))
    assert reverse(p).operations == (*stops, *(DeleteNetns(n.name, "sb1-" + n.name, mark) for n in reversed(topology.nodes)))


def test_real_mode_seed_host_is_the_root_namespace_and_externals_are_left_alone() -> None:
    p = plan(load(SEED))
    assert p.namespaces == ("red", "blue")
    assert p.requires == ("eth0", "wan0"), "the uplinks must exist on the machine"
    assert plan(load(SEED), sandbox_prefix="x-").requires == ()
    veths = [op for op in p.operations if isinstance(op, CreateVeth)]
    assert [(v.a.netns, v.a.ifname, v.b.netns, v.b.ifname) for v in veths] == [
        ("red", "veth-red", None, "veth-red-br"), ("blue", "veth-blue", None, "veth-blue-br")]
    addresses = {(op.netns, op.ifname, str(op.address)) for op in p.operations if isinstance(op, AddAddress)}
    assert addresses == {("red", "veth-red", "192.168.15.1/24"), ("blue", "veth-blue", "192.168.15.2/24"),
                         (None, "v-net-0", "192.168.15.5/24")}
    routes = [op for op in p.operations if isinstance(op, AddRoute)]
    assert all(r.node != "host" for r in routes), "the host's default route leaves by an existing uplink"
    assert any("default via 203.0.113.1" in n and "assumed present" in n for n in p.notes)
    assert any(n.startswith("lan: external node") for n in p.notes)
    host_sysctls = next(op for op in p.operations if isinstance(op, SetSysctls) and op.node == "host")
    assert host_sysctls.netns is None and host_sysctls.save_to == kernel_names.sysctl_state_file("seed")
    keys = {s.key: s.value for s in host_sysctls.values}
    assert keys["net.ipv4.ip_forward"] == 1
    assert keys["net.ipv4.conf.eth0.rp_filter"] == 0, "existing NICs get the value per interface"


def test_real_mode_teardown_deletes_root_objects_then_namespaces() -> None:
    down = reverse(plan(load(SEED)))
    assert down.operations == (
        DeleteNftables("host", None, "topograph-seed"),
        DeleteLink("host", None, "veth-blue-br", "topograph:seed"),
        DeleteLink("host", None, "veth-red-br", "topograph:seed"),
        DeleteLink("host", None, "v-net-0", "topograph:seed"),
        RestoreSysctls("host", None, "/run/topograph/seed.sysctl"),
        DeleteNetns("blue", "blue", "topograph:seed"),
        DeleteNetns("red", "red", "topograph:seed"),
    )
    assert down.namespaces == ("blue", "red")
    with pytest.raises(ValueError):
        reverse(down)


def test_sandbox_seed_configures_uplinks_and_externals() -> None:
    p = plan(load(SEED), sandbox_prefix="x-")
    veths = {(v.a.netns, v.a.ifname, v.b.netns, v.b.ifname) for v in p.operations if isinstance(v, CreateVeth)}
    assert ("x-host", "wan0", "x-internet", "eth0") in veths
    addresses = {(op.netns, op.ifname, str(op.address)) for op in p.operations if isinstance(op, AddAddress)}
    assert ("x-internet", "lo", "198.51.100.8/32") in addresses
    assert ("x-host", "eth0", "192.168.1.2/24") in addresses
    routes = {(op.netns, str(op.to), str(op.via)) for op in p.operations if isinstance(op, AddRoute)}
    assert ("x-host", "0.0.0.0/0", "203.0.113.1") in routes
    assert not p.notes


def test_sysctls_are_explicit_in_every_node_and_come_before_any_interface() -> None:
    topology = load(SEED)
    p = plan(topology, sandbox_prefix="x-")
    batches = {op.node: op for op in p.operations if isinstance(op, SetSysctls)}
    assert set(batches) == {n.name for n in topology.nodes}
    for node in topology.nodes:
        values = {s.key: (s.value, s.optional) for s in batches[node.name].values}
        fwd = int(node.forwarding)
        assert values["net.ipv4.ip_forward"] == (fwd, False)
        assert values["net.ipv6.conf.all.forwarding"] == (fwd, False)
        for key in ("all", "default", "lo"):
            assert values[f"net.ipv4.conf.{key}.rp_filter"] == (node.rp_filter.sysctl, False)
        assert values["net.ipv6.conf.default.accept_dad"] == (0, False)
        # bridge_netfilter unset: the kernel's value stays (br_netfilter's default, on)
        assert not any(k.startswith("net.bridge.") for k in values), "unset or no bridge: left alone"
    first_link = min(i for i, op in enumerate(p.operations) if op.SECTION in ("bridges", "links"))
    last_sysctl = max(i for i, op in enumerate(p.operations) if isinstance(op, SetSysctls))
    assert last_sysctl < first_link


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("prefix", [None, "t-"])
def test_interfaces_the_lab_creates_are_quiet(sample: Path, prefix: str | None) -> None:
    """No router solicitations, and no automatic link-local address in a node without IPv6: in the lab's own
    namespaces through `default`, set before any interface exists; in the root namespace per interface
    (never `default`, which the machine's own new interfaces would take), while the interface is down."""
    topology = load(sample)
    ipv6 = {n.name: any(a.version == 6 for i in n.interfaces for a in i.addresses) or any(r.to.version == 6 for r in n.routes)
            for n in topology.nodes}
    p = plan(topology, sandbox_prefix=prefix)
    ops = list(p.operations)
    created = {(op.netns, op.ifname): i for i, op in enumerate(ops) if isinstance(op, CreateBridge | CreateStandIn)}
    created.update({(e.netns, e.ifname): i for i, op in enumerate(ops) if isinstance(op, CreateVeth) for e in (op.a, op.b)})
    up = {(op.netns, op.ifname): i for i, op in enumerate(ops) if isinstance(op, LinkUp)}
    quiet: dict[tuple[str | None, str], int] = {}
    for i, op in enumerate(ops):
        if not isinstance(op, SetSysctls):
            continue
        conf = {s.path[3:]: s for s in op.values if s.path[:3] == ("net", "ipv6", "conf")}
        for (where, key), s in conf.items():
            if key == "addr_gen_mode":
                assert s.value == (0 if ipv6[op.node] else 1) and not s.optional, (op.node, s)
                assert conf[(where, "router_solicitations")].value == 0
                quiet[(op.netns, where)] = i
    assert not any(name == "default" for netns, name in quiet if netns is None), "root's default is the machine's"
    for (netns, ifname), made in created.items():
        if netns is not None:
            assert quiet[(netns, "default")] < made, f"{netns}: default set before {ifname} exists"
        else:
            assert made < quiet[(None, ifname)] < up.get((None, ifname), len(ops)), f"{ifname}: set while down"
    root_links = [op for op in ops if isinstance(op, SetLinkSysctls)]
    assert all(op.netns is None and op.SECTION == "interface settings" for op in root_links)
    assert bool(root_links) == any(netns is None for netns, _ in created)


def test_sysctl_key_uses_slashes_for_interface_names_with_dots() -> None:
    topology = load_text("""
nodes:
  h: {kind: host, rp_filter: strict, interfaces: {eth0.100: 10.0.0.1/24}}
  a: {interfaces: {eth0: 10.0.1.1/24}}
links: [[a:eth0, h:veth-a]]
""")
    batch = next(op for op in plan(topology).operations if isinstance(op, SetSysctls) and op.node == "h")
    keys = {s.key: s.value for s in batch.values}
    assert keys["net/ipv4/conf/eth0.100/rp_filter"] == 1
    assert next(s for s in batch.values if s.key.startswith("net/")).proc_path == "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"


def test_sandbox_turns_unlinked_host_interfaces_into_stand_ins() -> None:
    topology = load_text("""
nodes:
  h: {kind: host, interfaces: {eth9: 198.51.100.1/24}, bridges: {br0: 10.0.0.1/24}}
  a: {interfaces: {eth0: 10.0.0.2/24}}
links: [[a:eth0, br0:p-a]]
""")
    sandbox = plan(topology, sandbox_prefix="s-")
    assert CreateStandIn("h", "s-h", "eth9") in sandbox.operations
    assert AddAddress("h", "s-h", "eth9", ipaddress.ip_interface("198.51.100.1/24")) in sandbox.operations
    real = plan(topology)
    assert not any(isinstance(op, CreateStandIn) for op in real.operations)
    assert not any(isinstance(op, AddAddress) and op.ifname == "eth9" for op in real.operations)


def test_loopback_down_and_interfaces_down_stay_down() -> None:
    topology = load_text("""
nodes:
  a: {interfaces: {lo: {up: false}, eth0: {address: 10.0.0.1/24, up: false}}}
  b: {interfaces: {eth0: 10.0.0.2/24}, routes: [{to: 10.9.0.0/24, dev: eth0}]}
  c: {interfaces: {eth0: {address: 10.0.1.1/24, up: false}}, routes: [{to: 10.9.0.0/24, dev: eth0}]}
  d: {interfaces: {eth0: 10.0.1.2/24}}
links: [[a:eth0, b:eth0], [c:eth0, d:eth0]]
""")
    p = plan(topology, sandbox_prefix="s-")
    assert LoopbackUp("a", "s-a") not in p.operations
    assert LoopbackUp("b", "s-b") in p.operations
    assert LinkUp("a", "s-a", "eth0") not in p.operations
    assert any(isinstance(op, AddRoute) and op.node == "b" for op in p.operations)
    assert not any(isinstance(op, AddRoute) and op.node == "c" for op in p.operations)
    assert any(n.startswith("c: route 10.9.0.0/24 dev eth0 is not added: eth0 is down") for n in p.notes)


def test_firewall_rules_nftables_and_iptables() -> None:
    topology = load(SEED)
    nft = next(op for op in plan(topology, sandbox_prefix="x-").operations if isinstance(op, LoadNftables))
    assert nft_ruleset(nft) == (
        "table inet topograph-seed {\n"
        "\tchain prerouting {\n"
        "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        "\t\tmeta nfproto ipv4 fib daddr type local tcp dport 80 dnat ip to 192.168.15.2:80\n"
        "\t}\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        '\t\tip saddr 192.168.15.0/24 oifname "eth0" masquerade\n'
        '\t\tip saddr 192.168.15.0/24 oifname "wan0" masquerade\n'
        "\t}\n"
        "}\n")
    ipt = next(op for op in plan(topology, firewall="iptables").operations if isinstance(op, LoadIptables))
    assert ipt.netns is None and ipt.families == (4,)
    assert iptables_restore(ipt, 4).splitlines() == [
        "*nat", ":TG-seed-PRE - [0:0]", ":TG-seed-POST - [0:0]",
        "-A TG-seed-PRE -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 80 -j DNAT --to-destination 192.168.15.2:80",
        "-A TG-seed-POST -s 192.168.15.0/24 -o eth0 -j MASQUERADE",
        "-A TG-seed-POST -s 192.168.15.0/24 -o wan0 -j MASQUERADE",
        "-A PREROUTING -j TG-seed-PRE", "-A POSTROUTING -j TG-seed-POST", "COMMIT"]


def test_unknown_firewall_and_bad_prefix_are_refused() -> None:
    topology = load(SEED)
    with pytest.raises(ValueError, match="firewall"):
        plan(topology, firewall="pf")  # type: ignore[arg-type]
    for bad in ("", "a b", "-x", "x" * 17, "a;b"):
        with pytest.raises(ValueError, match="sandbox prefix"):
            plan(topology, sandbox_prefix=bad)


def test_namespaces_are_created_first_in_node_order() -> None:
    p = plan(load(SEED), sandbox_prefix="x-")
    created = [op for op in p.operations if isinstance(op, CreateNetns)]
    assert [c.netns for c in created] == ["x-red", "x-blue", "x-host", "x-lan", "x-internet"]
    assert isinstance(p.operations[0], CreateNetns)


def test_naming_one_family_of_names() -> None:
    assert kernel_names.netns_name("red") == "red"
    assert kernel_names.netns_name("red", "t1-") == "t1-red"
    assert kernel_names.nft_table("seed") == "topograph-seed"
    assert kernel_names.iptables_chain("seed", "PRE") == "TG-seed-PRE"
    long = kernel_names.iptables_chain("a-very-long-lab-name-that-goes-on", "POST")
    assert len(long) <= kernel_names.IPTABLES_CHAIN_MAX and long.endswith("-POST")
    assert long != kernel_names.iptables_chain("a-very-long-lab-name-that-goes-on-too", "POST"), "a hash keeps them apart"
    for bad in ("a b", "x;y", ""):
        with pytest.raises(ValueError):
            kernel_names.netns_name(bad)


def test_ipv6_nat_and_forwards_use_the_ip6_family() -> None:
    topology = load_text("""
nodes:
  gw:
    forwarding: true
    interfaces: {up0: [203.0.113.2/24, "2001:db8:1::2/64"], in0: [10.0.0.1/24, "fd00::1/64"]}
    nat: [{masquerade: 10.0.0.0/24, out: up0}, {masquerade: "fd00::/64", out: up0}]
    port_forwards:
      - {proto: udp, port: 53, to: "10.0.0.2:5353", in: up0}
      - {proto: tcp, port: 80, to: "[fd00::2]:8080"}
  inside: {interfaces: {eth0: [10.0.0.2/24, "fd00::2/64"]}}
  outside: {interfaces: {eth0: [203.0.113.1/24, "2001:db8:1::1/64"]}}
links: [[gw:in0, inside:eth0], [gw:up0, outside:eth0]]
""")
    nft = next(op for op in plan(topology, sandbox_prefix="x-").operations if isinstance(op, LoadNftables))
    text = nft_ruleset(nft)
    assert 'iifname "up0" meta nfproto ipv4 fib daddr type local udp dport 53 dnat ip to 10.0.0.2:5353' in text
    assert "meta nfproto ipv6 fib daddr type local tcp dport 80 dnat ip6 to [fd00::2]:8080" in text
    assert 'ip6 saddr fd00::/64 oifname "up0" masquerade' in text
    ipt = next(op for op in plan(topology, firewall="iptables").operations if isinstance(op, LoadIptables))
    assert ipt.families == (4, 6)
    assert "-A TG-lab-PRE -i up0 -p udp -m addrtype --dst-type LOCAL -m udp --dport 53 -j DNAT --to-destination 10.0.0.2:5353" \
        in iptables_restore(ipt, 4)
    six = iptables_restore(ipt, 6)
    assert "--to-destination [fd00::2]:8080" in six and "-s fd00::/64 -o up0 -j MASQUERADE" in six and "10.0.0" not in six
    addresses = [op for op in plan(topology).operations if isinstance(op, AddAddress) and op.address.version == 6]
    assert addresses and all(op.nodad for op in addresses)
