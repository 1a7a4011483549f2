"""The live state of a lab's namespaces, read with netlink dumps and /proc/sys, as plain comparable data.

`Live` holds names and strings only (no interface indexes), so `converge.diff` can compare it
with the plan and unit tests can build one by hand.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR

from topograph.live.kernel import Namespaces, list_netns, netns_mounted
from topograph.live.netlink import (
    RT_SCOPE_LINK,
    RTPROT_KERNEL,
    Socket,
    Sockets,
    parse_attrs,
    text,
)
from topograph.plan import (
    AddRoute,
    DeleteIptables,
    DeleteNftables,
    LoadIptables,
    LoadNftables,
    Operation,
    Plan,
    SetSysctls,
    namespaces,
)
from topograph.plan.firewall import rule_removal


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    kind: str
    up: bool = False
    mtu: int = 1500
    mac: str = ""
    master: str | None = None
    alias: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    """A route of the main table, as the plan states routes: destination, gateway, device, metric."""

    to: str  # "0.0.0.0/0", "10.0.0.0/24", "::/0"
    via: str | None
    dev: str | None
    metric: int

    def satisfies(self, want: Route) -> bool:
        """This live route is the planned `want` (a plan route without a device takes any device)."""
        return (self.to == want.to and self.via == want.via and self.metric == want.metric
                and (want.dev is None or self.dev == want.dev))


#: The chains the kernel calls (iptables' built-in chains); rules anywhere else act only when one jumps there.
BUILT_IN_CHAINS = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})


@dataclass(frozen=True, slots=True)
class ForeignRule:
    """A rule in a built-in iptables chain that the lab did not make, or a built-in chain's policy other than
    ACCEPT: `line` is `-A CHAIN ...` or `:CHAIN POLICY` as iptables-save prints it (family 4 or 6)."""

    family: int
    table: str
    line: str

    def describe(self) -> str:
        tool = "iptables" if self.family == 4 else "ip6tables"
        if self.line.startswith(":"):
            chain, policy = self.line[1:].split()[:2]
            return f"{tool} -t {self.table}: policy {policy} of {chain} (not the lab's; it leaves them at ACCEPT)"
        return f"{tool} -t {self.table}: rule {self.line} (not the lab's)"

    def undo(self) -> str:
        """The `iptables-restore --noflush` transaction that takes it away."""
        return rule_removal(self.table, self.line)


@dataclass
class NsState:
    links: dict[str, Link] = field(default_factory=dict)
    addresses: set[tuple[str, str]] = field(default_factory=set)  # (ifname, "10.0.0.1/24")
    routes: set[Route] = field(default_factory=set)  # not the kernel's own (proto kernel) routes
    sysctls: dict[str, int | None] = field(default_factory=dict)  # key -> value, None when absent
    nft: dict[str, str | None] = field(default_factory=dict)  # table -> `nft list table` text, None if absent
    iptables: dict[str, str | None] = field(default_factory=dict)  # pre chain -> iptables_listing(), None if absent
    # the lab's own namespaces only (see read_namespace's `own`):
    foreign_rules: list[ForeignRule] = field(default_factory=list)
    link_rp_filter: dict[str, int | None] = field(default_factory=dict)  # ifname -> net.ipv4.conf.IFNAME.rp_filter


@dataclass
class Live:
    namespaces: dict[str | None, NsState] = field(default_factory=dict)  # None: the root namespace
    existing: set[str] = field(default_factory=set)  # every namespace name on the machine
    stale: set[str] = field(default_factory=set)  # of the lab's names: bare files in /run/netns, no namespace


def route_key(op: AddRoute) -> Route:
    """How the kernel shows the plan's route (IPv6 routes default to metric 1024)."""
    metric = op.metric if op.metric is not None else (0 if op.family == 4 else 1024)
    return Route(str(op.to), str(op.via) if op.via is not None else None, op.dev, metric)


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


def nft_listing(table: str) -> str | None:
    """`nft list table inet TABLE` in the calling thread's namespace, or None when there is no such table."""
    try:
        done = subprocess.run(["nft", "list", "table", "inet", table], capture_output=True, text=True,
                              check=False, timeout=30)
    except FileNotFoundError:
        return None
    return done.stdout if done.returncode == 0 else None


def iptables_save(family: int, table: str | None = "nat") -> str:
    """A table (None: every table) as `iptables-save` (ip6tables-save for 6) prints it in the calling thread's
    namespace; "" if none."""
    tool = "iptables-save" if family == 4 else "ip6tables-save"
    try:
        done = subprocess.run([tool, *(["-t", table] if table else [])], capture_output=True, text=True,
                              check=False, timeout=30)
    except FileNotFoundError:
        return ""
    return done.stdout if done.returncode == 0 else ""


def lab_lines(text: str, chains: tuple[str, ...]) -> list[str] | None:
    """The lab's share of a nat table in iptables-save or -restore form; None when none of `chains` exists.

    That is ':CHAIN' for each of the lab's chains that exists (counters dropped), then every rule of
    another chain that jumps to one of them (the hooks), then the lab chains' own rules — each group
    in listing order, which within a chain is rule order.
    """
    declared: list[str] = []
    hooks: list[str] = []
    rules: list[str] = []
    for line in text.splitlines():
        if line.startswith(":"):
            name = line[1:].split(" ", 1)[0]
            if name in chains:
                declared.append(":" + name)
        elif line.startswith("-A "):
            words = line.split()
            if words[1] in chains:
                rules.append(line)
            elif any(w in ("-j", "-g") and target in chains for w, target in itertools.pairwise(words)):
                hooks.append(line)
    return [*declared, *hooks, *rules] if declared else None


