"""The typed, immutable model of a checked topology. No I/O and no kernel access here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from topograph.front.diagnostics import Pos, Where
from topograph.front.netem import Netem
from topograph.front.wire import LOOPBACK as LOOPBACK
from topograph.front.wire import IPAddress as IPAddress
from topograph.front.wire import IPInterface as IPInterface
from topograph.front.wire import IPNetwork as IPNetwork
from topograph.front.wire import Proto as Proto

#: net.bridge.bridge-nf-call-iptables / -ip6tables in a new namespace when the file does not say (a node's
#: `bridge_netfilter`): br_netfilter turns both on (1) in every new namespace (measured on 6.18; the plan then
#: leaves them alone). On: frames bridged between two ports of a node's bridge pass that node's netfilter.
BRIDGE_NF_DEFAULT = True


class Written:
    """A model object that knows where it was written; its position is looked up when asked for."""

    __slots__ = ()
    where: Where | None

    @property
    def pos(self) -> Pos | None:
        return None if self.where is None else self.where.pos


class NodeKind(StrEnum):
    NAMESPACE = "namespace"  # created and owned by topograph
    HOST = "host"  # the machine topograph runs on; a namespace of its own in sandbox mode
    EXTERNAL = "external"  # exists already (outside LAN, "the internet"); emulated in sandbox mode


class RpFilter(StrEnum):
    DISABLED = "disabled"
    STRICT = "strict"
    LOOSE = "loose"

    @property
    def sysctl(self) -> int:
        """The value of net.ipv4.conf.*.rp_filter."""
        return _RP_FILTER_SYSCTL[self]


_RP_FILTER_SYSCTL = {RpFilter.DISABLED: 0, RpFilter.STRICT: 1, RpFilter.LOOSE: 2}


class Hook(StrEnum):
    """A filter chain: where the kernel evaluates it (netfilter's hook of the same name)."""

    INPUT = "input"  # packets for the node itself, after prerouting DNAT
    FORWARD = "forward"  # packets the node routes on, after prerouting DNAT and before postrouting SNAT
    OUTPUT = "output"  # packets the node sends itself, after routing (and after a DNAT of its own traffic)


class RuleAction(StrEnum):
    """What a filter rule (or a chain's policy: accept or drop only) does with a packet it matches."""

    ACCEPT = "accept"
    DROP = "drop"  # silently: the sender times out
    REJECT = "reject"  # an ICMP (ICMPv6) port unreachable goes back: a ping or a connect fails at once
    RESET = "reset"  # a TCP reset goes back (only on rules that match TCP alone)


class CtState(StrEnum):
    """A packet's connection-tracking state, as `ct state` matches it."""

    NEW = "new"  # the first packet of a connection the node has not seen
    ESTABLISHED = "established"  # a later packet of a tracked connection, replies included
    RELATED = "related"  # an ICMP error about a tracked connection (and a reject's own answer)
    INVALID = "invalid"  # a packet conntrack cannot place


@dataclass(frozen=True, slots=True)
class PortRange:
    """One port (first == last) or an inclusive range of ports."""

    first: int
    last: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def covers(self, other: PortRange) -> bool:
        return self.first <= other.first and other.last <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True, slots=True)
class Interface(Written):
    """A network interface of a node: a veth end, a bridge, or loopback."""

    node: str
    name: str
    addresses: tuple[IPInterface, ...] = ()
    mtu: int | None = None
    mac: str | None = None
    up: bool = True
    bridge: str | None = None  # the bridge this interface is a port of
    is_bridge: bool = False
    where: Where | None = field(default=None, compare=False, repr=False)
    netem: Netem | None = None  # impairments of the interface's egress (a link end's own, or its link's)

    @property
    def key(self) -> tuple[str, str]:
        return (self.node, self.name)

    @property
    def label(self) -> str:
        return f"{self.node}:{self.name}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    node: str
    interface: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.node, self.interface)

    def __str__(self) -> str:
        return f"{self.node}:{self.interface}"


@dataclass(frozen=True, slots=True)
class Link(Written):
    """A veth pair. `external` links already exist unless the lab runs in sandbox mode."""

    index: int
    a: Endpoint
    b: Endpoint
    external: bool = False
    where: Where | None = field(default=None, compare=False, repr=False)

    @property
    def ends(self) -> tuple[Endpoint, Endpoint]:
        return (self.a, self.b)


@dataclass(frozen=True, slots=True)
class Route(Written):
    to: IPNetwork
    via: IPAddress | None = None
    dev: str | None = None
    metric: int | None = None
    onlink: bool = False  # the gateway is reached on `dev` even though no connected subnet holds it (RTNH_F_ONLINK)
    where: Where | None = field(default=None, compare=False, repr=False)

    @property
    def is_default(self) -> bool:
        return self.to.prefixlen == 0

    @property
    def family(self) -> int:
        return self.to.version

    def __str__(self) -> str:
        text = "default" if self.is_default else str(self.to)
        if self.via is not None:
            text += f" via {self.via}"
        if self.dev is not None:
            text += f" dev {self.dev}"
        if self.metric is not None:
            text += f" metric {self.metric}"
        if self.onlink:
            text += " onlink"
        return text


