"""The operations a setup plan is made of, in the order of its sections (conventions: plan/ops.py).

Also what they share with the undo and repair kinds (plan/undo_ops.py): `Netns`, the section
titles, and `Sysctl`.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from topograph.front.netem import Netem
from topograph.model import Hook, IPAddress, IPInterface, IPNetwork
from topograph.plan.filters import FilterChainRules
from topograph.plan.firewall import DnatRule, MasqueradeRule

Netns = str | None  # None: the root namespace

SECTIONS: tuple[str, ...] = (
    "namespaces", "sysctls", "bridges", "links", "interface settings", "addresses", "links up", "impairments", "routes",
    "NAT and port forwards", "services",
    # teardown
    "stop services", "remove NAT and port forwards", "remove links", "restore sysctls", "remove namespaces",
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


class SetNetem(msgspec.Struct, frozen=True):
    """Link impairments on an interface's egress: `tc qdisc replace dev X root netem ...` (a root netem qdisc)."""

    KIND: ClassVar[str] = "set_netem"
    SECTION: ClassVar[str] = "impairments"
    node: str
    netns: Netns
    ifname: str
    netem: Netem


class AddRoute(msgspec.Struct, frozen=True):
    KIND: ClassVar[str] = "add_route"
    SECTION: ClassVar[str] = "routes"
    node: str
    netns: Netns
    to: IPNetwork
    via: IPAddress | None = None
    dev: str | None = None
    metric: int | None = None
    onlink: bool = False  # `ip route add ... onlink`: the gateway needs no connected subnet on `dev`

    @property
    def family(self) -> int:
        return self.to.version


class LoadNftables(msgspec.Struct, frozen=True):
    """One atomic `nft -f` load of table `inet <table>`: a nat prerouting and a nat postrouting chain for the
    port forwards and masquerades, and a filter chain per hook the node filters at (plan/filters.py)."""

    KIND: ClassVar[str] = "load_nftables"
    SECTION: ClassVar[str] = "NAT and port forwards"
    node: str
    netns: Netns
    table: str
    masquerades: tuple[MasqueradeRule, ...]
    forwards: tuple[DnatRule, ...]
    filters: tuple[FilterChainRules, ...] = ()


class LoadIptables(msgspec.Struct, frozen=True):
    """One atomic `iptables-restore --noflush` per IP family into chains of the lab's own: `pre_chain` and
    `post_chain` hooked from the nat table, and in the filter table one chain per hook the node filters at,
    named by `filter_chains` (input, forward, output; all three, so that one no longer used is found)."""

    KIND: ClassVar[str] = "load_iptables"
    SECTION: ClassVar[str] = "NAT and port forwards"
    node: str
    netns: Netns
    pre_chain: str
    post_chain: str
    masquerades: tuple[MasqueradeRule, ...]
    forwards: tuple[DnatRule, ...]
    filter_chains: tuple[str, ...] = ()
    filters: tuple[FilterChainRules, ...] = ()
    local_chain: str = ""  # the nat OUTPUT chain of `local` port forwards ("": the node has none)

    @property
    def chains(self) -> tuple[str, ...]:
        """Every chain name of the lab's (used or not), nat ones first."""
        return (self.pre_chain, self.post_chain, *((self.local_chain,) if self.local_chain else ()), *self.filter_chains)

    def chain_of(self, hook: Hook) -> str:
        """The lab's filter-table chain for `hook`."""
        return self.filter_chains[list(Hook).index(hook)]

    @property
    def loaded_chains(self) -> tuple[str, ...]:
        """The chains the load makes: the nat ones when the node has NAT, and one per hook it filters at."""
        nat = (self.pre_chain, self.post_chain, *((self.local_chain,) if self.local_chain else ())) \
            if self.nat_families else ()
        return (*nat, *(self.chain_of(c.hook) for c in self.filters))

    @property
    def nat_families(self) -> set[int]:
        return {m.family for m in self.masquerades} | {f.family for f in self.forwards}

    @property
    def families(self) -> tuple[int, ...]:
        found = self.nat_families.union(*(c.families() for c in self.filters))
        return tuple(sorted(found))


class ServiceFiles(msgspec.Struct, frozen=True):
    """Where a service's files are: DIR/NODE/NAME.log (its output), .pid (the supervisor's pid, the service's
    process group), .rc (its exit code, once it ended by itself)."""

    node: str
    netns: Netns
    name: str
    dir: str  # kernel_names.service_dir(lab, prefix)

    @property
    def node_dir(self) -> str:
        return f"{self.dir}/{self.node}"

    @property
    def base(self) -> str:
        return f"{self.node_dir}/{self.name}"

    @property
    def log(self) -> str:
        return self.base + ".log"

    @property
    def pid_file(self) -> str:
        return self.base + ".pid"

    @property
    def rc_file(self) -> str:
        return self.base + ".rc"

    @property
    def key(self) -> str:
        """How the lab's record names the service: NODE/NAME."""
        return f"{self.node}/{self.name}"


#: The environment variable that marks every process of a service: CMD runs with SERVICE_ENV=BASE (the service's
#: own path, so the marker names exactly one service of one lab), and what it forks inherits it, a daemon that
#: leaves the process group too (live/marked.py finds them by it).
SERVICE_ENV = "TOPOGRAPH_SERVICE"

#: The supervisor every service runs under (sh -c SUPERVISOR sh CMD BASE): it records its pid (the service's
#: process group and session), runs CMD with sh (so CMD may be any command line, and cannot skip the
#: next step) marked with SERVICE_ENV, and records CMD's exit code when CMD ends by itself (a stop kills the
#: supervisor with it).
SUPERVISOR = f'echo $$ > "$2.pid"; {SERVICE_ENV}="$2" sh -c "$1"; echo $? > "$2.rc"'


class StartService(ServiceFiles, frozen=True):
    """Start a service (`run:`) in its node's namespace, detached: a session of its own, stdin from /dev/null,
    stdout and stderr appended to its log, under SUPERVISOR, in its node's directory of service files."""

    KIND: ClassVar[str] = "start_service"
    SECTION: ClassVar[str] = "services"
    cmd: str = ""
    ports: tuple[str, ...] = ()  # the node's `listen:` (tcp/80...): apply waits until something holds them

    @property
    def argv(self) -> tuple[str, ...]:
        """The command that starts it, in the current namespace (setsid -f: it is never this process's child)."""
        return ("setsid", "-f", "sh", "-c", SUPERVISOR, "sh", self.cmd, self.base)
