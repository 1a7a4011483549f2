"""Reading namespaces that exist: netlink dumps, /proc/sys, `nft -j list ruleset` and iptables-save, in each namespace once.

Nothing here writes: every netlink message sent is a dump or a get, the tools run are listing ones.
Veth pairs are matched across the scanned namespaces by scan/peers.py.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass, replace
from typing import Any

from topograph.live.firewall import nft_tables_here
from topograph.live.kernel import KernelError, Namespaces
from topograph.live.netlink import (
    IFINFOMSG_SIZE,
    IFLA_LINKINFO,
    RTM_GETLINK,
    RTM_GETROUTE,
    RTM_GETRULE,
    RTMSG_SIZE,
    link_dump,
    parse_attrs,
    parse_link,
    parse_route,
    parsed,
    route_dump,
    text,
    u32,
)
from topograph.live.nlsocket import Socket
from topograph.live.observe import link_rp_filters, read_sysctl
from topograph.scan.data import Scan, ScanLink, ScanNamespace, ScanRoute
from topograph.scan.nftmap import iptables_nft_tables
from topograph.scan.peers import Nsids, Veth, match

IFLA_LINK, IFLA_LINK_NETNSID = 5, 37
IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA, IFLA_BRPORT_STATE = 4, 5, 1
RTA_TABLE, RTA_MULTIPATH = 15, 9
FRA_DST, FRA_SRC, FRA_PRIORITY, FRA_TABLE = 1, 2, 6, 15
FRA_SUPPRESS_PREFIXLEN, FRA_PROTOCOL = 14, 21  # say nothing about which packets the rule takes
_RULE = struct.Struct("=BBBBBBBBI")  # struct fib_rule_hdr
#: the kernel's own routing policy rules: (family, priority, table)
DEFAULT_RULES = frozenset({(socket.AF_INET, 0, 255), (socket.AF_INET, 32766, 254), (socket.AF_INET, 32767, 253),
                           (socket.AF_INET6, 0, 255), (socket.AF_INET6, 32766, 254)})

#: sysctls that change reachability, read in every namespace (the key as `sysctl` writes it)
SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.conf.all.rp_filter",
           "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
           "net.bridge.bridge-nf-call-arptables")


@dataclass(frozen=True, slots=True)
class Target:
    """A namespace to scan: the node it becomes and how to enter it (`key` names it to Namespaces)."""

    node: str
    key: str | None  # None: the namespace scan runs in (the machine's own with --with-host)
    shown: str  # how messages name it


def _links(sock: Socket) -> tuple[list[tuple[ScanLink, int, int | None]], str]:
    """Every interface with its peer index (0: none) and link namespace id; and the loopback's alias."""
    out: list[tuple[ScanLink, int, int | None]] = []
    payloads = sock.dump(RTM_GETLINK, link_dump())
    infos = parsed(parse_link, payloads, sock.where, "a link")
    names = {i.index: i.name for i in infos}
    for payload, info in zip(payloads, infos, strict=True):
        a = parse_attrs(payload, IFINFOMSG_SIZE)
        state: int | None = None
        if IFLA_LINKINFO in a:
            li = parse_attrs(a[IFLA_LINKINFO])
            if text(li.get(IFLA_INFO_SLAVE_KIND, b"")) == "bridge" and IFLA_INFO_SLAVE_DATA in li:
                raw = parse_attrs(li[IFLA_INFO_SLAVE_DATA]).get(IFLA_BRPORT_STATE)
                state = raw[0] if raw else None
        link = u32(a[IFLA_LINK]) if IFLA_LINK in a else 0
        nsid = struct.unpack("=i", a[IFLA_LINK_NETNSID][:4])[0] if IFLA_LINK_NETNSID in a else None
        out.append((ScanLink(index=info.index, name=info.name, kind=info.kind, up=info.up, mtu=info.mtu,
                             master=names.get(info.master) if info.master else None, port_state=state),
                    link, nsid))
    return out, next((i.alias for i in infos if i.name == "lo"), "")


