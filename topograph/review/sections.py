"""The review page's sections: one function each, from the checked lab to a small typed value the templates show.

A section is `(kind, title, function)` in SECTIONS; its value is rendered by the macro of the same name in
templates/review/sections.html.j2 and sections.md.j2. A new section (a diff against an older file, what-if
failures) is one more function here (taking what it needs from Context, returning None to be left out), one
entry in SECTIONS, and one macro per format; the page, its navigation and the browser test pick it up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import networkx as nx

from topograph.front import graph as tg
from topograph.front.diagnostics import Diagnostic, count
from topograph.model import LOOPBACK, FilterChain, Interface, Masquerade, Node, RuleAction, Topology
from topograph.render import Options, to_dot
from topograph.render.dot import Changes
from topograph.render.path import overlay
from topograph.review.diff import DesignDiff
from topograph.review.views import (
    MATRIX_MAX,
    Broken,
    Cell,
    CellGroup,
    ChainView,
    ChangesView,
    ExpectationView,
    Explanation,
    FailureRow,
    FailuresView,
    Figure,
    Header,
    InterfaceRow,
    MatrixView,
    Member,
    NodeView,
    RuleRow,
    SegmentPlan,
    Tally,
    WarningView,
)
from topograph.sim.classes import fast_matrix
from topograph.sim.expect import evaluate
from topograph.sim.failures import single_failures
from topograph.sim.forward import Walker
from topograph.sim.matrix import SHORT, Matrix, targets
from topograph.sim.network import Network
from topograph.sim.trace import Disposition, FlowResult, render

TIMES = "\u00d7"  # the multiplication sign: N sources by M targets
EXPLAIN_MAX = 40  # flows explained hop by hop when the matrix is summarised

Draw = Callable[[str], str]  # DOT -> SVG

#: A disposition in a few letters, for matrices of many columns.
TINY: dict[Disposition, str] = {
    Disposition.DELIVERED: "ok", Disposition.NO_ROUTE: "NR", Disposition.NEIGHBOR_UNREACHABLE: "NN",
    Disposition.FORWARDING_DISABLED: "NF", Disposition.RP_FILTER_DROP: "RP", Disposition.LOOP: "LP",
    Disposition.TTL_EXCEEDED: "TTL", Disposition.LOOPBACK_DOWN: "LO", Disposition.NAT_NO_RETURN: "NAT",
    Disposition.REPLY_LOST: "RL", Disposition.CONNECTION_REFUSED: "RF", Disposition.FILTER_DROPPED: "FD",
    Disposition.FILTER_REJECTED: "FR", Disposition.BRIDGE_HAIRPIN: "HP",
}


@dataclass
class Context:
    """What every section reads: the checked lab, its simulator, and how to draw a diagram."""

    topology: Topology
    graph: nx.Graph
    warnings: tuple[Diagnostic, ...]
    draw: Draw
    against: DesignDiff | None = None  # review --against OLD: the diff from OLD to this lab
    changes: Changes | None = None  # and what of this lab is new or changed, marked on the diagram
    failures: bool = False  # review --failures: the single failures that break an expectation

    @cached_property
    def net(self) -> Network:
        return Network(self.topology, graph=self.graph)


@dataclass(frozen=True, slots=True)
class Section:
    kind: str  # the section function's name, and the templates' macro name
    title: str
    value: object

    @property
    def id(self) -> str:
        return self.kind.replace("_", "-")


@dataclass(frozen=True, slots=True)
class Page:
    header: Header
    sections: tuple[Section, ...] = field(default=())


# -- the sections -----------------------------------------------------------------------------------

def header(ctx: Context) -> Header:
    t = ctx.topology
    summary = ", ".join(count(len(things), what) for things, what in
                        ((t.nodes, "node"), (t.links, "link"), (t.expectations, "expectation")))
    description = tuple(t.description.strip().splitlines()) if t.description else ()
    return Header(t.name, t.file, description, summary)


def diagram(ctx: Context) -> Figure:
    return _figure(ctx, to_dot(ctx.topology, ctx.graph, Options(), changes=ctx.changes), "diagram", "")


def _figure(ctx: Context, dot: str, name: str, caption: str) -> Figure:
    return Figure(inline_svg(ctx.draw(dot), f"{name}-"), f"{name}.svg", caption)


def address_plan(ctx: Context) -> tuple[SegmentPlan, ...]:
    """Per L2 segment: its subnets, the interfaces with addresses on it, and the gateways routes use there."""
    t = ctx.topology
    via: dict[str, list[str]] = {}  # gateway address -> nodes with a route through it
    for n in t.nodes:
        for r in n.routes:
            if r.via is not None and n.name not in via.setdefault(str(r.via), []):
                via[str(r.via)].append(n.name)
    out = []
    order = {n.name: k for k, n in enumerate(t.nodes)}
    for seg in tg.segments(t, ctx.graph):
        shown = sorted((i for i in seg.interfaces if i.addresses or i.bridge is None), key=lambda i: order[i.node])
        members = tuple(_member(t, i) for i in shown)
        gateways = tuple(f"{a.ip} ({i.node}) for {_some(via[str(a.ip)])}"
                         for i in seg.interfaces for a in i.addresses if str(a.ip) in via)
        out.append(SegmentPlan(seg.name, tuple(str(s) for s in seg.subnets), members, gateways))
    loopbacks = tuple(Member(n.name, LOOPBACK, tuple(str(a) for a in itf.addresses))
                      for n in t.nodes for itf in n.interfaces if itf.name == LOOPBACK and itf.addresses)
    if loopbacks:
        out.append(SegmentPlan("loopback (each node's own)", (), loopbacks, ()))
    return tuple(out)


def _some(names: list[str], most: int = 8) -> str:
    """Names, or the first few and how many in all."""
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most])}, … ({len(names)} nodes)"


def _member(t: Topology, i: Interface) -> Member:
    note = "bridge" if i.is_bridge else ""
    if t.node(i.node).forwarding:
        note = ", ".join(x for x in (note, "forwards") if x)
    return Member(i.node, i.name, tuple(str(a) for a in i.addresses), note)


def nodes(ctx: Context) -> tuple[NodeView, ...]:
    """Every node; in a lab of more than MATRIX_MAX nodes, nodes alike but for their addresses as one entry."""
    views = [_node(n) for n in ctx.topology.nodes]
    if len(views) <= MATRIX_MAX:
        return tuple(views)
    groups: dict[tuple[object, ...], list[NodeView]] = {}
    for v in views:
        shape = (v.kind, v.forwarding, v.rp_filter, v.routes, v.nat, v.port_forwards, v.filter, v.listen,
                 tuple((i.name, len(i.addresses), i.notes) for i in v.interfaces))
        groups.setdefault(shape, []).append(v)
    return tuple(replace(g[0], alike=tuple(v.name for v in g[1:])) for g in groups.values())


def _node(n: Node) -> NodeView:
    rows = []
    for i in n.interfaces:
        if i.name == LOOPBACK and not i.addresses and i.up:
            continue
        notes = []
        if i.is_bridge:
            notes.append("bridge")
        if i.bridge is not None:
            notes.append(f"port of bridge {i.bridge}")
        if i.mtu is not None:
            notes.append(f"mtu {i.mtu}")
        if i.mac is not None:
            notes.append(f"mac {i.mac}")
        if not i.up:
            notes.append("DOWN")
        rows.append(InterfaceRow(i.name, tuple(str(a) for a in i.addresses), ", ".join(notes)))
    nat = tuple(f"MASQUERADE {m.source} out {m.out}" if isinstance(m, Masquerade) else str(m) for m in n.nat)
    forwards = tuple(f"{f.proto}/{f.port} → {f.target}{f.conditions}" for f in n.port_forwards)
    return NodeView(n.name, str(n.kind), n.forwarding, str(n.rp_filter), tuple(rows), tuple(str(r) for r in n.routes),
                    nat, forwards, tuple(_chain(c) for c in n.filter), tuple(str(p) for p in n.listen))


def _chain(c: FilterChain) -> ChainView:
    rows = tuple(RuleRow(i + 1, str(r.action), r.describe()[len(r.action):].strip() or "every packet",
                         r.action is RuleAction.ACCEPT) for i, r in enumerate(c.rules))
    return ChainView(str(c.hook), str(c.policy), rows)


def matrix(ctx: Context) -> MatrixView:
    """Who reaches whom; every cell that is not delivered links to its explanation. Big labs: tallies only."""
    t, net = ctx.topology, ctx.net
    cols = targets(t)
    m: Matrix = fast_matrix(net, cols)
    order = list(Disposition)
    tallies = tuple(Tally(SHORT[d], TINY[d], str(d), n)
                    for d, n in sorted(m.counts().items(), key=lambda kv: order.index(kv[0])))
    walker = Walker(net)

    def explain(i: int, j: int) -> Explanation:
        src, target = m.sources[i], cols[j]
        return _explain(t, f"why-{i}-{j}", src, target.name, walker.run(target.flow(src, net)))

    failing = sum(tl.cells for tl in tallies if tl.disposition != Disposition.DELIVERED)
    undelivered = f"{count(failing, 'flow')} not delivered" if failing else "every flow is delivered"
    size = f"{count(len(m.sources), 'source')} {TIMES} {count(len(cols), 'target')}"
    if len(t.nodes) > MATRIX_MAX:  # never every cell: the first failures, found in the matrix's bit sets
        explanations = [explain(i, j) for i, j in _first_failures(m, EXPLAIN_MAX)]
        shown = f"; the first {len(explanations)} are explained below" if len(explanations) < failing else ""
        note = (f"{size} ({len(m)} flows) are too many for a table (over {MATRIX_MAX} nodes): here is the tally by "
                f"disposition; {undelivered}{shown}. Every cell:")
        return MatrixView(tuple(c.name for c in cols), (), tallies, tuple(explanations), note, f"topograph reach {t.file}")
    explanations = []
    table: list[tuple[str, tuple[Cell, ...]]] = []
    for i, (src, row) in enumerate(zip(m.sources, m.rows(), strict=True)):
        cells = []
        for j, v in enumerate(row):
            anchor = None
            if not v.ok:
                explanations.append(explain(i, j))
                anchor = explanations[-1].anchor
            cells.append(Cell(SHORT[v.disposition], TINY[v.disposition], str(v.disposition), v.node, anchor))
        table.append((src, tuple(cells)))
    note = (f"{size}: rows are sources, columns each node's first address and every port forward "
            f"(a TCP connection); {undelivered}.")
    return MatrixView(tuple(c.name for c in cols), tuple(table), tallies, tuple(explanations), note)


def _first_failures(m: Matrix, most: int) -> list[tuple[int, int]]:
    """The first `most` (source, target) cells that are not delivered, row by row."""
    failing = [0] * len(m.targets)  # per column: the bit set of sources whose flow is not delivered
    for j, column in enumerate(m.columns):
        for v, bits in column:
            if not v.ok:
                failing[j] |= bits
    out: list[tuple[int, int]] = []
    for i in range(len(m.sources)):
        bit = 1 << i
        out += [(i, j) for j, bits in enumerate(failing) if bits & bit][: most - len(out)]
        if len(out) >= most:
            break
    return out


def _explain(t: Topology, anchor: str, src: str, dst: str, result: FlowResult) -> Explanation:
    port = f" --tcp {result.flow.port}" if result.flow.port is not None and ":" not in dst else ""
    return Explanation(anchor, src, dst, str(result.disposition), SHORT[result.disposition], result.reason,
                       render(result).rstrip("\n"), f"topograph trace {t.file} {src} {dst}{port}")


def expectations(ctx: Context) -> tuple[ExpectationView, ...]:
    """Each `expect:` entry, held or broken with the reason; a broken one with its path over the diagram."""
    out = []
    for k, v in enumerate(evaluate(ctx.net)):
        e, r = v.expectation, v.result
        line = str(e.pos.line) if e.pos is not None else ""  # in the file the page names at its top
        if r is None:
            out.append(ExpectationView(line, str(e), e.note or "", "unchecked", "", "",
                                       f"{e.dst} has no address to reach (see the warnings)", None, ""))
            continue
        figure = None
        if not v.holds:
            dot = to_dot(ctx.topology, ctx.graph, Options(), overlay(ctx.topology, ctx.graph, r))
            figure = _figure(ctx, dot, f"expect-{k + 1}", f"{e}: {r.disposition} at {r.node}")
        out.append(ExpectationView(line, str(e), e.note or "", "held" if v.holds else "broken", str(r.disposition),
                                   SHORT[r.disposition],
                                   r.reason, figure, render(r).rstrip("\n")))
    return tuple(out)


def warnings(ctx: Context) -> tuple[WarningView, ...]:
    return tuple(WarningView(str(d.pos), d.code, d.message, d.hint or "") for d in ctx.warnings)


def what_changed(ctx: Context) -> ChangesView | None:
    """review --against OLD: the design's changes and every changed matrix cell, grouped as `topograph diff`
    groups them, each with the reasons from both sides; what was removed, which the diagram cannot show."""
    d = ctx.against
    if d is None:
        return None
    design, reach = d.heads()
    removed = tuple(str(c.subject) for c in d.changes if c.how == "removed" and c.what in ("node", "interface", "link"))
    cells = []
    for c in d.cells:
        cells.append(CellGroup(c.label, c.before or "(none)", c.after or "(none)", *c.reasons()))
    marked = ctx.changes is not None and bool(ctx.changes.boxes or ctx.changes.links)
    return ChangesView(d.old, d.new, design, tuple(str(c) for c in d.changes), removed, marked, reach, tuple(cells),
                       f"topograph diff {d.old} {d.new}")


def single_points(ctx: Context) -> FailuresView | None:
    """review --failures: each single link or node failure that breaks an expectation held in the intact lab,
    with the expectations it breaks and why; a node's failure is not held against expectations from or to it."""
    if not ctx.failures:
        return None
    t = ctx.topology
    tried = f"{count(len(t.links), 'link')} and {count(len(t.nodes), 'node')} taken down one at a time"
    if not t.expectations:
        return FailuresView(f"The file states no expectations, so no failure can break one ({tried}).", ())
    rows = []
    for sf in single_failures(t, ctx.graph):
        broken = []
        for v in sf.broken:
            e, r = v.expectation, v.result
            line = str(e.pos.line) if e.pos is not None else ""
            if r is None:
                broken.append(Broken(line, str(e), "", "", "", f"{e.dst} has no address to reach"))
            else:
                broken.append(Broken(line, str(e), str(r.disposition), SHORT[r.disposition], r.node, r.reason))
        rows.append(FailureRow(sf.failure.name, sf.failure.kind, tuple(broken),
                               f"topograph diff {t.file} {t.file} --fail {sf.failure.name}"))
    if not rows:
        note = f"No single failure breaks an expectation ({tried}): the lab has no single point of failure."
    else:
        note = (f"{count(len(rows), 'single failure')} of the {tried} "
                f"{'breaks' if len(rows) == 1 else 'break'} an expectation: the lab's single points of failure.")
    return FailuresView(note, tuple(rows))


