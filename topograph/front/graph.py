"""The topology as one networkx graph of its interfaces: which share an L2 segment, and through which link."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from topograph.model import LOOPBACK, Interface, IPNetwork, Link, Topology


@dataclass(frozen=True)
class Segment:
    """One L2 broadcast domain: a veth pair, or a bridge with everything plugged into it."""

    interfaces: tuple[Interface, ...]

    @property
    def bridges(self) -> tuple[Interface, ...]:
        return tuple(i for i in self.interfaces if i.is_bridge)

    @property
    def name(self) -> str:
        if self.bridges:
            return ", ".join(b.label for b in self.bridges)
        return " <-> ".join(i.label for i in self.interfaces)

    @property
    def addressed(self) -> tuple[Interface, ...]:
        """Interfaces that take part in L3 on this segment (bridge ports do not)."""
        return tuple(i for i in self.interfaces if i.bridge is None)

    @cached_property
    def subnets(self) -> tuple[IPNetwork, ...]:
        nets = {a.network for i in self.interfaces for a in i.addresses}
        return tuple(sorted(nets, key=lambda n: (n.version, n)))


def l2_graph(topology: Topology) -> nx.Graph:
    """The lab as one networkx graph: every interface but loopback, keyed (node, name), joined by L2 edges.

    An edge is a veth pair (its data has the model's `link`) or a bridge port (no data) joining a port
    to its bridge. Validation finds L2 segments as its connected components, the simulator its working
    L2 domains (the edges whose ends have carrier, sim/l2.py) and the renderer a veth pair's link here.
    Which node owns an interface is the key's first part; nodes themselves are not vertices, since an
    edge through a node would join segments that a router keeps apart.
    """
    g = nx.Graph(name=topology.name)
    g.add_nodes_from(i.key for n in topology.nodes for i in n.interfaces if i.name != LOOPBACK)
    g.add_edges_from((link.a.key, link.b.key, {"link": link}) for link in topology.links)
    g.add_edges_from(((n.name, i.name), (n.name, i.bridge)) for n in topology.nodes for i in n.interfaces
                     if i.bridge is not None)
    return g


def segments(topology: Topology, g: nx.Graph | None = None) -> tuple[Segment, ...]:
    """Every L2 segment, in a deterministic order; `g` is the lab's l2_graph when the caller has it."""
    interface = {i.key: i for n in topology.nodes for i in n.interfaces}
    parts = nx.connected_components(l2_graph(topology) if g is None else g)
    out = [Segment(tuple(interface[key] for key in sorted(part))) for part in parts]
    return tuple(sorted(out, key=lambda s: [i.key for i in s.interfaces]))


def link_of(g: nx.Graph, node: str, interface: str) -> Link | None:
    """The veth pair that `node:interface` is an end of, if any (`g`: the lab's l2_graph)."""
    for data in g.adj.get((node, interface), {}).values():
        link: Link | None = data.get("link")
        if link is not None:
            return link
    return None
