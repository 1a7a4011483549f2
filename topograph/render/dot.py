"""The topology as deterministic DOT text: boxes per node and bridge, edges per link, grids for big segments."""

from __future__ import annotations

import html
import itertools
import textwrap
from dataclasses import dataclass

import graphviz
import networkx as nx

from topograph.front import graph as tg
from topograph.model import IPNetwork, Link, Topology
from topograph.render import filters, labels, legend, style
from topograph.render.layout import GRID_MIN, HEAD, Edge, End, Grid, Layout, arrange, bridge_vertex, split_bridge_vertex
from topograph.render.path import Crossing, Overlay

MARKER = "_verdict"  # the end marker's box (render --trace): ids starting with '_' are never nodes
MARKER_WRAP = 60  # characters per line of the marker's reason: graphviz never wraps
ROUTES_AUTO_MAX = 60  # up to this many nodes, route tables are drawn unless --no-routes


@dataclass(frozen=True, slots=True)
class Options:
    routes: bool | None = None  # None: draw route tables for labs up to ROUTES_AUTO_MAX nodes
    grid_min: int = GRID_MIN  # leaves per bridge from which they are packed in a grid
    rules: bool | None = None  # filter rules and listeners; None: wherever route tables are drawn

    def with_routes(self, topology: Topology) -> bool:
        return self.routes if self.routes is not None else len(topology.nodes) <= ROUTES_AUTO_MAX

    def with_rules(self, topology: Topology) -> bool:
        return self.rules if self.rules is not None else self.with_routes(topology)


@dataclass(frozen=True, slots=True)
class Changes:
    """What a design review marks as added or changed since an older design (review --against): boxes
    (node names, bridge vertices) outlined, interface rows filled, links (by index) drawn in style.CHANGED."""

    boxes: frozenset[str] = frozenset()
    interfaces: frozenset[tuple[str, str]] = frozenset()
    links: frozenset[int] = frozenset()


@dataclass(frozen=True)
class _Facts:
    """What the drawing needs to look up, computed once (big labs would otherwise rescan every node per box)."""

    topology: Topology
    layout: Layout
    with_routes: bool
    with_rules: bool
    denied: filters.Denied | None  # where a traced flow was denied by a filter (render --trace)
    bridge_subnets: dict[str, tuple[IPNetwork, ...]]  # bridge vertex -> its segment's subnets (first bridge only)
    veth_subnets: dict[int, tuple[IPNetwork, ...]]  # link index -> subnets of a bare veth-pair segment
    inbound: dict[tuple[str, str], list[str]]  # interface key -> port forwards that land on it
    grid_ports: dict[str, End]  # gridded leaf -> the bridge port it plugs into (named on the leaf, not the bridge)
    marks: dict[str, str]  # box -> the colour of the flow drawn over it (render --trace), or of a change
    changed: frozenset[tuple[str, str]]  # interfaces added or changed (review --against): their rows are filled

    @classmethod
    def of(cls, topology: Topology, g: nx.Graph, options: Options, overlay: Overlay | None = None,
           changes: Changes | None = None) -> _Facts:
        layout = arrange(topology, options.grid_min)
        bridge_subnets, veth_subnets = _subnets(topology, g)
        gridded = layout.gridded
        grid_ports = {e.head.vertex: e.tail for e in layout.edges if e.link is not None and e.head.vertex in gridded}
        marks: dict[str, str] = {}
        if overlay is not None:
            marks = dict.fromkeys(overlay.reply.boxes if overlay.reply else (), style.REPLY)
            marks.update(dict.fromkeys(overlay.request.boxes, style.REQUEST))
        if changes is not None:
            marks.update(dict.fromkeys(changes.boxes, style.CHANGED))
        denied = filters.denied(overlay.result, {n.name: n for n in topology.nodes}) if overlay is not None else None
        return cls(topology, layout, options.with_routes(topology), options.with_rules(topology), denied,
                   bridge_subnets, veth_subnets,
                   _inbound_forwards(topology), grid_ports, marks,
                   changes.interfaces if changes is not None else frozenset())


