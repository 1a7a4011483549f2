"""Turn a checked topology into the ordered, deterministic list of operations that brings the lab up.

Order (one section after the other; inside a section, nodes, interfaces and links in file order):

1. namespaces — create each namespace, mark it as the lab's (the alias of its loopback: MarkNetns)
   and bring its loopback up (unless `lo` is `up: false`);
2. sysctls — one batch per configured node, *before* any interface is created: a new interface
   takes its namespace's `default` values (measured on this kernel for veth ends created straight
   into a namespace and for bridges), and a new namespace starts with the machine's IPv4 values;
3. bridges, then veth pairs (file order), then stand-ins (sandbox: port-less bridges); in the
   root namespace (real mode) each interface is marked as the lab's right after it is made (MarkLink;
   the marks of bridges open the links section);
4. interface settings — in the root namespace per-interface sysctls, then MAC, MTU, bridge ports
   (while the links are still down);
5. addresses, then links up, then routes; 6. NAT, port forwards and filter chains, one atomic load per node;
7. services (`run:`), each started detached in its node's namespace (StartService), once the rest is in place.

Sysctls set in every configured node (nothing is inherited from the machine):
  net.ipv4.ip_forward and net.ipv6.conf.all.forwarding (the node's `forwarding`);
  net.ipv4.conf.{all,default}.rp_filter (the node's `rp_filter`) and the same per interface for the
  interfaces that exist before `default` is set (loopback; in real mode the host's own NICs), since
  the kernel applies max(all, interface);
  net.ipv6.conf.{all,default}.accept_dad = 0, so IPv6 addresses are usable at once
  (addresses themselves are added with `nodad`);
  net.ipv6.conf.default.addr_gen_mode = 1 (none) in a node without IPv6 (no IPv6 address, no IPv6
  route), else 0 (eui64, the kernel's own): a quiet lab by design. With 0 every interface, as it
  comes up, makes a link-local address, reports its solicited-node group (MLD) and solicits routers,
  and a bridge floods each such frame to every other port: on a star of 1000 IPv4 namespaces,
  thousands of frames times 1000 ports in the seconds after apply, which slowed a re-apply or status
  run right then: the kernel was busy flooding (`benchmarks/bench_apply.py --link-local` times both,
  at once and settled, against the same plan with link-local addresses on; figures in
  benchmarks/README.md). A node without IPv6 has no use for a link-local
  address (the model never uses one it did not write, and bridging needs none); a node with IPv6
  needs it: the kernel neighbour-solicits for a forwarded packet only from a link-local source;
  net.ipv6.conf.default.router_solicitations = 0: topograph never uses router advertisements, so
  the interfaces that keep a link-local address do not solicit them (by default they do forever,
  backing off), each solicitation flooded through a bridge like the MLD reports;
  in the root namespace (real mode) these two are not set on `default`, which interfaces the machine
  itself creates meanwhile would take, but per interface the lab creates there
  (net.ipv6.conf.<ifname>.*: SetLinkSysctls in the interface settings, while the links are down).
  Measured on that star and left at the kernel's values, as they gained nothing more:
  accept_ra (it silences solicitations too, but would also ignore a router daemon run in the lab), disable_ipv6 on bridge
  ports (a port's own frames go to its veth peer, never through the bridge), the MLD report intervals
  (they spread the reports over time, not fewer of them);
  net.bridge.bridge-nf-call-{iptables,ip6tables} = the node's `bridge_netfilter` in a node that has a
  bridge and says it, where br_netfilter provides them (optional values); a node that does not say it
  keeps the kernel's value: br_netfilter, once loaded, turns them on (1) in every new namespace (measured),
  and then frames bridged between two ports meet the node's conntrack, NAT and forward chain. A node
  without a bridge bridges no frame, so the values cannot matter there. (-arptables only feeds arptables
  rules, which topograph never writes: left alone.)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from topograph import kernel_names
from topograph.model import LOOPBACK, Interface, Node, Route, Topology
from topograph.placement import Placement, place, route_interface
from topograph.plan.filters import FilterChainRules
from topograph.plan.firewall import DnatRule, MasqueradeRule
from topograph.plan.ops import Operation
from topograph.plan.setup_ops import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    EnslavePort,
    LinkUp,
    LoadIptables,
    LoadNftables,
    LoopbackUp,
    MarkLink,
    MarkNetns,
    Netns,
    SetLinkSysctls,
    SetMac,
    SetMtu,
    SetNetem,
    SetSysctls,
    StartService,
    Sysctl,
    VethEnd,
)
from topograph.plan.undo_ops import (
    DeleteNetns,
)

Firewall = Literal["nftables", "iptables"]
FIREWALLS: tuple[Firewall, ...] = ("nftables", "iptables")



@dataclass(frozen=True, slots=True)
class Plan:
    """What a back end executes, in order. `notes` say what the plan deliberately leaves alone."""

    lab: str
    source: str  # the topology file's name, for the script's header
    prefix: str | None  # sandbox prefix; None in real mode
    firewall: Firewall
    operations: tuple[Operation, ...]
    notes: tuple[str, ...] = ()
    teardown: bool = False
    #: root-namespace interfaces the plan relies on without creating them (real mode: the host's uplinks)
    requires: tuple[str, ...] = ()

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace this plan creates (or, for a teardown plan, deletes)."""
        # exact types: neither has subclasses, and isinstance against Struct classes is the slow path
        return tuple(op.netns for op in self.operations if type(op) is CreateNetns or type(op) is DeleteNetns)


