"""The plan's operations: plain, frozen, typed data that every back end (shell script, pyroute2) executes.

Conventions shared by all operations:

- `node` is the topology's node name (for messages and comments); `netns` is the kernel namespace
  the operation acts in, as given by `topograph.naming` — None means the root namespace (only the
  host node in real mode).
- Interface names are kernel names (never prefixed). Addresses and networks are `ipaddress` objects.
- `KIND` names the operation; the shell renderer has one jinja2 macro of that name per kind.
- `SECTION` groups operations under a commented heading in the script; a plan lists its operations
  section by section, in the order of `SECTIONS`.

Operations are msgspec Structs (frozen): typed records like frozen dataclasses, equal by type and
fields, hashable, but made in C, several times faster to create (benchmarks/bench_choices.py; figures
in benchmarks/README.md); a plan of a big lab has ~100,000 of them. One cost to know: isinstance
against several of these classes is slower than against dataclasses, so code scanning a whole plan
compares KIND strings instead.
"""

from __future__ import annotations

from typing import ClassVar, assert_never

import msgspec

from topograph.model import IPAddress, IPInterface, IPNetwork
from topograph.plan.firewall import DnatRule, MasqueradeRule, iptables_change, nft_replacement, rule_removal

Netns = str | None  # None: the root namespace

SECTIONS: tuple[str, ...] = (
    "namespaces", "sysctls", "bridges", "links", "interface settings", "addresses", "links up", "routes",
    "NAT and port forwards",
    # teardown
    "remove NAT and port forwards", "remove links", "restore sysctls", "remove namespaces",
)


class Sysctl(msgspec.Struct, frozen=True):
    """One sysctl value. `optional` ones exist only with a kernel module (net.bridge.*: br_netfilter)."""

    path: tuple[str, ...]  # ("net", "ipv4", "conf", "eth0.100", "rp_filter")
    value: int
    optional: bool = False

    @property
    def key(self) -> str:
        """The key as `sysctl` takes it: dotted, or with slashes when a part (an interface) has a dot."""
        sep = "/" if any("." in p for p in self.path) else "."
        return sep.join(self.path)

    @property
    def proc_path(self) -> str:
        return "/proc/sys/" + "/".join(self.path)


# -- setup -----------------------------------------------------------------------------------------

class CreateNetns(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "create_netns"
    SECTION: ClassVar[str] = "namespaces"
    node: str
    netns: str


class MarkNetns(msgspec.Struct, frozen=True):
    """Mark a namespace as made by this lab's setup: its loopback's alias becomes the lab's mark.

    Right after the namespace is created, so that nothing of the lab exists unmarked. A teardown
    deletes a namespace only when it carries the mark (see DeleteNetns), and the live commands
    recognise a namespace with the mark as the lab's own even without a record.
    """

    KIND: ClassVar[str] = "set_alias"
    SECTION: ClassVar[str] = "namespaces"
    node: str
    netns: str
    alias: str  # kernel_names.mark(lab, prefix)
    ifname: str = "lo"


class MarkLink(msgspec.Struct, frozen=True):
    """Mark an interface created in the root namespace (real mode) with the lab's mark, right after creating it.

    The root namespace is shared with everything else on the machine: a teardown deletes such an
    interface only when it carries the mark (see DeleteLink).
    """

    KIND: ClassVar[str] = "set_alias"
    SECTION: ClassVar[str] = "links"
    node: str
    netns: Netns
    ifname: str
    alias: str


class SetSysctls(msgspec.Struct, frozen=True):
    """Set every value at once in `netns`; in the root namespace, first save the old values to `save_to`."""

    KIND: ClassVar[str] = "set_sysctls"
    SECTION: ClassVar[str] = "sysctls"
    node: str
    netns: Netns
    values: tuple[Sysctl, ...]
    save_to: str | None = None

    @property
    def required(self) -> tuple[Sysctl, ...]:
        return tuple(s for s in self.values if not s.optional)

    @property
    def optional(self) -> tuple[Sysctl, ...]:
        return tuple(s for s in self.values if s.optional)


class SetLinkSysctls(SetSysctls, frozen=True):
    """Per-interface values, set after the interfaces exist and while they are still down.

    Only where `default` must not be touched: the root namespace (real mode), which the machine
    shares with interfaces that are not the lab's. Every value's path names its interface
    (net.ipv6.conf.<ifname>.<key>); nothing is saved: the interfaces go with the lab.
    """

    SECTION: ClassVar[str] = "interface settings"

    @property
    def ifnames(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.path[3] for s in self.values))