@dataclass(frozen=True, slots=True)
class Masquerade(Written):
    source: IPNetwork
    out: str
    where: Where | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"MASQUERADE {self.source} → {self.out}"

    def matches(self, src: IPAddress, dst: IPAddress, dev: str) -> bool:
        return src.version == self.source.version and src in self.source and self.out == dev


@dataclass(frozen=True, slots=True)
class Snat(Written):
    """SNAT to a fixed address: packets from `source` (optionally only towards `dst`, only leaving by `out`)
    get `to` as their source in POSTROUTING; conntrack carries the replies back."""

    source: IPNetwork
    to: IPAddress
    out: str | None = None
    dst: IPNetwork | None = None
    where: Where | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        dst = f" to {self.dst}" if self.dst is not None else ""
        out = f" out {self.out}" if self.out is not None else ""
        return f"SNAT {self.source}{dst}{out} → {self.to}"

    def matches(self, src: IPAddress, dst: IPAddress, dev: str) -> bool:
        return (src.version == self.source.version and src in self.source and (self.out is None or self.out == dev)
                and (self.dst is None or (dst.version == self.dst.version and dst in self.dst)))


NatRule = Masquerade | Snat  # one entry of a node's `nat` list, evaluated in file order: the first that matches wins


@dataclass(frozen=True, slots=True)
class PortForward(Written):
    proto: Proto
    port: int
    to_address: IPAddress
    to_port: int
    in_interface: str | None = None
    address: IPAddress | None = None  # only for this destination address (None: any of the node's own addresses)
    local: bool = False  # also for the node's own connections (DNAT in the nat output hook)
    where: Where | None = field(default=None, compare=False, repr=False)

    @property
    def conditions(self) -> str:
        """What the forward matches besides proto/port, for a label: ' (in eth0, on 203.0.113.2, local)'."""
        parts = [f"in {self.in_interface}"] if self.in_interface else []
        parts += [f"on {self.address}"] if self.address is not None else []
        parts += ["local"] if self.local else []
        return f" ({', '.join(parts)})" if parts else ""

    def catches(self, dst: IPAddress, own: bool) -> bool:
        """Does the forward's destination match hold for `dst` (`own`: dst is one of the node's addresses)?"""
        return dst == self.address if self.address is not None else own

    @property
    def target(self) -> str:
        host = f"[{self.to_address}]" if self.to_address.version == 6 else str(self.to_address)
        return f"{host}:{self.to_port}"


@dataclass(frozen=True, slots=True)
class FilterRule(Written):
    """One rule of a filter chain: every match given must hold (none given: it matches every packet)."""

    action: RuleAction
    src: IPNetwork | None = None
    dst: IPNetwork | None = None
    proto: Proto | None = None  # Proto.ICMP is ICMP for IPv4 and ICMPv6 for IPv6 (see `family`)
    family: int | None = None  # 4 or 6 when the rule matches one family only (an address, icmp or icmpv6); None: both
    dport: PortRange | None = None  # tcp or udp only
    sport: PortRange | None = None
    in_interface: str | None = None
    out_interface: str | None = None
    states: frozenset[CtState] = frozenset()  # empty: any state
    where: Where | None = field(default=None, compare=False, repr=False)

    @property
    def proto_name(self) -> str | None:
        """The protocol as the file (and nft) spells it: icmp, icmpv6, tcp or udp."""
        if self.proto is Proto.ICMP and self.family == 6:
            return "icmpv6"
        return None if self.proto is None else str(self.proto)

    def describe(self) -> str:
        """The rule in one line, in the file's words: 'accept from 192.168.15.0/24 out eth0'."""
        parts = [str(self.action)]
        if self.states:
            parts.append("state " + ",".join(s for s in CtState if s in self.states))
        if self.src is not None:
            parts.append(f"from {_prefix(self.src)}")
        if self.dst is not None:
            parts.append(f"to {_prefix(self.dst)}")
        if self.proto is not None:
            parts.append(str(self.proto_name))
        if self.sport is not None:
            parts.append(f"sport {self.sport}")
        if self.dport is not None:
            parts.append(f"dport {self.dport}")
        if self.in_interface is not None:
            parts.append(f"in {self.in_interface}")
        if self.out_interface is not None:
            parts.append(f"out {self.out_interface}")
        return " ".join(parts)


def _prefix(net: IPNetwork) -> str:
    """A prefix as people write it: a single address without its /32 or /128."""
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