def uses_ipv6(node: Node) -> bool:
    """Does the node have an IPv6 address or route (and so need link-local addresses)?"""
    return (any(a.version == 6 for i in node.interfaces for a in i.addresses)
            or any(r.to.version == 6 for r in node.routes))


def sysctls(node: Node, placement: Placement) -> tuple[Sysctl, ...]:
    """The node's sysctl values (see the module docstring)."""
    # interfaces that exist before `default` is set keep their own value; the kernel uses the maximum
    existing = (LOOPBACK, *(i.name for i in node.interfaces if i.name != LOOPBACK and placement.is_existing(i)))
    own = placement.netns(node.name) is not None
    bridges = any(i.is_bridge for i in node.interfaces)
    bnf = int(node.bridge_netfilter) if bridges and node.bridge_netfilter is not None else None
    return _sysctls(int(node.forwarding), node.rp_filter.sysctl, existing, bnf, own, uses_ipv6(node))


def _quiet(where: str, ipv6: bool) -> list[Sysctl]:
    """No link-local chatter: `where` is "default" or, in the root namespace, an interface."""
    return [Sysctl(("net", "ipv6", "conf", where, "addr_gen_mode"), 0 if ipv6 else 1),
            Sysctl(("net", "ipv6", "conf", where, "router_solicitations"), 0)]


def link_sysctls(node: Node, ifnames: tuple[str, ...]) -> tuple[Sysctl, ...]:
    """Per-interface values for interfaces the lab creates in the root namespace (see the module docstring)."""
    ipv6 = uses_ipv6(node)
    return tuple(s for name in ifnames for s in _quiet(name, ipv6))


@functools.lru_cache(maxsize=256)
def _sysctls(fwd: int, rpf: int, existing: tuple[str, ...], bnf: int | None, own: bool,
             ipv6: bool) -> tuple[Sysctl, ...]:
    # cached: thousands of alike namespaces share one (immutable) tuple
    values = [
        Sysctl(("net", "ipv4", "ip_forward"), fwd),
        Sysctl(("net", "ipv6", "conf", "all", "forwarding"), fwd),
        Sysctl(("net", "ipv4", "conf", "all", "rp_filter"), rpf),
        Sysctl(("net", "ipv4", "conf", "default", "rp_filter"), rpf),
    ]
    values += [Sysctl(("net", "ipv4", "conf", name, "rp_filter"), rpf) for name in existing]
    values += [
        Sysctl(("net", "ipv6", "conf", "all", "accept_dad"), 0),
        Sysctl(("net", "ipv6", "conf", "default", "accept_dad"), 0),
    ]
    if own:  # a namespace of the lab's own; the root one gets per-interface values (link_sysctls)
        values += _quiet("default", ipv6)
    if bnf is not None:  # only frames crossing a bridge of this namespace ever meet br_netfilter
        values += [Sysctl(("net", "bridge", f"bridge-nf-call-{t}"), bnf, optional=True)
                   for t in ("iptables", "ip6tables")]
    return tuple(values)