class CreateBridge(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "create_bridge"
    LINK_KIND: ClassVar[str] = "bridge"
    SECTION: ClassVar[str] = "bridges"
    node: str
    netns: Netns
    ifname: str


class VethEnd(msgspec.Struct, frozen=True):
    node: str
    netns: Netns
    ifname: str


class CreateVeth(msgspec.Struct, frozen=True):
    """A veth pair whose ends are created straight inside their namespaces (never in the root one first)."""

    KIND: ClassVar[str] = "create_veth"
    SECTION: ClassVar[str] = "links"
    a: VethEnd
    b: VethEnd
    link: int  # index of the link in the file

    @property
    def node(self) -> str:
        return self.a.node


class CreateStandIn(msgspec.Struct, frozen=True):
    """Sandbox stand-in for an existing interface in no link (e.g. a host's own NIC).

    A bridge without ports, not a dummy: the dummy driver is a module that some kernels lack (this
    project's CI kernel answers "Unknown device type"), while bridges are needed by every lab anyway.
    Like a dummy, it holds addresses that its node answers for, and leads nowhere else.
    """

    KIND: ClassVar[str] = "create_stand_in"
    LINK_KIND: ClassVar[str] = "bridge"
    SECTION: ClassVar[str] = "links"
    node: str
    netns: Netns
    ifname: str


class SetMac(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "set_mac"
    SECTION: ClassVar[str] = "interface settings"
    node: str
    netns: Netns
    ifname: str
    mac: str


class SetMtu(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "set_mtu"
    SECTION: ClassVar[str] = "interface settings"
    node: str
    netns: Netns
    ifname: str
    mtu: int


class EnslavePort(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "enslave_port"
    SECTION: ClassVar[str] = "interface settings"
    node: str
    netns: Netns
    ifname: str
    bridge: str


class AddAddress(msgspec.Struct, frozen=True):
    """An address; IPv6 ones are added without duplicate address detection (`nodad`), usable at once."""

    KIND: ClassVar[str] = "add_address"
    SECTION: ClassVar[str] = "addresses"
    node: str
    netns: Netns
    ifname: str
    address: IPInterface

    @property
    def nodad(self) -> bool:
        return self.address.version == 6


class LinkUp(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "link_up"
    SECTION: ClassVar[str] = "links up"
    node: str
    netns: Netns
    ifname: str


class LoopbackUp(msgspec.Struct, frozen=True):
    """Loopback exists in every new namespace, down; bringing it up belongs with creating the namespace."""

    KIND: ClassVar[str] = "link_up"
    SECTION: ClassVar[str] = "namespaces"
    node: str
    netns: Netns
    ifname: str = "lo"


class AddRoute(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "add_route"
    SECTION: ClassVar[str] = "routes"
    node: str
    netns: Netns
    to: IPNetwork
    via: IPAddress | None = None
    dev: str | None = None
    metric: int | None = None

    @property
    def family(self) -> int:
        return self.to.version


class LoadNftables(msgspec.Struct, frozen=True):
    """One atomic `nft -f` load of table `inet <table>` with a nat prerouting and a nat postrouting chain."""

    KIND: ClassVar[str] = "load_nftables"
    SECTION: ClassVar[str] = "NAT and port forwards"
    node: str
    netns: Netns
    table: str
    masquerades: tuple[MasqueradeRule, ...]
    forwards: tuple[DnatRule, ...]


class LoadIptables(msgspec.Struct, frozen=True):
    """One atomic `iptables-restore --noflush` per IP family into chains of the lab's own, hooked from nat."""

    KIND: ClassVar[str] = "load_iptables"
    SECTION: ClassVar[str] = "NAT and port forwards"
    node: str
    netns: Netns
    pre_chain: str
    post_chain: str
    masquerades: tuple[MasqueradeRule, ...]
    forwards: tuple[DnatRule, ...]

    @property
    def families(self) -> tuple[int, ...]:
        found = {m.family for m in self.masquerades} | {f.family for f in self.forwards}
        return tuple(sorted(found))


# -- converge and rollback: putting back what a lab changed in place -------------------------------
# Not part of a setup plan: `apply` runs them to reset or remove what the file no longer says, and to
# undo a step of a run that failed, in namespaces that existed before the run (so nothing deletes them).

class LinkDown(msgspec.Struct, frozen=True):
    """Set an interface down: the undo of LinkUp, and what `up: false` asks of an interface that is up."""

    KIND: ClassVar[str] = "link_down"
    SECTION: ClassVar[str] = "links up"
    node: str
    netns: Netns
    ifname: str


class ReleasePort(msgspec.Struct, frozen=True):
    """Take an interface out of its bridge: the undo of EnslavePort on a port that had no bridge."""

    KIND: ClassVar[str] = "release_port"
    SECTION: ClassVar[str] = "interface settings"
    node: str
    netns: Netns
    ifname: str


class DeleteAddress(msgspec.Struct, frozen=True):
    """Delete an address: the undo of AddAddress, and what removes an address the file no longer has."""

    KIND: ClassVar[str] = "delete_address"
    SECTION: ClassVar[str] = "addresses"
    node: str
    netns: Netns
    ifname: str
    address: IPInterface


class DeleteRoute(msgspec.Struct, frozen=True):
    """Delete a route of the main table: the undo of AddRoute, and what removes a route the file no longer has."""

    KIND: ClassVar[str] = "delete_route"
    SECTION: ClassVar[str] = "routes"
    node: str
    netns: Netns
    to: IPNetwork
    via: IPAddress | None = None
    dev: str | None = None
    metric: int | None = None

    @property
    def family(self) -> int:
        return self.to.version


class RestoreNftables(msgspec.Struct, frozen=True):
    """Put table `inet <table>` back to `ruleset` (as `nft list table` printed it before), in one transaction.

    The undo of LoadNftables or DeleteNftables on a table that existed before (DeleteNftables undoes
    one that did not).
    """

    KIND: ClassVar[str] = "restore_nftables"
    SECTION: ClassVar[str] = "NAT and port forwards"
    node: str
    netns: Netns
    table: str
    ruleset: str

    @property
    def script(self) -> str:
        """The `nft -f` input."""
        return nft_replacement(self.table, self.ruleset)


class RestoreIptables(msgspec.Struct, frozen=True):
    """Put the lab's nat chains of one IP family back to `lines` (live.firewall.lab_lines: the chains declared,
    the hooks, the chains' rules), or take them away with their hooks when `lines` is None.

    The undo of LoadIptables or DeleteIptables, one family each; the runner goes from what is there
    to `lines` in one `iptables-restore --noflush` transaction.
    """

    KIND: ClassVar[str] = "restore_iptables"
    SECTION: ClassVar[str] = "NAT and port forwards"
    node: str
    netns: Netns
    family: int
    pre_chain: str
    post_chain: str
    lines: tuple[str, ...] | None

    @property
    def chains(self) -> tuple[str, str]:
        return (self.pre_chain, self.post_chain)

    def change(self, now: list[str] | None) -> str:
        """The `iptables-restore --noflush` input from `now` (None: no chain of the lab) to `lines`."""
        return iptables_change(now, list(self.lines) if self.lines is not None else None)


class DeleteIptablesRule(msgspec.Struct, frozen=True):
    """Take away one rule (`-A CHAIN ...`, as iptables-save prints it) of a built-in chain that is not the
    lab's, or set a built-in chain's policy (`:CHAIN POLICY`) back to ACCEPT (live.firewall.ForeignRule)."""

    KIND: ClassVar[str] = "delete_iptables_rule"
    SECTION: ClassVar[str] = "NAT and port forwards"
    node: str
    netns: Netns
    family: int
    table: str
    line: str

    @property
    def transaction(self) -> str:
        """The `iptables-restore --noflush` input."""
        return rule_removal(self.table, self.line)


# -- teardown --------------------------------------------------------------------------------------

class DeleteNftables(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "delete_nftables"
    SECTION: ClassVar[str] = "remove NAT and port forwards"
    node: str
    netns: Netns
    table: str


class DeleteIptables(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "delete_iptables"
    SECTION: ClassVar[str] = "remove NAT and port forwards"
    node: str
    netns: Netns
    pre_chain: str
    post_chain: str
    families: tuple[int, ...]


class DeleteLink(msgspec.Struct, frozen=True):
    """Delete an interface topograph created (for a veth, one end: the kernel removes its peer).

    With a `mark`, only when the interface carries it (MarkLink); otherwise it is left alone, and said so.
    """

    KIND: ClassVar[str] = "delete_link"
    SECTION: ClassVar[str] = "remove links"
    node: str
    netns: Netns
    ifname: str
    mark: str | None = None


class DeleteNetns(msgspec.Struct, frozen=True):
    """Delete a namespace, and with it everything inside: interfaces, addresses, routes, rules.

    With a `mark`, only when its loopback carries it (MarkNetns): a namespace of the same name that
    this lab's setup did not make (its setup stopped on it) is left alone, and said so.
    """

    KIND: ClassVar[str] = "delete_netns"
    SECTION: ClassVar[str] = "remove namespaces"
    node: str
    netns: str
    mark: str | None = None


class RestoreSysctls(msgspec.Struct, frozen=True):
    """Put back the root namespace's values saved by SetSysctls(save_to=path), if they were saved."""

    KIND: ClassVar[str] = "restore_sysctls"
    SECTION: ClassVar[str] = "restore sysctls"
    node: str
    netns: Netns
    path: str


SetupOp = (CreateNetns | MarkNetns | MarkLink | LoopbackUp
           | SetSysctls | SetLinkSysctls | CreateBridge | CreateVeth | CreateStandIn | SetMac | SetMtu
           | EnslavePort | AddAddress | LinkUp | AddRoute | LoadNftables | LoadIptables)
ResetOp = (LinkDown | ReleasePort | DeleteAddress | DeleteRoute | RestoreNftables | RestoreIptables
           | DeleteIptablesRule)
TeardownOp = DeleteNftables | DeleteIptables | DeleteLink | DeleteNetns | RestoreSysctls
Operation = SetupOp | ResetOp | TeardownOp


def namespaces(op: Operation) -> tuple[Netns, ...]:
    """Where `op` acts: its namespace, or both ends' for a veth pair (None: the root namespace).

    One `match` over every kind, so a new kind that is not placed here fails mypy.
    """
    match op:
        case CreateVeth():
            return (op.a.netns, op.b.netns)
        case (CreateNetns() | MarkNetns() | LoopbackUp() | SetSysctls() | CreateBridge() | CreateStandIn() | MarkLink()
              | SetMac() | SetMtu() | LinkDown() | ReleasePort() | DeleteAddress() | DeleteRoute()
              | RestoreNftables() | RestoreIptables() | DeleteIptablesRule()
              | EnslavePort() | AddAddress() | LinkUp() | AddRoute() | LoadNftables() | LoadIptables()
              | DeleteNftables() | DeleteIptables() | DeleteLink() | DeleteNetns() | RestoreSysctls()):
            return (op.netns,)
        case _:
            assert_never(op)