def _routes(sock: Socket, names: dict[int, str]) -> list[ScanRoute]:
    out: list[ScanRoute] = []
    for payload in sock.dump(RTM_GETROUTE, route_dump()):
        r = parse_route(payload)
        a = parse_attrs(payload, RTMSG_SIZE)
        table = u32(a[RTA_TABLE]) if RTA_TABLE in a else payload[4]
        if table == 255:
            continue  # the local table: the kernel's own routes to the namespace's addresses
        zero = "0.0.0.0" if r.family == socket.AF_INET else "::"
        dst = str(ipaddress.ip_address(r.dst)) if r.dst else zero
        net = str(ipaddress.ip_network(f"{dst}/{r.dst_len}", strict=False))
        via = str(ipaddress.ip_address(r.gateway)) if r.gateway else None
        out.append(ScanRoute(to=net, via=via, dev=names.get(r.oif), metric=r.metric, onlink=r.onlink, table=table,
                             kind=payload[7], protocol=r.protocol, multipath=RTA_MULTIPATH in a))
    return out


def _policy_rules(sock: Socket) -> list[str]:
    """Routing policy rules beyond the kernel's own three (two for IPv6), each described: one dump of all
    families."""
    out: list[str] = []
    for payload in sock.dump(RTM_GETRULE, bytes(_RULE.size)):
        f, dst_len, src_len, _, table, _, _, action, _ = _RULE.unpack_from(payload)
        if f not in (socket.AF_INET, socket.AF_INET6):
            continue  # rules of other families (MPLS, ...) do not route IP
        a = parse_attrs(payload, _RULE.size)
        prio = u32(a[FRA_PRIORITY]) if FRA_PRIORITY in a else 0
        table = u32(a[FRA_TABLE]) if FRA_TABLE in a else table
        if (f, prio, table) in DEFAULT_RULES and not dst_len and not src_len and action == 1:
            continue
        words = [f"ip -{4 if f == socket.AF_INET else 6} rule: priority {prio}"]
        for word, kind, length in (("from", FRA_SRC, src_len), ("to", FRA_DST, dst_len)):
            if kind in a:
                words.append(f"{word} {ipaddress.ip_network((a[kind], length), strict=False)}")
        if set(a) - {FRA_SRC, FRA_DST, FRA_PRIORITY, FRA_TABLE, FRA_PROTOCOL, FRA_SUPPRESS_PREFIXLEN}:
            words.append("(and other selectors)")
        words.append(f"lookup {table}" if action == 1 else f"action {action}")
        out.append(" ".join(words))
    return out


def _nft() -> tuple[tuple[dict[str, Any], ...] | None, str | None]:
    """`nft -j list ruleset` here, when the namespace has a table (a netlink dump says, without a process)."""
    if not nft_tables_here():
        return (), None
    try:
        done = subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True, check=False,
                              timeout=30)
    except FileNotFoundError:
        return None, "nft is not installed: the nftables rules were not read"
    if done.returncode != 0:
        return None, f"nft -j list ruleset failed: {done.stderr.strip()}"
    try:
        objects = json.loads(done.stdout).get("nftables", [])
    except (ValueError, AttributeError):
        return None, "nft -j list ruleset printed no JSON"
    return tuple(o for o in objects if isinstance(o, dict)), None


def _legacy_tables() -> bool:
    """Does this namespace have legacy (x_tables) iptables tables? /proc says, without a process."""
    for name in ("ip_tables_names", "ip6_tables_names"):
        try:
            with open(f"/proc/thread-self/net/{name}") as f:
                if f.read().strip():
                    return True
        except OSError:
            continue
    return False


def _save(tools: tuple[str, ...], nf_tables: bool) -> tuple[tuple[str, str], str | None]:
    """Both families' save output by the first of `tools` found (ip6tables-* for IPv6); a problem when none is,
    or when the one found is of the other kind (`nf_tables`: iptables-nft's, else legacy) as its header says."""
    out: list[str] = []
    for family in (4, 6):
        names = [t.replace("iptables", "ip6tables") if family == 6 else t for t in tools]
        tool = next((t for t in names if shutil.which(t)), None)
        if tool is None:
            return ("", ""), f"{' or '.join(names)} is not installed: the iptables rules were not read"
        done = subprocess.run([tool], capture_output=True, text=True, check=False, timeout=30)
        if done.returncode != 0:
            return ("", ""), f"{tool} failed: {done.stderr.strip()}"
        if done.stdout.strip() and ("(nf_tables)" in done.stdout.split("\n", 1)[0]) != nf_tables:
            return ("", ""), f"{tool} is not {'iptables-nft' if nf_tables else 'legacy iptables'}: its rules were not read"
        out.append(done.stdout)
    return (out[0], out[1]), None


