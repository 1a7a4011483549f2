"""A flow's way over the diagram: the boxes and edges its request (and reply) cross, and where it ends, and why.

The simulator's trace says, per hop, the interface a packet came in by (`received: in IF`), the route it left by
(`routed: route ... dev IF`) and the bridges it crossed; between a sender's way out and the receiver's way in, the
frame takes the path through the lab's L2 graph (topograph.front.graph.l2_graph). Those crossings are what the diagram
highlights: veth links, and a node's attachment to its own bridge when it sends or receives through it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import networkx as nx

from topograph.model import Link, Topology
from topograph.render.layout import HEAD, End, bridge_vertex, end_of
from topograph.sim.trace import Action, FlowResult, Trace

_DEV = re.compile(r" dev (\S+)")
_IN = re.compile(r"^in (\S+)$")


@dataclass(frozen=True, slots=True)
class Crossing:
    """The frame goes from one box's row to another's: over a veth pair (`link`) or a node's own bridge (None)."""

    start: End
    stop: End
    link: Link | None

    def same_edge(self, tail: End, head: End) -> bool:
        return {self.start, self.stop} == {tail, head}


@dataclass(frozen=True, slots=True)
class DrawnLeg:
    """One packet's way on the diagram: the boxes it visits and the edges it crosses, in order."""

    boxes: tuple[str, ...]
    crossings: tuple[Crossing, ...]

    def reversed(self) -> DrawnLeg:
        return DrawnLeg(tuple(reversed(self.boxes)),
                   tuple(Crossing(c.stop, c.start, c.link) for c in reversed(self.crossings)))


@dataclass(frozen=True, slots=True)
class Overlay:
    """What `render --trace` draws over the diagram; `reply` is None when the reply retraces the request."""

    result: FlowResult
    request: DrawnLeg
    reply: DrawnLeg | None
    reply_retraces: bool  # the reply came back exactly the request's way: its edges get arrows both ways

    @property
    def end_node(self) -> str:
        """The node where the flow was decided (delivered, or where it died)."""
        return self.result.node


def overlay(topology: Topology, g: nx.Graph, result: FlowResult) -> Overlay:
    request = leg(topology, g, result.request)
    reply = leg(topology, g, result.reply) if result.reply is not None else None
    retraces = reply is not None and reply.crossings == request.reversed().crossings
    return Overlay(result, request, None if retraces else reply, retraces)


def leg(topology: Topology, g: nx.Graph, trace: Trace) -> DrawnLeg:
    boxes: list[str] = []
    crossings: list[Crossing] = []
    out: tuple[str, str] | None = None  # (node, interface) the last routed packet left by
    for hop in trace.hops:
        if hop.steps and hop.steps[0].action is Action.BRIDGED:
            continue  # the bridge lies on the L2 path between sender and receiver: found there
        for step in hop.steps:
            if step.action is Action.RECEIVED and out is not None:
                m = _IN.match(step.detail)
                if m is not None:
                    crossings += _l2_path(topology, g, out, (hop.node, m.group(1)))
            if step.action is Action.ROUTED or (step.action is Action.BRIDGE_NF and "bridged on" in step.detail):
                m = _DEV.search(step.detail)
                out = (hop.node, m.group(1)) if m is not None else None
        if not boxes or boxes[-1] != hop.node:
            boxes.append(hop.node)
    # the bridges crossed are boxes too, in the order the frame met them
    ordered: list[str] = []
    for box in [*boxes, *(v for c in crossings for v in (c.start.vertex, c.stop.vertex))]:
        if box not in ordered:
            ordered.append(box)
    return DrawnLeg(tuple(ordered), tuple(crossings))


def _l2_path(topology: Topology, g: nx.Graph, a: tuple[str, str], b: tuple[str, str]) -> list[Crossing]:
    """The drawn edges between interface `a` (sending) and `b` (receiving) on one L2 segment."""
    if a not in g or b not in g:
        return []
    try:
        keys = nx.shortest_path(g, a, b)
    except nx.NetworkXNoPath:
        return []
    out: list[Crossing] = []
    if topology.interface(*a).is_bridge:  # the node sends through its own bridge: node box -> bridge box
        out.append(Crossing(End(a[0], a[1]), End(bridge_vertex(*a), HEAD), None))
    for u, v in itertools.pairwise(keys):
        link = g.edges[u, v].get("link")
        if link is not None:
            out.append(Crossing(end_of(topology, *u), end_of(topology, *v), link))
    if topology.interface(*b).is_bridge:
        out.append(Crossing(End(bridge_vertex(*b), HEAD), End(b[0], b[1]), None))
    return out
