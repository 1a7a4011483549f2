"""The topology as a networkx graph: who owns which interface, which interfaces share an L2 segment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from topograph.model import LOOPBACK, Interface, IPNetwork, Link, Topology

NodeId = tuple[str, ...]


def node_id(name: str) -> NodeId:
    return ("node", name)


def interface_id(node: str, name: str) -> NodeId:
    return ("if", node, name)


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


def build(topology: Topology) -> nx.MultiGraph:
    """Vertices: nodes and interfaces (bridges are interfaces); edges: 'has', 'port' and 'veth'."""
    g: nx.MultiGraph = nx.MultiGraph(name=topology.name)
    for node in topology.nodes:
        g.add_node(node_id(node.name), kind="node", node=node)
        for itf in node.interfaces:
            iid = interface_id(node.name, itf.name)
            g.add_node(iid, kind="bridge" if itf.is_bridge else "interface", interface=itf)
            g.add_edge(node_id(node.name), iid, kind="has")
        for itf in node.interfaces:
            if itf.bridge is not None:
                g.add_edge(interface_id(node.name, itf.name), interface_id(node.name, itf.bridge), kind="port")
    for link in topology.links:
        g.add_edge(interface_id(*link.a.key), interface_id(*link.b.key), kind="veth", link=link)
    return g


def l2_graph(topology: Topology) -> nx.Graph:
    """Interfaces (by key, (node, name)) joined by veth pairs and bridge ports; loopback stays out.

    Built from the topology straight away, not from `build`'s graph: validation needs only this, and
    on a big lab building the full graph first cost more than everything else validation does.
    """
    l2 = nx.Graph()
    l2.add_nodes_from(i.key for n in topology.nodes for i in n.interfaces if i.name != LOOPBACK)
    l2.add_edges_from((link.a.key, link.b.key) for link in topology.links)
    l2.add_edges_from(((n.name, i.name), (n.name, i.bridge)) for n in topology.nodes for i in n.interfaces
                      if i.bridge is not None)
    return l2


def segments(topology: Topology) -> tuple[Segment, ...]:
    """Every L2 segment, in a deterministic order."""
    interface = {i.key: i for n in topology.nodes for i in n.interfaces}
    out = [Segment(tuple(interface[key] for key in sorted(part))) for part in nx.connected_components(l2_graph(topology))]
    return tuple(sorted(out, key=lambda s: [i.key for i in s.interfaces]))


def link_of(g: nx.MultiGraph, node: str, interface: str) -> Link | None:
    for _, _, data in g.edges(interface_id(node, interface), data=True):
        if data["kind"] == "veth":
            link: Link = data["link"]
            return link
    return None
