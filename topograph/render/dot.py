"""The topology as deterministic DOT text: boxes per node and bridge, edges per link, grids for big segments."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import graphviz
import networkx as nx

from topograph import graph as tg
from topograph.model import Interface, IPNetwork, Node, Topology
from topograph.render import labels, legend, style
from topograph.render.layout import HEAD, Edge, Grid, Layout, bridge_vertex, plan

ROUTES_AUTO_MAX = 60  # up to this many nodes, route tables are drawn unless --no-routes


@dataclass(frozen=True, slots=True)
class Options:
    routes: bool | None = None  # None: draw route tables for labs up to ROUTES_AUTO_MAX nodes
    grid_min: int | None = None  # leaves per bridge from which they are packed in a grid (None: the default)

    def with_routes(self, topology: Topology) -> bool:
        return self.routes if self.routes is not None else len(topology.nodes) <= ROUTES_AUTO_MAX


def to_dot(topology: Topology, g: nx.MultiGraph, options: Options = Options()) -> str:
    """DOT source of the diagram; the same topology and options always give the same bytes."""
    layout = plan(topology) if options.grid_min is None else plan(topology, options.grid_min)
    with_routes = options.with_routes(topology)
    dot = graphviz.Digraph(
        name=topology.name,
        graph_attr={"rankdir": "LR", "newrank": "true", "compound": "true", "fontname": style.FONT,
                    "label": f"<{legend.title(topology)}>", "labelloc": "t", "labeljust": "l",
                    "nodesep": "0.25", "ranksep": "0.9", "pad": "0.3", "bgcolor": "white"},
        node_attr={"shape": "plain", "fontname": style.FONT, "fontsize": "11", "fontcolor": style.TEXT},
        edge_attr={"dir": "none", "fontname": style.FONT, "fontsize": "10", "color": style.LINK, "penwidth": "1.4"},
    )
    _boxes(dot, topology, g, layout, with_routes)
    subnets = _veth_subnets(g)
    gridded = layout.gridded
    for edge in layout.edges:
        if edge.head.vertex not in gridded:
            _edge(dot, edge, subnets)
    for i, grid in enumerate(layout.grids):
        _grid(dot, topology, grid, i, with_routes)
    source: str = dot.source
    return source


def _segment_subnets(g: nx.MultiGraph) -> dict[str, tuple[IPNetwork, ...]]:
    """Subnets of each bridged segment, keyed by the segment's first bridge only, so they are drawn once."""
    out = {}
    for seg in tg.segments(g):
        if seg.bridges and seg.subnets:
            first = seg.bridges[0]
            out[bridge_vertex(first.node, first.name)] = seg.subnets
    return out


def _veth_subnets(g: nx.MultiGraph) -> dict[int, tuple[IPNetwork, ...]]:
    """Subnets of each segment that is a bare veth pair, keyed by link index: drawn on the edge."""
    out: dict[int, tuple[IPNetwork, ...]] = {}
    for seg in tg.segments(g):
        if not seg.bridges and seg.subnets and seg.interfaces:
            link = tg.link_of(g, *seg.interfaces[0].key)
            if link is not None:
                out[link.index] = seg.subnets
    return out


def _boxes(dot: graphviz.Digraph, topology: Topology, g: nx.MultiGraph, layout: Layout, with_routes: bool) -> None:
    segment_subnets = _segment_subnets(g)
    gridded = layout.gridded
    inbound = _inbound_forwards(topology)
    counts: dict[str, int] = {grid.bridge: len(grid.leaves) for grid in layout.grids}
    for node in topology.nodes:
        if node.name in gridded:
            continue
        if not node.bridges:
            dot.node(node.name, f"<{labels.node_label(node, with_routes, inbound)}>")
            continue
        # a node and the bridges it holds share a cluster: the switches are visibly inside their holder
        with dot.subgraph(name=f"cluster_node_{node.name}") as c:
            c.attr(label=f"{node.name} and its bridges", labeljust="l", fontsize="10", fontcolor=style.MUTED,
                   style="rounded,dashed", color=style.CLUSTER, penwidth="1.2", margin="10")
            c.node(node.name, f"<{labels.node_label(node, with_routes, inbound)}>")
            for br in node.bridges:
                vid = bridge_vertex(node.name, br.name)
                shown = [p for p in _ports(node, br.name) if p.name not in _gridded_ports(topology, layout, vid)]
                c.node(vid, f"<{labels.bridge_label(node.name, br, shown, segment_subnets.get(vid), counts.get(vid, 0))}>")


