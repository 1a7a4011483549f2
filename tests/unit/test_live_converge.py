"""converge.diff on live states built by hand: up to date, missing, drifted, extra, blockers (no root needed)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, SAMPLES
from topograph.live.converge import diff, planned_macs
from topograph.live.observe import Live, LiveLink, NsState, route_key
from topograph.live.ownership import leftover_rules, root_links
from topograph.live.services import Observed
from topograph.live.state import Record
from topograph.pipeline import check_file
from topograph.plan import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    DeleteAddress,
    DeleteLink,
    DeleteNetns,
    EnslavePort,
    Firewall,
    LinkDown,
    LinkUp,
    LoadIptables,
    LoadNftables,
    LoopbackUp,
    MarkLink,
    MarkNetns,
    Plan,
    SetMac,
    SetMtu,
    SetNetem,
    SetSysctls,
    StartService,
    plan,
)
from topograph.plan.firewall import loaded_text

SEED = ROOT / "samples" / "06-port-forward.yml"
P = "t1-"


def lab(path: Path = SEED, firewall: Firewall = "nftables") -> Plan:
    checked = check_file(path)
    assert checked.topology is not None
    return plan(checked.topology, sandbox_prefix=P, firewall=firewall)


def built(p: Plan) -> Live:
    """The live state a correct apply of `p` leaves (a tiny interpreter of the plan)."""
    live = Live()
    for op in p.operations:
        if isinstance(op, CreateNetns):
            live.existing.add(op.netns)
            live.namespaces[op.netns] = NsState(links={"lo": LiveLink("lo", "", mtu=65536)})
            continue
        if isinstance(op, CreateVeth):
            for e in (op.a, op.b):
                live.namespaces[e.netns].links[e.ifname] = LiveLink(e.ifname, "veth")
            continue
        s = live.namespaces[op.netns]
        if isinstance(op, CreateBridge | CreateStandIn):
            s.links[op.ifname] = LiveLink(op.ifname, op.LINK_KIND)
        elif isinstance(op, LoopbackUp | LinkUp):
            s.links[op.ifname] = replace(s.links[op.ifname], up=True)
        elif isinstance(op, MarkNetns | MarkLink):
            s.links[op.ifname] = replace(s.links[op.ifname], alias=op.alias)
        elif isinstance(op, SetMtu):
            s.links[op.ifname] = replace(s.links[op.ifname], mtu=op.mtu)
        elif isinstance(op, SetNetem):
            s.qdiscs[op.ifname] = ("netem", op.netem)
        elif isinstance(op, SetMac):
            s.links[op.ifname] = replace(s.links[op.ifname], mac=op.mac)
        elif isinstance(op, EnslavePort):
            s.links[op.ifname] = replace(s.links[op.ifname], master=op.bridge)
        elif isinstance(op, AddAddress):
            s.addresses.add((op.ifname, str(op.address)))
        elif isinstance(op, AddRoute):
            s.routes.add(route_key(op))
        elif isinstance(op, SetSysctls):
            s.sysctls.update({v.key: v.value for v in op.values})
        elif isinstance(op, LoadNftables):
            s.nft[op.table] = "table listing"
        elif isinstance(op, LoadIptables):
            s.iptables[op.pre_chain] = "chains listing"
        elif isinstance(op, StartService):
            live.services[op.key] = Observed(op.node, op.name, "running", op.log, 4242, 1, cmd=op.cmd)
    return live


def record(p: Plan) -> Record:
    return Record(lab=p.lab, prefix=P, namespaces=sorted(p.namespaces), nft={f"{P}host": "table listing"},
                  iptables={f"{P}host": "chains listing"}, complete=True)


def test_nothing_there_means_everything_missing() -> None:
    p = lab()
    d = diff(p, Live(), None)
    assert d.count("missing") == len(p.operations) and d.up_to_date == 0
    assert d.repair == list(p.operations)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.stem)
def test_a_correctly_built_lab_is_up_to_date(sample: Path) -> None:
    p = lab(sample)
    d = diff(p, built(p), record(p))
    assert d.clean, [c.what for c in d.changes]
    assert d.up_to_date == len(p.operations)


def test_a_route_deleted_by_hand_is_missing_and_only_it_is_repaired() -> None:
    p = lab()
    live = built(p)
    route = next(op for op in p.operations if isinstance(op, AddRoute) and op.node == "red")
    live.namespaces[f"{P}red"].routes.discard(route_key(route))
    d = diff(p, live, record(p))
    assert [(c.state, c.op) for c in d.changes] == [("missing", route)]


def test_changed_values_are_drifted() -> None:
    p = lab()
    live = built(p)
    host = live.namespaces[f"{P}host"]
    host.sysctls["net.ipv4.ip_forward"] = 0
    host.links["v-net-0"] = replace(host.links["v-net-0"], up=False)
    host.nft["topograph-seed"] = "someone edited it"
    d = diff(p, live, record(p))
    assert sorted(c.state for c in d.changes) == ["drifted"] * 3
    assert {type(c.op).__name__ for c in d.changes} == {"SetSysctls", "LinkUp", "LoadNftables"}


def test_a_lost_mark_is_drifted_and_set_again() -> None:
    p = lab()
    live = built(p)
    red = live.namespaces[f"{P}red"]
    red.links["lo"] = replace(red.links["lo"], alias="")
    d = diff(p, live, record(p))
    assert [(c.state, c.op) for c in d.changes] == [("drifted", MarkNetns("red", f"{P}red", "topograph:seed@t1-"))]


def test_extra_objects_in_owned_namespaces_are_listed_for_removal() -> None:
    p = lab()
    live = built(p)
    blue = live.namespaces[f"{P}blue"]
    blue.addresses.add(("veth-blue", "10.9.9.9/24"))
    blue.links["extra0"] = LiveLink("extra0", "veth")
    d = diff(p, live, record(p))
    assert {(c.state, c.removal) for c in d.changes} == {
        ("extra", DeleteAddress("blue", f"{P}blue", "veth-blue", ipaddress.ip_interface("10.9.9.9/24"))),
        ("extra", DeleteLink("blue", f"{P}blue", "extra0"))}
    assert not d.repair


def test_a_missing_veth_end_means_recreate_the_pair_and_what_is_on_it() -> None:
    p = lab()
    live = built(p)
    del live.namespaces[f"{P}host"].links["veth-red-br"]
    d = diff(p, live, record(p))
    kinds = [type(c.op).__name__ for c in d.changes if c.op is not None]
    assert kinds[0] == "CreateVeth" and "EnslavePort" in kinds and "AddAddress" in kinds
    assert d.before == [DeleteLink("red", f"{P}red", "veth-red")]  # the surviving end goes first


def test_a_namespace_not_in_the_record_is_a_clash() -> None:
    p = lab()
    live = Live(existing={f"{P}blue"})
    d = diff(p, live, None)
    assert d.blockers == [f"namespace {P}blue exists already and is neither in lab seed's record nor marked as its own"]
    assert not d.changes


def test_namespaces_with_the_lab_s_mark_are_its_own_without_a_record() -> None:
    p = lab()
    live = built(p)  # as the compiled script leaves it: every namespace marked, no record
    d = diff(p, live, None)
    assert d.clean and sorted(d.adopted_namespaces) == sorted(p.namespaces) and d.adopted_links == []
    assert d.adopted == [f"namespace {n}" for n in d.adopted_namespaces]
    assert diff(p, live, record(p)).adopted == [], "recorded ones need no adopting"


@pytest.mark.parametrize("alias", ["", "topograph:seed", "topograph:seed@t2-", "topograph:other@t1-"])
def test_a_namespace_with_another_mark_stays_a_clash(alias: str) -> None:
    p = lab()
    live = built(p)
    blue = live.namespaces[f"{P}blue"]
    blue.links["lo"] = replace(blue.links["lo"], alias=alias)
    d = diff(p, live, None)
    assert d.blockers == [f"namespace {P}blue exists already and is neither in lab seed's record nor marked as its own"]


def test_real_mode_root_interfaces_with_the_lab_s_mark_are_its_own() -> None:
    checked = check_file(SEED)
    assert checked.topology is not None
    p = plan(checked.topology)  # real mode: planned only, never applied in tests
    root = NsState(links={"lo": LiveLink("lo", ""), "v-net-0": LiveLink("v-net-0", "bridge", alias="topograph:seed"),
                          "eth0": LiveLink("eth0", "veth"), "wan0": LiveLink("wan0", "veth")})
    d = diff(p, Live(namespaces={None: root}), None)
    assert not d.blockers and d.adopted_links == ["v-net-0"]
    root.links["v-net-0"] = replace(root.links["v-net-0"], alias="topograph:seed@t1-")
    assert diff(p, Live(namespaces={None: root}), None).blockers


def test_an_owned_namespace_the_file_dropped_is_extra() -> None:
    p = lab()
    live = built(p)
    live.existing.add(f"{P}old")
    rec = record(p)
    rec.add_namespaces([f"{P}old"])
    d = diff(p, live, rec)
    assert [(c.state, c.removal) for c in d.changes if c.removal] == [("extra", d.after[0])]
    assert d.after[0] == DeleteNetns("old", f"{P}old")  # the node it was, by its name


def test_a_missing_namespace_makes_everything_in_it_missing() -> None:
    p = lab()
    live = built(p)
    del live.namespaces[f"{P}red"]
    live.existing.discard(f"{P}red")
    live.namespaces[f"{P}host"].links.pop("veth-red-br")  # deleting a namespace deletes its veth peers
    d = diff(p, live, record(p))
    assert all(c.state == "missing" for c in d.changes)
    assert {c.op.node for c in d.changes if c.op is not None} == {"red", "host"}


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_whatever_is_removed_by_hand_is_exactly_what_is_missing(data: st.DataObject) -> None:
    p = lab()
    live = built(p)
    busy = sorted(str(n) for n, s in live.namespaces.items() if s.routes or s.addresses)
    ns = data.draw(st.sampled_from(busy))
    s = live.namespaces[ns]
    routes = data.draw(st.sets(st.sampled_from(sorted(s.routes, key=str))) if s.routes else st.just(set()))
    addrs = data.draw(st.sets(st.sampled_from(sorted(s.addresses))) if s.addresses else st.just(set()))
    s.routes -= routes
    s.addresses -= addrs
    d = diff(p, live, record(p))
    missing = {c.op for c in d.changes}
    assert all(c.state == "missing" for c in d.changes)
    assert {route_key(op) for op in missing if isinstance(op, AddRoute)} == routes
    assert {(op.ifname, str(op.address)) for op in missing if isinstance(op, AddAddress)} == addrs


def test_real_mode_root_interfaces_that_are_not_ours_clash() -> None:
    checked = check_file(SEED)
    assert checked.topology is not None
    p = plan(checked.topology)  # real mode: planned only, never applied in tests
    root = NsState(links={"lo": LiveLink("lo", ""), "v-net-0": LiveLink("v-net-0", "bridge"),
                          "eth0": LiveLink("eth0", "veth"), "wan0": LiveLink("wan0", "veth")})
    live = Live(namespaces={None: root})
    d = diff(p, live, None)
    assert d.blockers == ["interface v-net-0 exists already in the root namespace and is not topograph's"]
    mine = Record(lab="seed", prefix=None, root_links=["v-net-0"])
    assert not diff(p, live, mine).blockers


def test_only_routes_over_a_recreated_link_are_redone() -> None:
    p = lab(ROOT / "samples" / "08-chain-static-routes.yml")
    live = built(p)
    r1 = live.namespaces[f"{P}r1"]
    # the kernel shows each route with the interface it leaves by
    r1.routes = {replace(r, dev="eth1") for r in r1.routes}
    del r1.links["eth0"]  # left <-> r1 must be recreated; r1's route leaves by eth1 and stays
    del live.namespaces[f"{P}left"].links["eth0"]
    left = live.namespaces[f"{P}left"]
    left.routes = {replace(r, dev="eth0") for r in left.routes}
    d = diff(p, live, record(p))
    redone = [op for op in d.repair if isinstance(op, AddRoute)]
    assert [op.node for op in redone] == ["left"]


def test_root_links_are_the_interfaces_created_in_the_root_namespace_in_plan_order() -> None:
    checked = check_file(SEED)
    assert checked.topology is not None
    real = plan(checked.topology)  # real mode: planned only, never applied in tests
    assert root_links(real.operations) == ["v-net-0", "veth-red-br", "veth-blue-br"]
    assert root_links(lab().operations) == []  # a sandbox creates nothing in the root namespace
    veths = [op for op in real.operations if isinstance(op, CreateVeth)]
    assert root_links(veths) == ["veth-red-br", "veth-blue-br"]  # only the root end of each pair


@pytest.mark.parametrize(("present", "blocked"), [
    ((), ["the host has no interface eth0, wan0, which the lab uses as it is"]),
    (("eth0",), ["the host has no interface wan0, which the lab uses as it is"]),
    (("eth0", "wan0"), []),
])
def test_real_mode_uplinks_the_machine_lacks_block_the_run(present: tuple[str, ...], blocked: list[str]) -> None:
    checked = check_file(SEED)
    assert checked.topology is not None
    p = plan(checked.topology)  # real mode: planned only, never applied in tests
    root = NsState(links={"lo": LiveLink("lo", ""), **{n: LiveLink(n, "veth") for n in present}})
    d = diff(p, Live(namespaces={None: root}), None)
    assert d.blockers == blocked
    assert bool(d.changes) == (not blocked)  # a blocked run has no repair to offer
    assert not d.clean


@pytest.mark.parametrize(("listing", "state"), [(None, "missing"), ("a rule deleted by hand", "drifted")])
def test_iptables_chains_missing_or_changed_by_hand_are_repaired_by_reloading(listing: str | None, state: str) -> None:
    p = lab(firewall="iptables")
    load = next(op for op in p.operations if isinstance(op, LoadIptables))
    live = built(p)
    assert diff(p, live, record(p)).clean
    live.namespaces[f"{P}host"].iptables[load.pre_chain] = listing
    d = diff(p, live, record(p))
    assert [(c.state, c.op) for c in d.changes] == [(state, load)]
    assert d.repair == [load]


def test_a_namespace_file_left_unmounted_is_removed_then_made_again() -> None:
    p = lab()
    live = built(p)
    red = f"{P}red"
    del live.namespaces[red]  # observe does not enter a bare file
    del live.namespaces[f"{P}host"].links["veth-red-br"]  # the namespace took its veth pair with it
    live.stale.add(red)
    d = diff(p, live, record(p))
    assert d.changes[0].state == "drifted" and "is left from a killed run; destroy or apply repairs it" in d.changes[0].what
    assert d.before == [DeleteNetns("red", red)]
    assert any(isinstance(op, CreateNetns) and op.netns == red for op in d.repair)


def test_a_bare_namespace_file_that_no_record_names_is_a_clash() -> None:
    p = lab()
    live = Live(existing={f"{P}blue"}, stale={f"{P}blue"})
    d = diff(p, live, None)
    assert d.blockers and "a bare file" in d.blockers[0] and not d.changes


def _with_rules(p: Plan) -> Record:
    """The record an apply of `p` leaves, with what it loaded (Record.rules) and the MACs it set."""
    rec = record(p)
    for op in p.operations:
        if isinstance(op, LoadNftables | LoadIptables):
            rec.rules[op.netns or "root namespace"] = loaded_text(op)
    rec.macs = planned_macs(p)
    return rec


def _seed_text(tmp_path: Path, old: str, new: str) -> Path:
    text = SEED.read_text()
    assert old in text
    path = tmp_path / "seed.yml"
    path.write_text(text.replace(old, new))
    return path


def test_port_forwards_removed_from_the_file_mean_a_reload_of_the_rules(tmp_path: Path) -> None:
    before = lab()
    live, rec = built(before), _with_rules(before)
    assert diff(before, live, rec).clean
    after = lab(_seed_text(tmp_path, "    port_forwards:\n      - {proto: tcp, port: 80, to: 192.168.15.2:80}\n", ""))
    d = diff(after, live, rec)
    assert [(c.state, type(c.op).__name__) for c in d.changes] == [("drifted", "LoadNftables")]


@pytest.mark.parametrize("firewall", ["nftables", "iptables"])
def test_rules_of_a_node_that_has_none_any_more_are_deleted(firewall: Firewall) -> None:
    p = lab(firewall=firewall)
    rec = _with_rules(p)
    if firewall == "iptables":
        rec.nft.clear()
    else:
        rec.iptables.clear()
    without = replace(p, operations=tuple(op for op in p.operations if not isinstance(op, LoadNftables | LoadIptables)))
    live = built(p)
    gone = leftover_rules(without, rec)
    assert [type(g).__name__ for g in gone] == ["DeleteNftables" if firewall == "nftables" else "DeleteIptables"]
    d = diff(without, live, rec)
    assert [(c.state, c.op) for c in d.changes] == [("extra", gone[0])]
    assert "no NAT, port forward or filter here any more" in d.changes[0].what


def test_a_switch_of_firewall_deletes_the_other_back_ends_rules() -> None:
    rec = _with_rules(lab(firewall="nftables"))
    rec.iptables.clear()
    p = lab(firewall="iptables")
    assert [type(g).__name__ for g in leftover_rules(p, rec)] == ["DeleteNftables"]


def test_an_mtu_or_up_state_the_file_no_longer_sets_is_reset() -> None:
    p = lab()
    live = built(p)
    red = live.namespaces[f"{P}red"]
    red.links["veth-red"] = replace(red.links["veth-red"], mtu=9000)
    host = live.namespaces[f"{P}host"]
    host.links["v-net-0"] = replace(host.links["v-net-0"], mtu=1400)
    down = replace(p, operations=tuple(op for op in p.operations
                                       if not (isinstance(op, LinkUp) and op.ifname == "veth-blue")))
    blue = live.namespaces[f"{P}blue"]
    blue.routes.clear()  # a route over a down link: the plan has none
    down = replace(down, operations=tuple(op for op in down.operations
                                          if not (isinstance(op, AddRoute) and op.node == "blue")))
    d = diff(down, live, record(p))
    assert sorted(((c.state, c.op) for c in d.changes if c.op is not None), key=str) == sorted([
        ("drifted", SetMtu("red", f"{P}red", "veth-red", 1500)),
        ("drifted", SetMtu("host", f"{P}host", "v-net-0", 1500)),
        ("drifted", LinkDown("blue", f"{P}blue", "veth-blue")),
    ], key=str)


def test_a_bridge_takes_the_smallest_mtu_of_its_ports() -> None:
    p = lab()
    ports = ("veth-red-br", "veth-blue-br")
    big = replace(p, operations=(*p.operations, *(SetMtu("host", f"{P}host", n, 9000) for n in ports)))
    live = built(big)
    host = live.namespaces[f"{P}host"]
    host.links["v-net-0"] = replace(host.links["v-net-0"], mtu=9000)  # what the kernel does
    assert diff(big, live, record(p)).clean


def test_a_mac_the_file_no_longer_sets_makes_the_pair_again() -> None:
    p = lab()
    mac = SetMac("red", f"{P}red", "veth-red", "02:00:00:00:00:01")
    with_mac = replace(p, operations=(*p.operations, mac))
    live, rec = built(with_mac), _with_rules(with_mac)
    assert diff(with_mac, live, rec).clean
    d = diff(p, live, rec)
    assert d.before == [DeleteLink("red", f"{P}red", "veth-red")]
    assert "keeps the MAC an earlier apply set" in d.changes[0].what
    kinds = [type(op).__name__ for op in d.repair]
    assert kinds[0] == "CreateVeth" and "AddAddress" in kinds and "EnslavePort" in kinds
    assert diff(p, live, replace(rec, macs={})).clean  # a MAC no apply set is not ours to change


def test_a_sysctl_the_file_no_longer_sets_goes_back_to_topographs_default(tmp_path: Path) -> None:
    strict = lab(_seed_text(tmp_path, "    forwarding: true                # the host is the namespaces' gateway\n",
                            "    forwarding: true\n    rp_filter: strict\n"))
    d = diff(lab(), built(strict), record(strict))
    assert [(c.state, type(c.op).__name__, c.op.node if c.op else "") for c in d.changes] == [
        ("drifted", "SetSysctls", "host")]


VETH_ENDS = [(f"{P}red", "veth-red"), (f"{P}blue", "veth-blue"), (f"{P}host", "veth-red-br"),
             (f"{P}host", "veth-blue-br"), (f"{P}host", "eth0"), (f"{P}lan", "eth0")]


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from(VETH_ENDS), st.integers(min_value=1280, max_value=9000), max_size=6))
def test_mtus_the_file_no_longer_sets_are_reset_and_then_up_to_date(mtus: dict[tuple[str, str], int]) -> None:
    p = lab()
    node = {f"{P}{n}": n for n in ("red", "blue", "host", "lan")}
    with_mtus = replace(p, operations=(*p.operations, *(SetMtu(node[ns], ns, i, m) for (ns, i), m in mtus.items())))
    live = built(with_mtus)
    d = diff(p, live, record(p))
    assert {(c.op.netns, c.op.ifname) for c in d.changes if isinstance(c.op, SetMtu)} == {
        k for k, m in mtus.items() if m != 1500}
    for c in d.changes:  # the repair, as the kernel does it
        assert isinstance(c.op, SetMtu) and c.op.mtu == 1500
        links = live.namespaces[c.op.netns].links
        links[c.op.ifname] = replace(links[c.op.ifname], mtu=c.op.mtu)
    assert diff(p, live, record(p)).clean


@pytest.mark.parametrize(("said", "pinned"), [("false", 0), ("true", 1)])
def test_bridge_netfilter_the_file_says_drifts_when_the_kernel_differs(tmp_path: Path, said: str, pinned: int) -> None:
    text = SEED.read_text().replace("    forwarding: true", f"    forwarding: true\n    bridge_netfilter: {said}", 1)
    (tmp_path / "seed.yml").write_text(text)
    p = lab(tmp_path / "seed.yml")
    live = built(p)
    host = live.namespaces[f"{P}host"]
    assert host.sysctls["net.bridge.bridge-nf-call-iptables"] == pinned
    assert diff(p, live, record(p)).clean
    host.sysctls["net.bridge.bridge-nf-call-ip6tables"] = 1 - pinned
    d = diff(p, live, record(p))
    assert [(c.state, type(c.op).__name__) for c in d.changes] == [("drifted", "SetSysctls")]


def test_bridge_netfilter_unset_leaves_the_kernels_value_alone() -> None:
    p = lab()
    live = built(p)
    live.namespaces[f"{P}host"].sysctls["net.bridge.bridge-nf-call-iptables"] = 0  # whatever the kernel has
    assert diff(p, live, record(p)).clean