def to_dot(topology: Topology, g: nx.Graph, options: Options = Options(), overlay: Overlay | None = None,
           changes: Changes | None = None) -> str:
    """DOT source of the diagram; the same topology and options always give the same bytes.

    `overlay`: a flow to draw over it (render --trace): its request's edges and boxes, its reply's where it
    takes another way, and a marker at the node where it was delivered or died, saying why.
    `changes`: what is new or changed since an older design (review --against), marked in style.CHANGED.
    """
    facts = _Facts.of(topology, g, options, overlay, changes)
    gridded = facts.layout.gridded
    lines = [e for e in facts.layout.edges if e.head.vertex not in gridded]  # a grid's links are not drawn one by one
    title = legend.title(topology, subnets=bool(facts.bridge_subnets or facts.veth_subnets),
                         veth_lines=any(e.link is not None and not e.link.external for e in lines),
                         changes=(bool(changes.boxes), bool(changes.links)) if changes else (False, False),
                         rules=facts.with_rules)
    dot = graphviz.Digraph(
        name=topology.name,
        graph_attr={"rankdir": "LR", "newrank": "true", "compound": "true", "fontname": style.FONT,
                    "label": f"<{title}>", "labelloc": "t", "labeljust": "l",
                    "nodesep": "0.25", "ranksep": "0.9", "pad": "0.3", "bgcolor": "white"},
        node_attr={"shape": "plain", "fontname": style.FONT, "fontsize": "11", "fontcolor": style.TEXT},
        edge_attr={"dir": "none", "fontname": style.FONT, "fontsize": "10", "color": style.LINK, "penwidth": "1.4"},
    )
    _boxes(dot, facts)
    for edge in lines:
        _edge(dot, edge, facts.veth_subnets, overlay, changes, facts.topology)
    for i, grid in enumerate(facts.layout.grids):
        _grid(dot, facts, grid, i)
    if overlay is not None:
        _overlay(dot, facts, overlay)
    source: str = dot.source
    return source


def _subnets(topology: Topology, g: nx.Graph) -> tuple[dict[str, tuple[IPNetwork, ...]], dict[int, tuple[IPNetwork, ...]]]:
    """Each segment's subnets, drawn once: on its first bridge, or on the edge of a bare veth pair."""
    on_bridge: dict[str, tuple[IPNetwork, ...]] = {}
    on_link: dict[int, tuple[IPNetwork, ...]] = {}
    for seg in tg.segments(topology, g):
        if not seg.subnets:
            continue
        if seg.bridges:
            first = seg.bridges[0]
            on_bridge[bridge_vertex(first.node, first.name)] = seg.subnets
        elif seg.interfaces:
            link = tg.link_of(g, *seg.interfaces[0].key)
            if link is not None:
                on_link[link.index] = seg.subnets
    return on_bridge, on_link


def _boxes(dot: graphviz.Digraph, facts: _Facts) -> None:
    layout = facts.layout
    gridded = layout.gridded
    counts = {grid.bridge: len(grid.leaves) for grid in layout.grids}
    hidden_ports = set(facts.grid_ports.values())
    for node in facts.topology.nodes:
        if node.name in gridded:
            continue
        box = labels.node_label(node, facts.with_routes, facts.inbound, facts.marks.get(node.name), facts.changed,
                                filters.cells(node, facts.with_rules, facts.denied))
        box = f"<{box}>"
        if not node.bridges:
            dot.node(node.name, box)
            continue
        # a node and the bridges it holds share a cluster: the switches are visibly inside their holder
        with dot.subgraph(name=f"cluster_node_{node.name}") as c:
            c.attr(label=f"{node.name} and its bridges", labeljust="l", fontsize="10", fontcolor=style.MUTED,
                   style="rounded,dashed", color=style.CLUSTER, penwidth="1.2", margin="10")
            c.node(node.name, box)
            for br in node.bridges:
                vid = bridge_vertex(node.name, br.name)
                # ports whose peers sit in a grid are named on the peers' boxes instead of in the bridge's rows
                shown = [p for p in node.interfaces if p.bridge == br.name and End(vid, p.name) not in hidden_ports]
                label = labels.bridge_label(node.name, br, shown, facts.bridge_subnets.get(vid), counts.get(vid, 0),
                                            facts.marks.get(vid), facts.changed)
                c.node(vid, f"<{label}>")