def _ports(node: Node, bridge: str) -> list[Interface]:
    return [i for i in node.interfaces if i.bridge == bridge]


def _gridded_ports(topology: Topology, layout: Layout, bridge: str) -> frozenset[str]:
    """Bridge ports whose peers sit in a grid: named on the peers' boxes instead of in the bridge's rows."""
    gridded = layout.gridded
    return frozenset(e.tail.port for e in layout.edges
                     if e.tail.vertex == bridge and e.link is not None and e.head.vertex in gridded)


def _edge(dot: graphviz.Digraph, edge: Edge, subnets: dict[int, tuple[IPNetwork, ...]]) -> None:
    tail, head = edge.tail.ref("e"), edge.head.ref("w")
    if edge.link is None:  # a node's own bridge: a short, thick attachment
        dot.edge(tail, head, color=style.BRIDGE.border, penwidth="3", weight="8")
        return
    link = edge.link
    attrs = {"tooltip": f"{link.a} ↔ {link.b}"}
    nets = subnets.get(link.index)
    if nets:
        attrs["label"] = f"<{'<BR/>'.join(labels.mono(str(n), size=10, color=style.SUBNET) for n in nets)}>"
    if link.external:
        attrs.update(style="dashed", color=style.UPLINK)
    dot.edge(tail, head, **attrs)


def _grid(dot: graphviz.Digraph, topology: Topology, grid: Grid, index: int, with_routes: bool) -> None:
    """Leaves of a big segment as a grid: invisible edges put column c+1 one rank after column c."""
    inbound = _inbound_forwards(topology)
    holder, bridge = grid.bridge.split("/", 1)
    peers = {}
    for link in topology.links:
        for mine, other in ((link.a, link.b), (link.b, link.a)):
            if mine.node in grid.leaves:
                peers[mine.node] = f"{bridge}:{other.interface}"
    name = f"cluster_grid_{index}"
    columns = grid.columns_of()
    with dot.subgraph(name=name) as c:
        c.attr(label=f"{len(grid.leaves)} namespaces on bridge {bridge} of {holder}", labeljust="l",
               style="rounded", color=style.BRIDGE.border, fontcolor=style.BRIDGE.border, fontsize="12", margin="12")
        for leaf in grid.leaves:
            c.node(leaf, f"<{labels.leaf_label(topology.node(leaf), peers[leaf], with_routes, inbound)}>")
    middle = columns[0][len(columns[0]) // 2]
    dot.edge(f"{grid.bridge}:_grid:e", f"{middle}:{HEAD}:w", lhead=name, color=style.BRIDGE.border, penwidth="3")
    for leaf in columns[0]:
        if leaf != middle:
            dot.edge(f"{grid.bridge}:_grid:e", leaf, style="invis")
    for left, right in itertools.pairwise(columns):
        for a, b in zip(left, right, strict=False):
            dot.edge(a, b, style="invis")


def _inbound_forwards(topology: Topology) -> dict[tuple[str, str], list[str]]:
    """Port forwards by the interface that receives them, so the target row says who forwards what to it."""
    out: dict[tuple[str, str], list[str]] = {}
    for node in topology.nodes:
        for pf in node.port_forwards:
            owner = topology.owner_of(pf.to_address)
            if owner is not None:
                out.setdefault(owner.key, []).append(f"◀ {pf.proto}/{pf.port} forwarded by {node.name} → :{pf.to_port}")
    return out
