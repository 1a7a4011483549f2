"""The firewall tools in the calling thread's namespace: reading (nft list, iptables-save, which iptables
tables exist, rules the lab did not make) and loading (nft -f, iptables-restore). The one module that
runs them; the rule texts themselves come from plan/firewall.py."""

from __future__ import annotations

import errno
import functools
import itertools
import os
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass
from typing import Protocol

from topograph.live.kernel import KernelError
from topograph.live.netlink import NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, parse_attrs, text
from topograph.live.nlsocket import TIMEOUT
from topograph.plan import LoadIptables

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
    """The lab's share of iptables-save or -restore text (any tables); None when none of `chains` exists.

    Per table, that is ':CHAIN' for each of the lab's chains that exists (counters dropped), then every
    rule of another chain that jumps to one of them (the hooks), then the lab chains' own rules — each
    group in listing order, which within a chain is rule order. The nat table's share comes first and
    unmarked (text without a `*TABLE` line is the nat table's); another table's follows its `*TABLE` line.
    """
    shares: dict[str, tuple[list[str], list[str], list[str]]] = {}
    table = "nat"
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        declared, hooks, rules = shares.setdefault(table, ([], [], []))
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
    out: list[str] = []
    for name in sorted(shares, key=lambda t: (t != "nat", t)):
        declared, hooks, rules = shares[name]
        if declared:
            out += [*([] if name == "nat" else [f"*{name}"]), *declared, *hooks, *rules]
    return out or None


def iptables_listing(op: LoadIptables) -> str | None:
    """What status compares for `op`: its lines in every family it loads; None when a family lacks its chains."""
    parts: list[str] = []
    for family in op.families:
        lines = lab_lines(iptables_save(family, table=None), op.chains)
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
    for nfproto, name in nft_tables_here():
        if name in IPTABLES_TABLES and nfproto in (NFPROTO_IPV4, NFPROTO_IPV6):
            found.add(4 if nfproto == NFPROTO_IPV4 else 6)
    return sorted(found)


def nft_tables_here() -> list[tuple[int, str]]:
    """(nfproto, name) of every nf_tables table in the calling thread's namespace, from one netlink dump
    without running a tool; [] when nf_tables cannot be asked."""
    found: list[tuple[int, str]] = []
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_NETFILTER)
    except OSError:
        return found
    with sock:
        sock.settimeout(TIMEOUT)  # a dump that never ends must not hang status (recv raises TimeoutError, an OSError)
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
                name = text(parse_attrs(reply[offset + 20:offset + size]).get(NFTA_TABLE_NAME, b""))
                found.append((reply[offset + 16], name))
                offset += (size + 3) & ~3
    return found


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


class Tools(Protocol):
    """The firewall tools and /proc/sys, in the calling thread's namespace: what the runner does not do
    over netlink. A seam: unit tests of destroy give the runner a fake, so that no test changes the
    root namespace."""

    def nft_listing(self, table: str) -> str | None:
        """`nft list table inet TABLE`, or None when there is no such table."""

    def nft_load(self, text: str) -> None:
        """One `nft -f` transaction."""

    def iptables_save(self, family: int) -> str:
        """Every table in iptables-save form ("" when the tool is absent)."""

    def iptables_restore(self, family: int, text: str) -> None:
        """Load `text` with `iptables-restore --noflush` (ip6tables-restore for 6)."""

    def write_sysctl(self, proc_path: str, value: str) -> bool:
        """Set one value; False when this kernel has no such key (any more)."""


class System:
    """The real tools (Tools)."""

    def nft_listing(self, table: str) -> str | None:
        """`nft list table inet TABLE`, or None when there is no such table."""
        return nft_listing(table)

    def nft_load(self, text: str) -> None:
        """One `nft -f` transaction."""
        run_tool(["nft", "-f", "-"], text)

    def iptables_save(self, family: int) -> str:
        """Every table in iptables-save form ("" when the tool is absent)."""
        return iptables_save(family, table=None)

    def iptables_restore(self, family: int, text: str) -> None:
        """Load `text` with `iptables-restore --noflush` (ip6tables-restore for 6)."""
        run_tool([restore_tool(family), "--noflush"], text)

    def write_sysctl(self, proc_path: str, value: str) -> bool:
        """Set one value; False when this kernel has no such key (any more)."""
        try:
            with open(proc_path, "w") as out:
                out.write(value)
        except OSError:
            return False
        return True


def restore_tool(family: int) -> str:
    return "iptables-restore" if family == 4 else "ip6tables-restore"


def run_tool(argv: list[str], text: str) -> None:
    """Run a firewall tool in the calling thread's namespace (a child starts where its thread is)."""
    try:
        done = subprocess.run(argv, input=text, capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        raise KernelError(errno.ENOENT, f"{argv[0]} is not installed") from None
    if done.returncode != 0:
        raise KernelError(errno.EINVAL, f"{' '.join(argv)}: {done.stderr.strip() or 'failed'}")