def _edge(dot: graphviz.Digraph, edge: Edge, subnets: dict[int, tuple[IPNetwork, ...]], overlay: Overlay | None,
          changes: Changes | None = None, topology: Topology | None = None) -> None:
    tail, head = edge.tail.ref("e"), edge.head.ref("w")
    arrows = _arrows(edge, overlay.request.crossings, overlay.reply_retraces) if overlay is not None else None
    path: dict[str, str] = {}
    if arrows is not None:
        path = {"color": style.REQUEST, "penwidth": "4", "arrowsize": "0.8", "style": "solid", "dir": arrows}
    if edge.link is None:  # a node's own bridge: a short, thick attachment
        dot.edge(tail, head, **{"color": style.BRIDGE.border, "penwidth": "3", "weight": "8", **path})
        return
    link = edge.link
    attrs = {"tooltip": f"{link.a} ↔ {link.b}"}
    parts = [labels.mono(str(n), size=10, color=style.SUBNET) for n in subnets.get(link.index, ())]
    parts += [labels.small(html.escape(line), style.TEXT) for line in impairments(topology, link)] if topology else []
    if parts:
        attrs["label"] = f"<{'<BR/>'.join(parts)}>"
    if link.external:
        attrs.update(style="dashed", color=style.UPLINK)
    if changes is not None and link.index in changes.links:
        attrs.update(color=style.CHANGED, penwidth="3", tooltip=f"added: {link.a} ↔ {link.b}")
    dot.edge(tail, head, **{**attrs, **path})


def impairments(topology: Topology, link: Link) -> list[str]:
    """The link's netem for its label: one line when both ends impair alike ('each way'), else one per end."""
    found = [(e, topology.interface(*e.key).netem) for e in link.ends]
    if all(n is None for _, n in found):
        return []
    (_, na), (_, nb) = found
    if na == nb and na is not None:
        return [f"netem {na.label()}, each way"]
    return [f"netem from {e.node}: {n.label()}" for e, n in found if n is not None]


def _arrows(edge: Edge, crossings: tuple[Crossing, ...], both: bool = False) -> str | None:
    """The DOT `dir` of a drawn edge that a leg crosses (None: it does not): a hairpin crosses it both ways."""
    ways = {c.start == edge.tail for c in crossings if c.link == edge.link and c.same_edge(edge.tail, edge.head)}
    if not ways:
        return None
    return "both" if both or len(ways) == 2 else ("forward" if True in ways else "back")


def _overlay(dot: graphviz.Digraph, facts: _Facts, overlay: Overlay) -> None:
    """What the drawn edges cannot carry: the request into a grid, the reply's own way, the end marker."""
    gridded = facts.layout.gridded
    extra: list[tuple[Edge, str, bool]] = []  # (edge, DOT dir, is the reply's)
    for edge in facts.layout.edges:
        if edge.head.vertex in gridded:  # a grid's links are not drawn one by one: the path's is, over it
            arrows = _arrows(edge, overlay.request.crossings, overlay.reply_retraces)
            if arrows is not None:
                extra.append((edge, arrows, False))
        if overlay.reply is not None:
            arrows = _arrows(edge, overlay.reply.crossings)
            if arrows is not None:
                extra.append((edge, arrows, True))
    for edge, arrows, reply in extra:
        # a gridded leaf's port is not a row of its bridge: the path leaves by the row that leads to the grid
        tail = End(edge.tail.vertex, labels.GRID_PORT) if edge.head.vertex in gridded else edge.tail
        dot.edge(tail.ref("e"), edge.head.ref("w"), constraint="false", dir=arrows, arrowsize="0.8",
                 color=style.REPLY if reply else style.REQUEST, penwidth="3" if reply else "4",
                 style="dashed" if reply else "solid", tooltip="reply" if reply else "request")
    _marker(dot, overlay, facts)