def iptables_listing(op: LoadIptables) -> str | None:
    """What status compares for `op`: its lines in every family it loads; None when a family lacks its chains."""
    parts: list[str] = []
    for family in op.families:
        lines = lab_lines(iptables_save(family), (op.pre_chain, op.post_chain))
        if lines is None:
            return None
        parts += [f"# ipv{family}", *lines]
    return "\n".join(parts) + "\n"


NFNL_SUBSYS_NFTABLES, NFT_MSG_GETTABLE, NFTA_TABLE_NAME, NETLINK_NETFILTER = 10, 1, 1, 12
NFPROTO_IPV4, NFPROTO_IPV6 = 2, 10
IPTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})


@functools.cache
def _legacy_iptables() -> bool:
    """Is this machine's iptables-save the legacy (x_tables) one? Only its tables are listed in /proc."""
    tool = shutil.which("iptables-save")
    return tool is not None and "legacy" in os.path.realpath(tool)


def iptables_families_here() -> list[int]:
    """The IP families (4, 6) that have iptables tables in the calling thread's namespace, without running a
    tool: nf_tables tables of the ip/ip6 family with iptables' names (one netlink dump), and the legacy
    x_tables list. Most namespaces of a lab have none, and then status spawns no process there."""
    found: set[int] = set()
    if _legacy_iptables():
        for family, names in ((4, "ip_tables_names"), (6, "ip6_tables_names")):
            try:
                fd = os.open(f"/proc/thread-self/net/{names}", os.O_RDONLY)
            except OSError:
                continue
            try:
                if os.read(fd, 4096).strip():
                    found.add(family)
            finally:
                os.close(fd)
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_NETFILTER)
    except OSError:
        return sorted(found)
    with sock:
        sock.bind((0, 0))
        sock.send(struct.pack("=IHHIIBBH", 20, NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE,
                              NLM_F_REQUEST | NLM_F_DUMP, 1, 0, socket.AF_UNSPEC, 0, 0))
        done = False
        while not done:
            reply = sock.recv(1 << 16)
            offset = 0
            while offset + 16 <= len(reply):
                size, kind = struct.unpack_from("=IH", reply, offset)
                if kind in (NLMSG_DONE, NLMSG_ERROR) or size < 20:
                    done = True
                    break
                nfproto = reply[offset + 16]
                name = text(parse_attrs(reply[offset + 20:offset + size]).get(NFTA_TABLE_NAME, b""))
                if name in IPTABLES_TABLES and nfproto in (NFPROTO_IPV4, NFPROTO_IPV6):
                    found.add(4 if nfproto == NFPROTO_IPV4 else 6)
                offset += (size + 3) & ~3
    return sorted(found)


def foreign_rules(family: int, saved: str, ours: tuple[str, ...]) -> list[ForeignRule]:
    """From `iptables-save` output: the rules of built-in chains that jump to none of `ours` (the lab's own
    chains), and the built-in chains' policies other than ACCEPT."""
    found: list[ForeignRule] = []
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":"):
            chain, policy = [*line[1:].split(), "-"][:2]
            if chain in BUILT_IN_CHAINS and policy not in ("ACCEPT", "-"):
                found.append(ForeignRule(family, table, f":{chain} {policy}"))
        elif line.startswith("-A "):
            words = line.split()
            if words[1] in BUILT_IN_CHAINS and not any(
                    w in ("-j", "-g") and target in ours for w, target in itertools.pairwise(words)):
                found.append(ForeignRule(family, table, line))
    return found


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
    sysctl_ops = [op for op in mine if isinstance(op, SetSysctls) and op.netns == netns]
    tables = [op.table for op in mine if isinstance(op, LoadNftables | DeleteNftables) and op.netns == netns]
    chains = [op for op in mine if isinstance(op, LoadIptables) and op.netns == netns]
    left = [op for op in mine if isinstance(op, DeleteIptables) and op.netns == netns]
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
            ours = tuple(c for op in lab_chains for c in (op.pre_chain, op.post_chain))
            for family in iptables_families_here():
                state.foreign_rules += foreign_rules(family, iptables_save(family, table=None), ours)
        for gone in left:  # there when any family has them
            found = [lab_lines(iptables_save(f), (gone.pre_chain, gone.post_chain)) for f in gone.families]
            state.iptables[gone.pre_chain] = "".join("\n".join(x) for x in found if x is not None) or None
    links = sock.links()
    names = {ln.index: ln.name for ln in links}
    if own:
        state.link_rp_filter = {names[i]: v for i, v in link_rp_filters(sock).items() if i in names}
    for ln in links:
        state.links[ln.name] = Link(ln.name, ln.kind, ln.up, ln.mtu, ln.mac, names.get(ln.master), ln.alias)
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
        state.routes.add(Route(net, _ip(r.family, r.gateway) if r.gateway else None, names.get(r.oif), r.metric))
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

    `also`: operations besides the plan's whose objects to read (converge.leftover_rules: the lab's
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