def _iptables(nft: tuple[dict[str, Any], ...] | None) -> tuple[tuple[str, str], bool, str | None]:
    """iptables-save and ip6tables-save output, and whether it is iptables-nft's: read from iptables-nft where
    it made nft tables (nft's JSON shows their rules as `xt` expressions it does not spell out), else from
    legacy iptables where its tables exist."""
    legacy = _legacy_tables()
    if nft and iptables_nft_tables(nft):
        saved, problem = _save(("iptables-nft-save", "iptables-save"), nf_tables=True)
        if problem is None and legacy:
            problem = "legacy iptables tables besides iptables-nft's: not read into the file"
        return saved, saved != ("", ""), problem
    if legacy:
        saved, problem = _save(("iptables-legacy-save", "iptables-save"), nf_tables=False)
        return saved, False, problem
    return ("", ""), False, None


def _sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def read_one(target: Target, ns: Namespaces) -> tuple[ScanNamespace, list[tuple[ScanLink, int, int | None]]]:
    """Everything of one namespace, read in one visit."""
    problems: list[str] = []
    with ns.inside(target.key):
        sock = Socket(target.shown)
        try:
            sysctls = {k: read_sysctl(_sysctl_path(k)) for k in SYSCTLS}
            nft, problem = _nft()
            if problem:
                problems.append(problem)
            iptables, iptables_nft, problem = _iptables(nft)
            if problem:
                problems.append(problem)
        except BaseException:
            sock.close()
            raise
    try:
        links, mark = _links(sock)
        names = {ln.index: ln.name for ln, _, _ in links}
        rp = {names[i]: v for i, v in link_rp_filters(sock).items() if i in names}
        addresses = []
        for a in sock.addresses():
            ip = ipaddress.ip_address(a.address) if a.address else None
            if ip is None or (ip.version == 6 and ip.is_link_local):
                continue  # the kernel's own fe80:: addresses
            addresses.append((names.get(a.index, f"#{a.index}"), f"{ip}/{a.prefixlen}"))
        routes = _routes(sock, names)
        rules = _policy_rules(sock)
    finally:
        sock.close()
    return ScanNamespace(node=target.node, netns=target.shown, links=tuple(ln for ln, _, _ in links),
                         addresses=tuple(addresses), routes=tuple(routes), policy_rules=tuple(rules),
                         sysctls=sysctls, rp_filter=rp, nft=nft, iptables=iptables, iptables_nft=iptables_nft, mark=mark,
                         problems=tuple(problems)), links


def scan(targets: list[Target], ns: Namespaces, lab: str = "scan") -> Scan:
    """Read every target and match the veth pairs among them."""
    read = [read_one(t, ns) for t in targets]
    spaces = [s for s, _ in read]
    ends = [Veth(pos, ln.index, link, nsid) for pos, (_, raw_links) in enumerate(read)
            for ln, link, nsid in raw_links if ln.kind == "veth"]
    with Nsids(ns, [t.key for t in targets]) as nsids:
        peer_of = match(ends, nsids)
    names = {(pos, ln.index): (space.node, ln.name) for pos, space in enumerate(spaces) for ln in space.links}
    out: list[ScanNamespace] = []
    for pos, space in enumerate(spaces):
        found: list[ScanLink] = []
        for ln in space.links:
            if ln.kind != "veth":
                found.append(ln)
                continue
            peer = peer_of.get((pos, ln.index))
            found.append(replace(ln, peer_outside=True) if peer is None else replace(ln, peer=names[peer]))
        out.append(replace(space, links=tuple(found)))
    return Scan(tuple(out), lab)


def enter_pid(ns: Namespaces, pid: int) -> str:
    """Make process `pid`'s network namespace enterable as "pid:PID"; KernelError when there is none."""
    key = f"pid:{pid}"
    try:
        ns.fds[key] = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KernelError(errno.ESRCH, f"no process {pid}") from None
    return key


__all__ = ["Target", "enter_pid", "scan"]