class _Planner:
    def __init__(self, topology: Topology, placement: Placement, firewall: Firewall) -> None:
        self.t = topology
        self.p = placement
        self.firewall = firewall
        self.notes: list[str] = []
        self.nodes = [n for n in topology.nodes if placement.configures(n.name)]
        self._managed: dict[str, tuple[Interface, ...]] = {}
        self.mark = kernel_names.mark(topology.name, placement.prefix)

    def ns(self, node: str) -> Netns:
        return self.p.netns_of[node]

    def managed(self, node: Node) -> tuple[Interface, ...]:
        found = self._managed.get(node.name)
        if found is None:
            found = self._managed[node.name] = self.p.created_interfaces(node)
        return found

    def operations(self) -> list[Operation]:
        ops: list[Operation] = []
        for node in self.nodes:
            netns = self.ns(node.name)
            if netns is not None:
                ops.append(CreateNetns(node.name, netns))
                ops.append(MarkNetns(node.name, netns, self.mark))
                lo = node.interface(LOOPBACK)
                if lo is not None and lo.up:
                    ops.append(LoopbackUp(node.name, netns))
        for node in self.nodes:
            netns = self.ns(node.name)
            save = kernel_names.sysctl_state_file(self.t.name) if netns is None else None
            ops.append(SetSysctls(node.name, netns, sysctls(node, self.p), save_to=save))
        bridges = [CreateBridge(node.name, self.ns(node.name), b.name)
                   for node in self.nodes for b in self.managed(node) if b.is_bridge]
        ops += bridges
        ops += [MarkLink(b.node, None, b.ifname, self.mark) for b in bridges if b.netns is None]
        for link in self.p.created_links:
            a, b = (VethEnd(e.node, self.ns(e.node), e.interface) for e in link.ends)
            ops.append(CreateVeth(a, b, link.index))
            ops += [MarkLink(e.node, None, e.ifname, self.mark) for e in (a, b) if e.netns is None]
        for i in self.p.stand_ins:
            ops.append(CreateStandIn(i.node, self.ns(i.node), i.name))
            if self.ns(i.node) is None:
                ops.append(MarkLink(i.node, None, i.name, self.mark))
        for node in self.nodes:
            if self.ns(node.name) is None:
                names = tuple(i.name for i in self.managed(node) if i.name != LOOPBACK)
                if names:
                    ops.append(SetLinkSysctls(node.name, None, link_sysctls(node, names)))
            for itf in self.managed(node):
                ns = self.ns(node.name)
                if itf.mac is not None:
                    ops.append(SetMac(node.name, ns, itf.name, itf.mac))
                if itf.mtu is not None:
                    ops.append(SetMtu(node.name, ns, itf.name, itf.mtu))
                if itf.bridge is not None:
                    ops.append(EnslavePort(node.name, ns, itf.name, itf.bridge))
        for node in self.nodes:
            ops += [AddAddress(node.name, self.ns(node.name), itf.name, a)
                    for itf in self.managed(node) for a in itf.addresses]
        for node in self.nodes:
            ops += [LinkUp(node.name, self.ns(node.name), itf.name)
                    for itf in self.managed(node) if itf.name != LOOPBACK and itf.up]
        for node in self.nodes:
            ops += [SetNetem(node.name, self.ns(node.name), itf.name, itf.netem)
                    for itf in self.managed(node) if itf.netem is not None]
        for node in self.nodes:
            ops += [op for r in node.routes if (op := self.route(node, r)) is not None]
        for node in self.nodes:
            if node.nat or node.port_forwards or node.filter:
                ops.append(self.rules(node))
        run_dir = kernel_names.service_dir(self.t.name, self.p.prefix) if any(n.services for n in self.nodes) else ""
        for node in self.nodes:  # last: a service finds its node's addresses, routes and rules in place
            ports = tuple(str(x) for x in node.listen)
            ops += [StartService(node.name, self.ns(node.name), s.name, run_dir, s.cmd, ports) for s in node.services]
        self.note_existing()
        return ops

    def route(self, node: Node, route: Route) -> AddRoute | None:
        out = route_interface(node, route)
        if out is not None and self.p.is_existing(out):
            self.notes.append(f"{node.name}: route {route} leaves by {out.name if out else '?'}, "
                              "which exists already; it is assumed present")
            return None
        if out is not None and not out.up:
            self.notes.append(f"{node.name}: route {route} is not added: {out.name} is down "
                              "(the kernel refuses routes over a down interface)")
            return None
        if (route.via is None and out is not None and route.to.version == 4 and not route.metric
                and any(a.network == route.to for a in out.addresses)):
            self.notes.append(f"{node.name}: route {route} is the kernel's connected route already")
            return None
        return AddRoute(node.name, self.ns(node.name), route.to, route.via, route.dev, route.metric, route.onlink)

    def rules(self, node: Node) -> LoadNftables | LoadIptables:
        masq = tuple(MasqueradeRule.of(m) for m in node.nat)
        fwd = tuple(DnatRule.of(f) for f in node.port_forwards)
        filters = tuple(FilterChainRules.of(c) for c in node.filter)
        if self.firewall == "iptables":
            local = kernel_names.iptables_chain(self.t.name, "LOCAL") if any(f.local for f in fwd) else ""
            return LoadIptables(node.name, self.ns(node.name), kernel_names.iptables_chain(self.t.name, "PRE"),
                                kernel_names.iptables_chain(self.t.name, "POST"), masq, fwd,
                                kernel_names.iptables_filter_chains(self.t.name), filters, local)
        return LoadNftables(node.name, self.ns(node.name), kernel_names.nft_table(self.t.name), masq, fwd, filters)

    def note_existing(self) -> None:
        if self.p.sandbox:  # everything is created then: nothing exists already
            return
        for node in self.t.nodes:
            if not self.p.configures(node.name):
                self.notes.append(f"{node.name}: external node, left alone (it exists already)"
                                  + (f"; its services (run:) are not started: {', '.join(s.name for s in node.services)}"
                                     if node.services else ""))
                continue
            for itf in node.interfaces:
                if self.p.is_existing(itf) and itf.netem is not None:
                    self.notes.append(f"{node.name}: {itf.name} exists already; its netem ({itf.netem.tc_words()}) "
                                      "is not set (in --sandbox mode it is)")
                if self.p.is_existing(itf) and itf.addresses:
                    addrs = ", ".join(str(a) for a in itf.addresses)
                    self.notes.append(f"{node.name}: {itf.name} exists already; its addresses ({addrs}) are not added")


def plan(topology: Topology, *, sandbox_prefix: str | None = None, firewall: Firewall = "nftables") -> Plan:
    """The setup plan of a *checked* topology; `sandbox_prefix` selects sandbox mode (see topograph.sandbox)."""
    if firewall not in FIREWALLS:
        raise ValueError(f"unknown firewall back end {firewall!r}; known: {', '.join(FIREWALLS)}")
    placement = place(topology, sandbox_prefix)
    planner = _Planner(topology, placement, firewall)
    ops = planner.operations()
    requires = tuple(i.name for n in planner.nodes if placement.netns(n.name) is None for i in n.interfaces
                     if i.name != LOOPBACK and placement.is_existing(i))
    return Plan(lab=topology.name, source=Path(topology.file).name, prefix=sandbox_prefix, firewall=firewall,
                operations=tuple(ops), notes=tuple(planner.notes), requires=requires)