@dataclass(frozen=True, slots=True)
class FilterChain(Written):
    """One of a node's filter chains: its rules in order, then its policy for what no rule decided."""

    hook: Hook
    policy: RuleAction = RuleAction.ACCEPT  # accept or drop
    rules: tuple[FilterRule, ...] = ()
    where: Where | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Listen(Written):
    """A port something listens on in a node (a server the lab stands for): `listen: [tcp/22]`."""

    proto: Proto  # tcp or udp
    port: int
    where: Where | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.proto}/{self.port}"


@dataclass(frozen=True, slots=True)
class Service(Written):
    """A command `run:` starts in a node's namespace after apply, kept running in the background."""

    name: str  # unique in its node; names its log and pid files
    cmd: str  # a shell command line (sh -c)
    where: Where | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.name}: {self.cmd}"


@dataclass(frozen=True, slots=True)
class Node(Written):
    name: str
    kind: NodeKind = NodeKind.NAMESPACE
    forwarding: bool = False
    rp_filter: RpFilter = RpFilter.DISABLED
    bridge_netfilter: bool | None = None  # net.bridge.bridge-nf-call-iptables/-ip6tables; None: the kernel's default
    interfaces: tuple[Interface, ...] = ()  # loopback first, then bridges, then the rest, in file order
    routes: tuple[Route, ...] = ()
    nat: tuple[NatRule, ...] = ()
    port_forwards: tuple[PortForward, ...] = ()
    filter: tuple[FilterChain, ...] = ()  # the chains the file writes, in hook order (input, forward, output)
    listen: tuple[Listen, ...] = ()
    where: Where | None = field(default=None, compare=False, repr=False)
    services: tuple[Service, ...] = ()  # `run:`, in file order
    # name -> interface, so that lookups stay O(1) on a host with thousands of bridge ports
    _by_name: dict[str, Interface] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for itf in reversed(self.interfaces):  # the first of equal names wins, as in a scan
            self._by_name[itf.name] = itf

    def interface(self, name: str) -> Interface | None:
        return self._by_name.get(name)

    def chain(self, hook: Hook) -> FilterChain | None:
        """The node's chain at `hook`, or None: the file writes none, and every packet passes."""
        return next((c for c in self.filter if c.hook is hook), None)

    @property
    def filters(self) -> bool:
        """Does any chain of the node drop or reject anything (a rule, or a drop policy)?"""
        return any(c.policy is not RuleAction.ACCEPT or any(r.action is not RuleAction.ACCEPT for r in c.rules)
                   for c in self.filter)

    @property
    def bridges(self) -> tuple[Interface, ...]:
        return tuple(i for i in self.interfaces if i.is_bridge)

    @property
    def addresses(self) -> tuple[IPInterface, ...]:
        """Every address of the node, in file order, loopback's included."""
        return tuple(a for itf in self.interfaces for a in itf.addresses)

    @property
    def primary_address(self) -> IPAddress | None:
        """The first address outside loopback in file order — what `to: NODE` in an expectation means."""
        for itf in self.interfaces:
            if itf.name != LOOPBACK:
                for a in itf.addresses:
                    return a.ip
        for a in self.addresses:
            return a.ip
        return None


@dataclass(frozen=True, slots=True)
class Expectation(Written):
    src: str
    dst: str  # as written: a node name or an address
    dst_address: IPAddress | None
    dst_node: str | None
    proto: Proto = Proto.ICMP
    port: int | None = None
    reach: bool = True
    note: str | None = None
    where: Where | None = field(default=None, compare=False, repr=False)
    forward: bool = False  # `to: NODE:PORT`: a TCP connection through dst_node's port forward on `port`, as trace means it

    def __str__(self) -> str:
        what = f"{self.proto}" + (f"/{self.port}" if self.port else "")
        arrow = "->" if self.reach else "-/->"
        return f"{self.src} {arrow} {self.dst} ({what})"


@dataclass(frozen=True, slots=True)
class Topology:
    name: str
    file: str
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    expectations: tuple[Expectation, ...] = ()
    description: str | None = None
    # name -> node, so that lookups stay O(1) in labs of thousands of nodes
    _by_name: dict[str, Node] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for n in reversed(self.nodes):  # the first of equal names wins, as in a scan
            self._by_name[n.name] = n

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def interface(self, node: str, name: str) -> Interface:
        itf = self.node(node).interface(name)
        if itf is None:
            raise KeyError(f"{node}:{name}")
        return itf

    @property
    def host(self) -> Node | None:
        return next((n for n in self.nodes if n.kind is NodeKind.HOST), None)

    def owner_of(self, address: IPAddress) -> Interface | None:
        for n in self.nodes:
            for itf in n.interfaces:
                if any(a.ip == address for a in itf.addresses):
                    return itf
        return None