def _marker(dot: graphviz.Digraph, overlay: Overlay, facts: _Facts) -> None:
    """A note beside the node where the flow was decided: delivered, or the disposition and the reason it died."""
    r = overlay.result
    look = style.ARRIVED if r.ok else style.DIED
    head = f"✔ {r.disposition} at {r.node}" if r.ok else f"✖ {r.disposition} at {r.node}"
    lines = textwrap.wrap(r.reason, MARKER_WRAP)
    key = [f'<FONT COLOR="{style.REQUEST}"><B>━━</B></FONT> request']
    if overlay.reply is not None:
        key.append(f'<FONT COLOR="{style.REPLY}"><B>┅┅</B></FONT> reply')
    elif overlay.reply_retraces:
        key = [f'<FONT COLOR="{style.REQUEST}"><B>◀━▶</B></FONT> request, and the reply the same way back']
    rows = [labels.row(f'<B><FONT COLOR="{look.border}">{html.escape(head)}</FONT></B>', bg=look.header),
            labels.row(labels.small(html.escape(f"flow {r.flow}"), style.TEXT)),
            labels.row(labels.left_lines(html.escape(line) for line in lines)),
            *_denial(facts),
            labels.row(labels.small("   ".join(key), style.TEXT))]
    dot.node(MARKER, f"<{labels.html_table(rows, look, border=2)}>")
    dot.edge(f"{overlay.end_node}:{HEAD}", MARKER, color=look.border, style="dashed", penwidth="2", arrowhead="none")


def _denial(facts: _Facts) -> list[str]:
    """The marker's row naming the chain and rule that denied the flow (also where --no-rules hides the rules)."""
    if facts.denied is None:
        return []
    text = filters.denied_text(facts.denied, facts.topology.node(facts.denied.node))
    lines = textwrap.wrap(f"denied by {text}", MARKER_WRAP)
    return [labels.row(labels.left_lines(labels.small(html.escape(line), style.DENY) for line in lines))]


def _grid(dot: graphviz.Digraph, facts: _Facts, grid: Grid, index: int) -> None:
    """Leaves of a big segment as a grid: invisible edges put column c+1 one rank after column c."""
    holder, bridge = split_bridge_vertex(grid.bridge)
    name = f"cluster_grid_{index}"
    columns = grid.columns_of()
    with dot.subgraph(name=name) as c:
        c.attr(label=f"{len(grid.leaves)} namespaces on bridge {bridge} of {holder}", labeljust="l",
               style="rounded", color=style.BRIDGE.border, fontcolor=style.BRIDGE.border, fontsize="12", margin="12")
        for leaf in grid.leaves:
            label = labels.leaf_label(facts.topology.node(leaf), f"{bridge}:{facts.grid_ports[leaf].port}",
                                      facts.with_routes, facts.inbound, facts.marks.get(leaf),
                                      filters.cells(facts.topology.node(leaf), facts.with_rules))
            c.node(leaf, f"<{label}>")
    grid_port = End(grid.bridge, labels.GRID_PORT).ref("e")
    middle = columns[0][len(columns[0]) // 2]
    dot.edge(grid_port, f"{middle}:{HEAD}:w", lhead=name, color=style.BRIDGE.border, penwidth="3")
    for leaf in columns[0]:
        if leaf != middle:
            dot.edge(grid_port, leaf, style="invis")
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
