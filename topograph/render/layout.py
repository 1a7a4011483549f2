"""Where things go: diagram vertices (nodes and bridges), edge direction, and leaf grids for big segments."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from functools import cached_property

from topograph.model import LOOPBACK, Link, Node, NodeKind, RpFilter, Topology

HEAD = "_head"  # port of a box's title cell; interface names cannot start with '_'
GRID_MIN = 12  # leaves on one bridge from which they are packed into a grid instead of one long column
LEAF_ASPECT = 3.2  # width/height of a leaf box in a grid; columns are chosen for a roughly square grid


def bridge_vertex(node: str, bridge: str) -> str:
    """The diagram id of a bridge: '/' cannot occur in node or interface names, so ids never clash."""
    return f"{node}/{bridge}"


def split_bridge_vertex(vertex: str) -> tuple[str, str]:
    """(holder node, bridge name) of a bridge's diagram id: the reverse of bridge_vertex."""
    holder, _, bridge = vertex.partition("/")
    return holder, bridge


def is_bridge_vertex(vertex: str) -> bool:
    return "/" in vertex


@dataclass(frozen=True, slots=True)
class End:
    """One end of a drawn edge: a box and a port (row) in it."""

    vertex: str
    port: str

    def ref(self, compass: str = "") -> str:
        return f"{self.vertex}:{self.port}" + (f":{compass}" if compass else "")


@dataclass(frozen=True, slots=True)
class Edge:
    """A drawn edge, tail towards the uplinks; `link` is None for a node's attachment to its own bridge."""

    tail: End
    head: End
    link: Link | None


@dataclass(frozen=True, slots=True)
class Grid:
    """Leaf namespaces of one bridge, packed column by column into a grid of `columns` ranks."""

    bridge: str
    leaves: tuple[str, ...]
    columns: int

    @property
    def rows(self) -> int:
        return math.ceil(len(self.leaves) / self.columns)

    def columns_of(self) -> list[tuple[str, ...]]:
        """Consecutive runs of `rows` leaves; fewer than `columns` when the last ones would be empty."""
        rows = self.rows
        return [self.leaves[i:i + rows] for i in range(0, len(self.leaves), rows)]


@dataclass(frozen=True)
class Layout:
    depth: dict[str, int]  # hops from the nearest uplink (external node, else gateway or host)
    edges: tuple[Edge, ...]
    grids: tuple[Grid, ...]

    @cached_property  # asked for by every step of a render; a big star has a thousand leaves
    def gridded(self) -> frozenset[str]:
        """Every leaf drawn in a grid."""
        return frozenset(leaf for g in self.grids for leaf in g.leaves)


def end_of(topology: Topology, node: str, interface: str) -> End:
    """A link end lands on the bridge box when the interface is a bridge port, else on the node's box."""
    itf = topology.interface(node, interface)
    if itf.bridge is not None:
        return End(bridge_vertex(node, itf.bridge), itf.name)
    return End(node, itf.name)


def arrange(topology: Topology, grid_min: int = GRID_MIN) -> Layout:
    """Where everything goes: the vertices in file order, each edge directed from the uplinks, and the leaf grids."""
    vertices: list[str] = []  # file order: each node, then the bridges it holds
    pairs: list[tuple[End, End, Link | None]] = []
    for node in topology.nodes:
        vertices.append(node.name)
        for br in node.bridges:
            vertices.append(bridge_vertex(node.name, br.name))
            pairs.append((End(node.name, br.name), End(bridge_vertex(node.name, br.name), HEAD), None))
    pairs += [(end_of(topology, *ln.a.key), end_of(topology, *ln.b.key), ln) for ln in topology.links]
    order = {v: i for i, v in enumerate(vertices)}
    depth = _depths(topology, vertices, pairs)
    edges = []
    for a, b, link in pairs:
        if (depth[b.vertex], order[b.vertex]) < (depth[a.vertex], order[a.vertex]):
            a, b = b, a
        edges.append(Edge(a, b, link))
    return Layout(depth, tuple(edges), _grids(topology, edges, depth, grid_min))


def _sources(topology: Topology) -> list[str]:
    """Where the left edge of the diagram is: the uplinks if any, else the gateways and the host."""
    external = [n.name for n in topology.nodes if n.kind is NodeKind.EXTERNAL]
    if external:
        return external
    return [n.name for n in topology.nodes if n.forwarding or n.kind is NodeKind.HOST]


def _depths(topology: Topology, vertices: list[str], pairs: list[tuple[End, End, Link | None]]) -> dict[str, int]:
    """Hops from the nearest uplink, over the diagram's own vertices (nodes and bridge boxes).

    Not the lab's networkx graph (front/graph.py): that one joins interfaces, and a node is no vertex of
    it by design (an edge through a node would merge segments a router keeps apart); the diagram needs
    the node-level graph, which is this short breadth-first walk over the drawn edges.
    """
    adjacent: dict[str, list[str]] = {v: [] for v in vertices}
    for a, b, _ in pairs:
        adjacent[a.vertex].append(b.vertex)
        adjacent[b.vertex].append(a.vertex)
    depth: dict[str, int] = {}

    def spread(starts: list[str]) -> None:  # breadth-first, so depth is the hop count from the nearest start
        queue = deque(starts)
        for s in starts:
            depth[s] = 0
        while queue:
            v = queue.popleft()
            for w in adjacent[v]:
                if w not in depth:
                    depth[w] = depth[v] + 1
                    queue.append(w)

    spread(_sources(topology))
    for v in vertices:  # a component without a source starts at its first vertex in file order
        if v not in depth:
            spread([v])
    return depth


def is_leaf(node: Node) -> bool:
    """A plain namespace with one interface: it can be drawn small, in a grid with its peers."""
    wired = [i for i in node.interfaces if i.name != LOOPBACK]
    return (node.kind is NodeKind.NAMESPACE and not node.forwarding and node.rp_filter is RpFilter.DISABLED
            and not node.nat and not node.port_forwards and not node.filter and len(wired) == 1 and not wired[0].is_bridge)


def _grids(topology: Topology, edges: list[Edge], depth: dict[str, int], grid_min: int) -> tuple[Grid, ...]:
    """Leaves hanging off a bridge (one rank further from the uplinks), grouped by bridge, where there are many."""
    leaves: dict[str, list[str]] = {}
    for e in edges:
        bridge, node = e.tail.vertex, e.head.vertex
        if (e.link is not None and is_bridge_vertex(bridge) and not is_bridge_vertex(node)
                and depth[node] > depth[bridge] and is_leaf(topology.node(node))):
            leaves.setdefault(bridge, []).append(node)
    big = {bridge: names for bridge, names in leaves.items() if len(names) >= grid_min}
    # grids at the same depth stack vertically, so size columns for all of them together: the stack
    # comes out roughly square instead of a tall strip of narrow grids
    total = sum(len(names) for names in big.values())
    width = max(1, round(math.sqrt(total / LEAF_ASPECT)))
    grids = [Grid(bridge, tuple(names), min(width, len(names))) for bridge, names in big.items()]
    return tuple(sorted(grids, key=lambda g: g.bridge))
