"""A scan (scan/data.py) -> a topology document in the file's words, and notes for what it cannot say.

The document is plain data in TopologyDoc's shape (front/document.py), in a fixed order: nodes in
scan order, each node's interfaces in the kernel's order, links in the order their first end was read.
What the format leaves implicit is left out (the loopback's 127.0.0.1/8 and ::1, fe80:: addresses, the
kernel's connected routes, IPv6's default metric 1024, a route's `dev` where its gateway says it).
Every interface whose other end lies outside the scanned namespaces (a veth's peer elsewhere, a
physical or dummy interface in a namespace) is linked to one stand-in node, `outside`, of kind host
(namespace when the machine's own namespace is scanned as the host): no address, nothing behind it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from topograph.scan.data import Scan, ScanLink, ScanNamespace, ScanRoute
from topograph.scan.iptmap import map_saves
from topograph.scan.nftmap import Mapped, combine, iptables_nft_tables, map_ruleset

RTPROT_KERNEL, RTN_UNICAST, RT_TABLE_MAIN = 2, 1, 254
#: a bridge port's STP states that hold frames back although the port is up (listening, learning, blocking)
BR_STATES_HELD = {1: "listening", 2: "learning", 4: "blocking"}
_RP = {0: "disabled", 1: "strict", 2: "loose"}
_IMPLIED = {("lo", "127.0.0.1/8"), ("lo", "::1/128")}
_ROUTE_KINDS = {2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole", 7: "unreachable",
                8: "prohibit", 9: "throw", 10: "nat"}
HOST_NETNS = "(root)"
_Pair = tuple[str, str | tuple[str, str]]  # an end, and the other end or its (node, interface)
OUTSIDE = "outside"


@dataclass
class Built:
    """The document, and notes: per node (written under the node) and for the whole lab."""

    document: dict[str, Any]
    notes: dict[str, list[str]] = field(default_factory=dict)  # node -> notes; "" for the lab

    def note(self, node: str, text: str) -> None:
        self.notes.setdefault(node, []).append(text)

    @property
    def warnings(self) -> list[str]:
        return [f"{node}: {n}" if node else n for node, ns in self.notes.items() for n in ns]


def lab_name(scan: Scan) -> str:
    """The lab's name: topograph's mark on the namespaces when they all carry one lab's, else the scan's."""
    labs = {s.mark.removeprefix("topograph:").partition("@")[0] for s in scan.namespaces
            if s.mark.startswith("topograph:")}
    return labs.pop() if len(labs) == 1 and len(scan.namespaces) and all(s.mark for s in scan.namespaces) \
        else scan.lab


class _Outside:
    """The stand-in node for everything beyond the scanned namespaces: one interface per far end."""

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind
        self.interfaces: list[str] = []
        self.mtus: dict[str, int] = {}  # an invented end takes its scanned peer's MTU (else TG505 for nothing)

    def end(self, node: str, ifname: str, mtu: int = 1500) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{node}-{ifname}")[:15]
        name, n = base, 1
        while name in self.interfaces:
            n += 1
            name = f"{base[:15 - len(str(n)) - 1]}-{n}"
        self.interfaces.append(name)
        if mtu != 1500:
            self.mtus[name] = mtu
        return f"{self.name}:{name}"


def _families(space: ScanNamespace) -> set[int]:
    return {ipaddress.ip_interface(a).version for itf, a in space.addresses if (itf, a) not in _IMPLIED}


def _rp_filter(space: ScanNamespace, built: Built) -> str:
    base = space.sysctls.get("net.ipv4.conf.all.rp_filter") or 0
    values = {max(base, v) for itf, v in space.rp_filter.items() if itf != "lo"} or {base}
    if len(values) > 1:
        each = ", ".join(f"{i}={v}" for i, v in sorted(space.rp_filter.items()))
        built.note(space.node, f"rp_filter differs by interface ({each}); "
                               f"written as the strictest mode of any: {_RP.get(max(values), 'loose')}")
    return _RP.get(max(values), "loose")


def _interface(addresses: list[str], link: ScanLink) -> Any:
    default_mtu = 65536 if link.name == "lo" else 1500
    extra: dict[str, Any] = {}
    if link.mtu and link.mtu != default_mtu and link.kind != "bridge":
        extra["mtu"] = link.mtu
    if not link.up:
        extra["up"] = False
    if extra:
        return {"address": addresses, **extra} if addresses else extra
    if len(addresses) == 1:
        return addresses[0]
    return addresses or None


def _route(r: ScanRoute, connected: dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]]) -> dict[str, Any]:
    net = ipaddress.ip_network(r.to)
    doc: dict[str, Any] = {"to": "default" if net.prefixlen == 0 else str(net)}
    if r.via is not None:
        doc["via"] = r.via
    via = ipaddress.ip_address(r.via) if r.via is not None else None
    holders = [itf for itf, nets in connected.items() if via is not None and any(via in n for n in nets)]
    if r.dev is not None and (via is None or r.onlink or holders != [r.dev]):
        doc["dev"] = r.dev
    if r.metric != (0 if net.version == 4 else 1024):
        doc["metric"] = r.metric
    if r.onlink:
        doc["onlink"] = True
    return doc


def _routes(space: ScanNamespace, built: Built) -> list[dict[str, Any]]:
    connected: dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {}
    for itf, a in space.addresses:
        connected.setdefault(itf, []).append(ipaddress.ip_interface(a).network)
    out = []
    for r in space.routes:
        if r.protocol == RTPROT_KERNEL and r.table == RT_TABLE_MAIN:
            continue  # a connected route: the address says it
        words = f"{r.to}" + (f" via {r.via}" if r.via else "") + (f" dev {r.dev}" if r.dev else "")
        if r.table != RT_TABLE_MAIN:
            built.note(space.node, f"route {words} in table {r.table}: only the main table is written")
        elif r.kind != RTN_UNICAST:
            built.note(space.node, f"{_ROUTE_KINDS.get(r.kind, f'type {r.kind}')} route {r.to}: not said in the file")
        elif r.multipath:
            built.note(space.node, f"multipath route {r.to}: not said in the file")
        elif r.via is None and r.dev is None:
            built.note(space.node, f"route {r.to} with neither gateway nor device: not said in the file")
        else:
            out.append(_route(r, connected))
    return out


def _node(space: ScanNamespace, built: Built, outside: _Outside, links: list[_Pair],
          seen: set[tuple[str, str]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    host = space.netns == HOST_NETNS
    if host:
        doc["kind"] = "host"
    if space.sysctls.get("net.ipv4.ip_forward"):
        doc["forwarding"] = True
    families = _families(space)
    v6 = space.sysctls.get("net.ipv6.conf.all.forwarding")
    if 6 in families and v6 is not None and bool(v6) != bool(space.sysctls.get("net.ipv4.ip_forward")):
        built.note(space.node, f"IPv6 forwarding is {v6} but IPv4 forwarding {space.sysctls.get('net.ipv4.ip_forward')}: "
                               "the file says both with `forwarding`, written as IPv4's")
    rp = _rp_filter(space, built)
    if rp != "disabled":
        doc["rp_filter"] = rp
    addrs: dict[str, list[str]] = {}
    for itf, a in space.addresses:
        if (itf, a) not in _IMPLIED:
            addrs.setdefault(itf, []).append(a)
    interfaces: dict[str, Any] = {}
    bridges: dict[str, Any] = {}
    by_name = {ln.name: ln for ln in space.links}
    for ln in space.links:
        if ln.name == "lo":
            if addrs.get("lo") or not ln.up:
                interfaces["lo"] = _interface(addrs.get("lo", []), ln)
            continue
        if ln.kind == "bridge":
            bridges[ln.name] = _interface(addrs.get(ln.name, []), ln)
            continue
        if ln.master is not None:
            if ln.master not in by_name or by_name[ln.master].kind != "bridge":
                built.note(space.node, f"{ln.name} is enslaved to {ln.master}, not a bridge: written as a plain interface")
            else:
                if addrs.get(ln.name):
                    built.note(space.node, f"bridge port {ln.name} has addresses {addrs[ln.name]}: not written")
                if ln.port_state in BR_STATES_HELD:  # (disabled, 0: no carrier; the peer's state says it)
                    built.note(space.node, f"bridge port {ln.name} of {ln.master} is {BR_STATES_HELD[ln.port_state]} "
                                           "(STP), not forwarding: the file has every port forward")
                _link(space, ln, f"{ln.master}:{ln.name}", built, outside, links, seen)
                continue
        if ln.kind not in ("veth", ""):
            built.note(space.node, f"{ln.name} is a {ln.kind} interface: written as a veth to '{outside.name}'")
        interfaces[ln.name] = _interface(addrs.get(ln.name, []), ln)
        if host and ln.kind != "veth":
            continue  # an uplink of the machine: exists already
        _link(space, ln, f"{space.node}:{ln.name}", built, outside, links, seen)
    if bridges:
        v4, v6 = (space.sysctls.get(f"net.bridge.bridge-nf-call-{key}") for key in ("iptables", "ip6tables"))
        # written as it is, whatever this kernel's default (absent without br_netfilter: frames never meet netfilter)
        doc["bridge_netfilter"] = bool(v4 if v4 is not None else v6)
        if v4 is not None and v6 is not None and bool(v4) != bool(v6):
            built.note(space.node, f"net.bridge.bridge-nf-call-iptables is {v4} but -ip6tables is {v6}: the file "
                                   f"says one value for both (written: {str(bool(v4)).lower()}, IPv4's)")
    if bridges:
        doc["bridges"] = bridges
    if interfaces:
        doc["interfaces"] = interfaces
    routes = _routes(space, built)
    if routes:
        doc["routes"] = routes
    for text in space.policy_rules:
        built.note(space.node, f"{text}: policy routing is not said in the file")
    for text in space.problems:
        built.note(space.node, text)
    mapped = Mapped()
    if space.nft:
        skip = iptables_nft_tables(space.nft) if space.iptables_nft else frozenset()
        mapped = map_ruleset(space.nft, families, skip)
    if any(text.strip() for text in space.iptables):
        mapped = combine(mapped, map_saves(*space.iptables, families))
    if mapped.nat:
        doc["nat"] = mapped.nat
    if mapped.port_forwards:
        doc["port_forwards"] = mapped.port_forwards
    if mapped.filter:
        doc["filter"] = {h: mapped.filter[h] for h in ("input", "forward", "output") if h in mapped.filter}
    for text in mapped.notes:
        built.note(space.node, text)
    return doc


def _link(space: ScanNamespace, ln: ScanLink, end: str, built: Built, outside: _Outside, links: list[_Pair],
          seen: set[tuple[str, str]]) -> None:
    """Record the link of one end (once per pair: the first end read writes it)."""
    if (space.node, ln.name) in seen:
        return
    seen.add((space.node, ln.name))
    if ln.peer is None:
        if ln.kind == "veth":
            built.note(space.node, f"the peer of {ln.name} lies outside the scanned namespaces: linked to "
                                   f"'{outside.name}'")
        links.append((end, outside.end(space.node, ln.name, ln.mtu)))
        return
    seen.add(ln.peer)
    links.append((end, ln.peer))  # the peer's end is written once every namespace is known


def _name_clashes(nodes: dict[str, Any], built: Built) -> None:
    """The file names bridges lab-wide (a link end BRIDGE:PORT): two namespaces' bridges of one name, or a
    bridge named like a node, cannot both be written. Said, not renamed: rules and routes name them too."""
    owner: dict[str, str] = {}
    for node, doc in nodes.items():
        for br in doc.get("bridges", {}):
            if br in nodes:
                built.note(node, f"bridge {br} has the name of node {br}: the file cannot say both; rename one")
            elif br in owner:
                built.note(node, f"bridge {br} is also a bridge of {owner[br]}: the file names bridges lab-wide; "
                                 "rename one")
            else:
                owner[br] = node


def build_document(scan: Scan, lab: str | None = None) -> Built:
    """The topology document of `scan`, with notes for all it cannot say; `lab`: its name (default: lab_name)."""
    built = Built({})
    names = {s.node for s in scan.namespaces}
    has_host = any(s.netns == HOST_NETNS for s in scan.namespaces)
    name = OUTSIDE
    while name in names:
        name += "-"
    outside = _Outside(name, "namespace" if has_host else "host")
    links: list[_Pair] = []
    seen: set[tuple[str, str]] = set()
    nodes: dict[str, Any] = {}
    for space in scan.namespaces:
        nodes[space.node] = _node(space, built, outside, links, seen)
    ends = {(s.node, ln.name): (f"{ln.master}:{ln.name}" if ln.master and any(
        x.name == ln.master and x.kind == "bridge" for x in s.links) else f"{s.node}:{ln.name}")
        for s in scan.namespaces for ln in s.links}
    bridged = {end for (node, ifname), end in ends.items() if not end.startswith(f"{node}:")}
    fixed = []
    for a, far in links:
        b = far if isinstance(far, str) else ends[far]
        fixed.append([b, a] if a in bridged and b not in bridged else [a, b])  # the namespace's end first
    _name_clashes(nodes, built)
    if outside.interfaces:
        nodes[outside.name] = {"kind": outside.kind, "interfaces": {
            i: ({"mtu": outside.mtus[i]} if i in outside.mtus else None) for i in outside.interfaces}}
        built.note(outside.name, "stands for what lies outside the scanned namespaces (scan made it up)")
    built.document = {"lab": lab or lab_name(scan), "nodes": nodes, "links": fixed}
    return built
