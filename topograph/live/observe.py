"""The live state of a lab's namespaces, read with netlink dumps and /proc/sys, as plain comparable data.

`Live` holds names and strings only (no interface indexes), so `converge.diff` can compare it
with the plan and unit tests can build one by hand.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import assert_never

from topograph.front.netem import Netem
from topograph.live import qdisc
from topograph.live.firewall import (
    ForeignRule,
    foreign_rules,
    iptables_families_here,
    iptables_listing,
    iptables_save,
    lab_lines,
    nft_listing,
)
from topograph.live.kernel import Namespaces, list_netns, netns_mounted
from topograph.live.netlink import (
    RT_SCOPE_LINK,
    RTPROT_KERNEL,
    parse_attrs,
)
from topograph.live.nlsocket import Socket, Sockets
from topograph.live.services import Observed
from topograph.plan import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    DeleteAddress,
    DeleteIptables,
    DeleteIptablesRule,
    DeleteLink,
    DeleteNetem,
    DeleteNetns,
    DeleteNftables,
    DeleteRoute,
    EnslavePort,
    LinkDown,
    LinkUp,
    LoadIptables,
    LoadNftables,
    LoopbackUp,
    MarkLink,
    MarkNetns,
    Operation,
    Plan,
    ReleasePort,
    RestoreIptables,
    RestoreNftables,
    RestoreSysctls,
    SetMac,
    SetMtu,
    SetNetem,
    SetSysctls,
    StartService,
    StopService,
    namespaces,
)


@dataclass(frozen=True, slots=True)
class LiveLink:
    name: str
    kind: str
    up: bool = False
    mtu: int = 1500
    mac: str = ""
    master: str | None = None
    alias: str = ""


@dataclass(frozen=True, slots=True)
class LiveRoute:
    """A route of the main table, as the plan states routes: destination, gateway, device, metric."""

    to: str  # "0.0.0.0/0", "10.0.0.0/24", "::/0"
    via: str | None
    dev: str | None
    metric: int
    onlink: bool = False

    def satisfies(self, want: LiveRoute) -> bool:
        """This live route is the planned `want` (a plan route without a device takes any device)."""
        return (self.to == want.to and self.via == want.via and self.metric == want.metric
                and self.onlink == want.onlink and (want.dev is None or self.dev == want.dev))


@dataclass
class NsState:
    links: dict[str, LiveLink] = field(default_factory=dict)
    addresses: set[tuple[str, str]] = field(default_factory=set)  # (ifname, "10.0.0.1/24")
    routes: set[LiveRoute] = field(default_factory=set)  # not the kernel's own (proto kernel) routes
    sysctls: dict[str, int | None] = field(default_factory=dict)  # key -> value, None when absent
    nft: dict[str, str | None] = field(default_factory=dict)  # table -> `nft list table` text, None if absent
    iptables: dict[str, str | None] = field(default_factory=dict)  # pre chain -> iptables_listing(), None if absent
    # the lab's own namespaces only (see read_namespace's `own`):
    foreign_rules: list[ForeignRule] = field(default_factory=list)
    link_rp_filter: dict[str, int | None] = field(default_factory=dict)  # ifname -> net.ipv4.conf.IFNAME.rp_filter
    # ifname -> its root qdisc's kind and, for netem, what it sets (the lab's namespaces, and where the plan sets netem)
    qdiscs: dict[str, tuple[str, Netem | None]] = field(default_factory=dict)


@dataclass
class Live:
    namespaces: dict[str | None, NsState] = field(default_factory=dict)  # None: the root namespace
    existing: set[str] = field(default_factory=set)  # every namespace name on the machine
    stale: set[str] = field(default_factory=set)  # of the lab's names: bare files in /run/netns, no namespace
    services: dict[str, Observed] = field(default_factory=dict)  # NODE/NAME -> how it is (live/services.py)


def route_key(op: AddRoute) -> LiveRoute:
    """How the kernel shows the plan's route (IPv6 routes default to metric 1024)."""
    metric = op.metric if op.metric is not None else (0 if op.family == 4 else 1024)
    return LiveRoute(str(op.to), str(op.via) if op.via is not None else None, op.dev, metric, op.onlink)


def _ip(family: int, raw: bytes) -> str:
    return str(ipaddress.ip_address(raw)) if family in (socket.AF_INET, socket.AF_INET6) and raw else ""


