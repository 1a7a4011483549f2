"""Where a topology's nodes and links live in the kernel, in real mode and in sandbox mode.

`place(topology, prefix)` answers, for the plan and for `apply`:

- which namespace holds each node (`kernel_names.netns_name`; None means the root namespace);
- which nodes topograph configures, and which links and interfaces it creates.

Real mode (no prefix) — the machine itself is the host:
  namespace nodes become namespaces named after them; the host node is the root namespace, where
  topograph creates bridges and veth ends and adds their addresses, routes, sysctls and firewall
  table; external nodes are left alone. Links to external nodes (the host's uplinks) and host
  interfaces in no link exist already: they are neither created nor addressed, and a host route
  that leaves through one of them is assumed present (the plan notes it instead of adding it).

Sandbox mode (prefix given) — the whole lab in namespaces of its own:
  every node, host and external ones included, is a namespace named PREFIX + node; uplinks become
  veth pairs like any other link; host and external interfaces in no link become stand-ins (port-less bridges);
  every address, route, sysctl and rule is configured. Nothing touches the root namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

from topograph import kernel_names
from topograph.front.quoting import quote
from topograph.model import LOOPBACK, Interface, IPAddress, Link, Node, NodeKind, Route, Topology


@dataclass(frozen=True, slots=True)
class Placement:
    """The kernel view of one topology in one mode; see the module docstring for the rules."""

    topology: Topology
    prefix: str | None
    netns_of: dict[str, str | None]  # node -> namespace (None: root); only nodes topograph configures
    created_links: tuple[Link, ...]
    stand_ins: tuple[Interface, ...]  # interfaces created as stand-ins (sandbox: unlinked host/external ones)
    existing: frozenset[tuple[str, str]]  # (node, interface) that exist already and are not touched

    @property
    def sandbox(self) -> bool:
        return self.prefix is not None

    def configures(self, node: str) -> bool:
        return node in self.netns_of

    def netns(self, node: str) -> str | None:
        return self.netns_of[node]

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace topograph creates, in node order."""
        return tuple(ns for ns in self.netns_of.values() if ns is not None)

    def is_existing(self, itf: Interface) -> bool:
        return itf.key in self.existing

    def created_interfaces(self, node: Node) -> tuple[Interface, ...]:
        """The node's interfaces topograph creates or configures (loopback included, pre-existing ones not)."""
        return tuple(i for i in node.interfaces if not self.is_existing(i))


def route_interface(node: Node, route: Route) -> Interface | None:
    """The interface a route leaves by: its `dev`, else the up interface whose subnet holds the gateway."""
    if route.dev is not None:
        return node.interface(route.dev)
    via: IPAddress | None = route.via
    if via is None:
        return None
    for itf in node.interfaces:
        if itf.up and any(via in a.network for a in itf.addresses):
            return itf
    return None


def place(topology: Topology, prefix: str | None = None) -> Placement:
    """Decide where everything of `topology` lives; `prefix` selects sandbox mode."""
    if prefix is not None:
        problem = kernel_names.prefix_problem(prefix)
        if problem:
            raise ValueError(f"sandbox prefix {quote(prefix)} {problem}")
    linked = {e.key for link in topology.links for e in link.ends}
    netns_of: dict[str, str | None] = {}
    stand_ins: list[Interface] = []
    existing: set[tuple[str, str]] = set()
    for node in topology.nodes:
        outside = node.kind is not NodeKind.NAMESPACE
        if prefix is not None:
            netns_of[node.name] = kernel_names.netns_name(node.name, prefix)
            if outside:
                stand_ins.extend(i for i in node.interfaces
                               if i.name != LOOPBACK and not i.is_bridge and i.key not in linked)
            continue
        if node.kind is NodeKind.NAMESPACE:
            netns_of[node.name] = kernel_names.netns_name(node.name)
        elif node.kind is NodeKind.HOST:
            netns_of[node.name] = None
            # the machine's own loopback and its interfaces in no link exist already
            existing.update(i.key for i in node.interfaces
                            if i.name == LOOPBACK or (not i.is_bridge and i.key not in linked))
        else:
            existing.update(i.key for i in node.interfaces)
    created = tuple(link for link in topology.links if prefix is not None or not link.external)
    if prefix is None:
        for link in topology.links:
            if link.external:
                existing.update(e.key for e in link.ends)
    return Placement(topology=topology, prefix=prefix, netns_of=netns_of, created_links=created,
                     stand_ins=tuple(stand_ins), existing=frozenset(existing))
