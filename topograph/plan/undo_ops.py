"""The operations that put back or take away what a setup made (conventions: plan/ops.py).

The converge and rollback kinds put back what a lab changed in place; the teardown kinds remove
what it made. A teardown plan is the reverse of a setup plan (plan/reverse.py).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from topograph.model import IPAddress, IPInterface, IPNetwork
from topograph.plan.firewall import iptables_change, lab_hooks, nft_replacement, rule_removal
from topograph.plan.setup_ops import Netns, ServiceFiles

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


class DeleteNetem(msgspec.Struct, frozen=True):
    """Remove an interface's root qdisc (back to the kernel's default): the undo of SetNetem where there was none,
    and what removes impairments the file no longer has."""

    KIND: ClassVar[str] = "delete_netem"
    SECTION: ClassVar[str] = "impairments"
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
    """Put the lab's chains (nat and filter) of one IP family back to `lines` (live.firewall.lab_lines: the chains declared,
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
    filter_chains: tuple[str, ...] = ()  # the lab's filter-table chains (LoadIptables.filter_chains)
    local_chain: str = ""  # the lab's nat OUTPUT chain (LoadIptables.local_chain)

    @property
    def chains(self) -> tuple[str, ...]:
        return (self.pre_chain, self.post_chain, *((self.local_chain,) if self.local_chain else ()), *self.filter_chains)

    @property
    def hooks(self) -> list[tuple[str, str, str]]:
        """(table, built-in chain, lab chain) per chain of the lab's (plan.firewall.lab_hooks)."""
        return lab_hooks(self.pre_chain, self.post_chain, self.filter_chains, self.local_chain)

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

class StopService(ServiceFiles, frozen=True):
    """Stop a service: SIGTERM to its process group, SIGKILL after a short wait; then remove its files.

    Only the process its pid file names, and only when that process is its supervisor (its command line
    ends with the service's own path): a pid the kernel gave to another process since is left alone.
    Before its namespace goes: deleting a namespace stops nothing that runs in it.
    """

    KIND: ClassVar[str] = "stop_service"
    SECTION: ClassVar[str] = "stop services"


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
    filter_chains: tuple[str, ...] = ()  # the lab's filter-table chains (LoadIptables.filter_chains)
    local_chain: str = ""  # the lab's nat OUTPUT chain (LoadIptables.local_chain)

    @property
    def chains(self) -> tuple[str, ...]:
        return (self.pre_chain, self.post_chain, *((self.local_chain,) if self.local_chain else ()), *self.filter_chains)

    @property
    def hooks(self) -> list[tuple[str, str, str]]:
        """(table, built-in chain, lab chain) per chain of the lab's (plan.firewall.lab_hooks)."""
        return lab_hooks(self.pre_chain, self.post_chain, self.filter_chains, self.local_chain)


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