def read_sysctl(key_path: str) -> int | None:
    try:
        fd = os.open(key_path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return int(os.read(fd, 64).split()[0])
    except (ValueError, IndexError):
        return None
    finally:
        os.close(fd)


RTM_GETNETCONF, NETCONFA_IFINDEX, NETCONFA_RP_FILTER = 82, 1, 3


def link_rp_filters(sock: Socket) -> dict[int, int]:
    """Interface index -> its net.ipv4.conf.IFNAME.rp_filter, for every interface of the socket's namespace:
    one netconf dump (reading /proc/sys for each port of a bridge of a thousand took longer)."""
    found: dict[int, int] = {}
    for payload in sock.dump(RTM_GETNETCONF, bytes((socket.AF_INET, 0, 0, 0))):
        attrs = parse_attrs(payload, 4)  # after struct netconfmsg, aligned
        index, value = attrs.get(NETCONFA_IFINDEX), attrs.get(NETCONFA_RP_FILTER)
        if index is not None and value is not None:
            found[struct.unpack("=i", index)[0]] = struct.unpack("=i", value)[0]
    return found


def read_namespace(netns: str | None, mine: list[Operation], ns: Namespaces, socks: Sockets, *,
                   own: bool = False) -> NsState:
    """What `netns` holds: links, addresses, routes, and the sysctls, nft tables and iptables chains that
    `mine` (the plan's operations there, from ops_by_netns) set. In a namespace of the lab's `own` (never
    the root one), also what else changes its traffic: rules in built-in iptables chains that the lab did
    not make, and every interface's rp_filter."""
    state = NsState()
    sysctl_ops: list[SetSysctls] = []
    tables: list[str] = []
    chains: list[LoadIptables] = []
    left: list[DeleteIptables] = []
    impaired = own
    for op in mine:
        match op:
            case SetNetem() | DeleteNetem():
                impaired = True
            case SetSysctls():
                if op.netns == netns:
                    sysctl_ops.append(op)
            case LoadNftables() | DeleteNftables():
                if op.netns == netns:
                    tables.append(op.table)
            case LoadIptables():
                if op.netns == netns:
                    chains.append(op)
            case DeleteIptables():
                if op.netns == netns:
                    left.append(op)
            case (CreateNetns() | MarkNetns() | MarkLink() | LoopbackUp() | CreateBridge() | CreateVeth()
                  | CreateStandIn() | SetMac() | SetMtu() | EnslavePort() | AddAddress() | LinkUp() | AddRoute()
                  | LinkDown() | ReleasePort() | DeleteAddress() | DeleteRoute() | RestoreNftables()
                  | RestoreIptables() | DeleteIptablesRule() | DeleteLink() | DeleteNetns() | RestoreSysctls()
                  | StartService() | StopService()):
                pass  # what they make is in the links, addresses and routes, dumped whole
            case _:
                assert_never(op)
    # one visit: what only works from inside (sysctls, nft, opening the socket), then dumps from anywhere
    with ns.inside(netns):
        sock = socks.by_ns.get(netns) or socks.open_here(netns)
        for op in sysctl_ops:
            for s in op.values:
                state.sysctls[s.key] = read_sysctl(s.proc_path)
        for table in tables:
            state.nft[table] = nft_listing(table)
        for load in chains:
            state.iptables[load.pre_chain] = iptables_listing(load)
        if own:
            # the lab's chains, also those it is about to delete: their hooks are not someone else's rules
            lab_chains: list[LoadIptables | DeleteIptables] = [*chains, *left]
            ours = tuple(c for op in lab_chains for c in op.chains)
            for family in iptables_families_here():
                state.foreign_rules += foreign_rules(family, iptables_save(family, table=None), ours)
        for gone in left:  # there when any family has them
            found = [lab_lines(iptables_save(f, table=None), gone.chains) for f in gone.families]
            state.iptables[gone.pre_chain] = "".join("\n".join(x) for x in found if x is not None) or None
    links = sock.links()
    names = {ln.index: ln.name for ln in links}
    if own:
        state.link_rp_filter = {names[i]: v for i, v in link_rp_filters(sock).items() if i in names}
    if impaired:
        state.qdiscs = {names[i]: q for i, q in qdisc.root_qdiscs(sock).items() if i in names}
    for ln in links:
        state.links[ln.name] = LiveLink(ln.name, ln.kind, ln.up, ln.mtu, ln.mac, names.get(ln.master), ln.alias)
    for a in sock.addresses():
        if a.scope == RT_SCOPE_LINK and a.family == socket.AF_INET6:
            continue  # the kernel's own fe80:: address
        state.addresses.add((names.get(a.index, f"#{a.index}"), f"{_ip(a.family, a.address)}/{a.prefixlen}"))
    for r in sock.routes():
        if r.protocol == RTPROT_KERNEL:
            continue
        zero = "0.0.0.0" if r.family == socket.AF_INET else "::"
        dst = _ip(r.family, r.dst) if r.dst else zero
        net = str(ipaddress.ip_network(f"{dst}/{r.dst_len}", strict=False))
        state.routes.add(LiveRoute(net, _ip(r.family, r.gateway) if r.gateway else None, names.get(r.oif), r.metric,
                                    r.onlink))
    return state


def ops_by_netns(plan: Plan) -> dict[str | None, list[Operation]]:
    """The plan's operations grouped by the namespace they act in (a veth under both of its ends)."""
    out: dict[str | None, list[Operation]] = {}
    for op in plan.operations:
        for netns in dict.fromkeys(namespaces(op)):  # a veth with both ends in one namespace counts once
            out.setdefault(netns, []).append(op)
    return out


def observe(plan: Plan, owned: list[str], ns: Namespaces, socks: Sockets,
            also: Iterable[DeleteNftables | DeleteIptables] = ()) -> Live:
    """The live state of every namespace of the plan and every owned one (those that exist).

    `also`: operations besides the plan's whose objects to read (ownership.leftover_rules: the lab's
    NAT tables and chains where the file has none any more)."""
    live = Live(existing=list_netns())
    wanted: dict[str | None, None] = {}  # ordered, no repeats
    for ns_name in (*plan.namespaces, *owned):
        if ns_name in live.existing:
            if netns_mounted(ns_name):
                wanted[ns_name] = None
            else:  # nothing to enter (setns would fail with EINVAL): converge.diff says what it is
                live.stale.add(ns_name)
    if plan.requires or any(None in namespaces(op) for op in plan.operations):
        wanted[None] = None  # real mode: the host's share of the lab lives in the root namespace
    by_ns = ops_by_netns(plan)
    own = set(plan.namespaces)
    for op in also:
        by_ns.setdefault(op.netns, []).append(op)
    for name in wanted:
        live.namespaces[name] = read_namespace(name, by_ns.get(name, []), ns, socks, own=name in own)
    return live
