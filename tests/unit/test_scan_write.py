"""The scan's writer without root: hand-built scan data -> the topology file (golden), which checks clean;
what the format cannot say is a `# scan:` comment and a warning, never dropped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT
from topograph.pipeline import check_text
from topograph.scan.build import HOST_NETNS, build_document, lab_name
from topograph.scan.data import Scan, ScanLink, ScanNamespace, ScanRoute
from topograph.scan.write import write

GOLDEN = ROOT / "tests" / "golden" / "scan"
V4 = {"net.ipv4.ip_forward": 0, "net.ipv6.conf.all.forwarding": 0, "net.ipv4.conf.all.rp_filter": 0}
ROUTER = {"net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1, "net.ipv4.conf.all.rp_filter": 0,
          "net.bridge.bridge-nf-call-iptables": 1}
MARK = "topograph:lab@t1-"
LO = ScanLink(1, "lo", "", mtu=65536)
DEFAULT_ADDRS = (("lo", "127.0.0.1/8"), ("lo", "::1/128"))

MASQUERADE = {"rule": {"family": "inet", "table": "topograph-lab", "chain": "postrouting", "expr": [
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
               "right": {"prefix": {"addr": "10.0.0.0", "len": 24}}}},
    {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "up0"}}, {"masquerade": None}]}}
POSTROUTING = {"chain": {"family": "inet", "table": "topograph-lab", "name": "postrouting", "type": "nat",
                         "hook": "postrouting", "prio": 100, "policy": "accept"}}


def lab() -> Scan:
    """A router with a bridge of two clients, an uplink to a namespace outside the scan, and the forms the
    format cannot say (another table, a policy rule, a blackhole route, bridge netfilter on)."""
    router = ScanNamespace(
        node="gw", netns="t1-gw", mark="topograph:lab@t1-",
        links=(LO, ScanLink(2, "br0", "bridge"), ScanLink(3, "p-a", "veth", master="br0", port_state=3, peer=("a", "eth0")),
               ScanLink(4, "p-b", "veth", master="br0", port_state=3, peer=("b", "eth0")),
               ScanLink(5, "up0", "veth", mtu=9000, peer_outside=True), ScanLink(6, "d0", "dummy", up=False)),
        addresses=(*DEFAULT_ADDRS, ("br0", "10.0.0.1/24"), ("br0", "fd00::1/64"), ("up0", "203.0.113.2/24"),
                   ("lo", "198.51.100.1/32")),
        routes=(ScanRoute("10.0.0.0/24", dev="br0", protocol=2), ScanRoute("0.0.0.0/0", via="203.0.113.1", dev="up0"),
                ScanRoute("192.0.2.0/24", via="203.0.113.9", dev="up0", metric=20, onlink=True),
                ScanRoute("198.18.0.0/15", kind=6), ScanRoute("0.0.0.0/0", via="203.0.113.1", dev="up0", table=7)),
        policy_rules=("ip -4 rule: priority 10 from 10.0.0.0/24 lookup 7",),
        sysctls=ROUTER, rp_filter={"lo": 0, "br0": 2, "up0": 2}, nft=(POSTROUTING, MASQUERADE))
    a = ScanNamespace(node="a", netns="t1-a", mark=MARK,
                      links=(LO, ScanLink(2, "eth0", "veth", peer=("gw", "p-a"))),
                      addresses=(*DEFAULT_ADDRS, ("eth0", "10.0.0.2/24"), ("eth0", "fd00::2/64")),
                      routes=(ScanRoute("0.0.0.0/0", via="10.0.0.1", dev="eth0"),
                              ScanRoute("::/0", via="fd00::1", dev="eth0", metric=1024)), sysctls=V4)
    b = ScanNamespace(node="b", netns="t1-b", mark=MARK,
                      links=(LO, ScanLink(2, "eth0", "veth", peer=("gw", "p-b"))),
                      addresses=(*DEFAULT_ADDRS, ("eth0", "10.0.0.3/24")),
                      routes=(ScanRoute("0.0.0.0/0", via="10.0.0.1", dev="eth0"),), sysctls=V4)
    return Scan((router, a, b))


def test_writer_golden(golden: Callable[[Path, str], None]) -> None:
    built = build_document(lab())
    text = write(built, "written by topograph scan --sandbox t1-")
    golden(GOLDEN / "router.yml", text)
    for warning in built.warnings:  # every warning is in the file, under its node
        assert f"# scan: {warning.split(': ', 1)[1]}" in text
    assert len(built.warnings) == 6
    assert "bridge_netfilter: true" in text  # the router's bridge-nf-call-iptables is 1: said in the file, no note
    checked = check_text(text, "router.yml")
    assert checked.ok, [d.message for d in checked.report.items]
    assert {d.code for d in checked.report.items} <= {"TG504"}  # the dummy interface is down


def test_writer_is_deterministic_and_names_the_lab() -> None:
    assert write(build_document(lab())) == write(build_document(lab()))
    assert lab_name(lab()) == "lab"
    assert lab_name(Scan((*lab().namespaces[:1], ScanNamespace("x", "x")))) == "scan"  # one namespace is no lab's


def test_the_machine_itself_is_the_host_and_its_uplinks_exist_already() -> None:
    host = ScanNamespace(node="host", netns=HOST_NETNS, links=(LO, ScanLink(2, "eth0", "", mtu=1500)),
                         addresses=(*DEFAULT_ADDRS, ("eth0", "192.0.2.10/24")),
                         routes=(ScanRoute("0.0.0.0/0", via="192.0.2.1", dev="eth0", protocol=16),), sysctls=V4)
    built = build_document(Scan((host,)))
    assert built.document["nodes"] == {"host": {"kind": "host", "interfaces": {"eth0": "192.0.2.10/24"},
                                                "routes": [{"to": "default", "via": "192.0.2.1"}]}}
    assert built.document["links"] == [] and built.warnings == []
    assert check_text(write(built), "host.yml").ok


def test_bridges_of_one_name_in_two_namespaces_are_said() -> None:
    def one(node: str) -> ScanNamespace:
        return ScanNamespace(node=node, netns=node, links=(LO, ScanLink(2, "br0", "bridge")), sysctls=V4)

    assert build_document(Scan((one("x"), one("y")))).warnings == [
        "y: bridge br0 is also a bridge of x: the file names bridges lab-wide; rename one"]
    assert build_document(Scan((one("br0"),))).warnings == [
        "br0: bridge br0 has the name of node br0: the file cannot say both; rename one"]