SECTIONS: tuple[tuple[str, str, Callable[[Context], object]], ...] = (  # the page's sections, in order
    ("diagram", "Diagram", diagram),
    ("what_changed", "What changed", what_changed),
    ("address_plan", "Address plan", address_plan),
    ("nodes", "Nodes", nodes),
    ("matrix", "Reachability", matrix),
    ("expectations", "Expectations", expectations),
    ("single_points", "Single failures", single_points),
    ("warnings", "Warnings", warnings),
)


SectionSpec = tuple[str, str, Callable[[Context], object]]  # (kind, title, function): the kind names the macros


def page(ctx: Context, sections: Sequence[SectionSpec] = SECTIONS) -> Page:
    """The page of `sections`, in order; a section whose function returns None is left out (say, a comparison
    with an older file when none was given)."""
    made = ((kind, title, make(ctx)) for kind, title, make in sections)
    return Page(header(ctx), tuple(Section(kind, title, value) for kind, title, value in made if value is not None))


_ID = re.compile(r'(\bid=")|(\bhref="#)|(url\(#)')


def inline_svg(svg: str, prefix: str) -> str:
    """Graphviz's SVG for embedding in a page: no XML prolog or comments, ids made unique by `prefix`."""
    body = svg[svg.index("<svg"):]
    body = re.sub(r"<!--.*?-->\n?", "", body, flags=re.S)
    return _ID.sub(lambda m: m.group(0) + prefix, body).rstrip("\n")
