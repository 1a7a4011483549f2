"""What changed between two designs of a lab: the model (nodes, links, addresses, routes, NAT, forwards) and,
from it, reachability — every matrix cell that changed, before and after, with the simulator's reason for each.

`design_diff(old, new, failures)` is the API (`topograph diff` prints it; the review page shows it). Cells
are compared by name (source node, target column as `topograph reach` names it); cells that changed the same
way are grouped into rectangles of sources x targets, so a node added to a 3,000-namespace star is two lines,
not 6,000. Each group carries the reasons of one of its cells from both sides, walked with explanations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from topograph.front.diagnostics import count
from topograph.model import LOOPBACK, Interface, Link, Masquerade, Node, Topology
from topograph.pipeline import Checked
from topograph.render.dot import Changes
from topograph.render.layout import bridge_vertex
from topograph.review.markdown import escape
from topograph.sim.classes import fast_matrix
from topograph.sim.failures import link_ends, link_name, with_failures
from topograph.sim.forward import Walker
from topograph.sim.matrix import Matrix, Target, _bits, targets
from topograph.sim.network import Network, SimOptions
from topograph.sim.summary import Token, column_tokens, names, token_text
from topograph.sim.trace import Disposition


@dataclass(frozen=True, slots=True)
class ModelChange:
    """One change to the model: what kind of thing, added / removed / changed, which one, and the values."""

    what: str  # "lab", "node", "link", "interface", "address", "route", "nat", "port forward", "setting", "expectation"
    how: str  # "added", "removed" or "changed"
    subject: str  # the thing, named as the file names it: "red", "red:veth-red", "blue: default via 192.168.15.5"
    before: str | None = None  # for "changed": the old value
    after: str | None = None  # for "changed": the new value

    def __str__(self) -> str:
        text = f"{self.what} {self.how}: {self.subject}"
        return text + (f": {self.before} -> {self.after}" if self.how == "changed" else "")

    def as_json(self) -> dict[str, Any]:
        return {"what": self.what, "how": self.how, "subject": self.subject, "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True)
class Side:
    """A cell's verdict on one side of the diff, with the reason the simulator gives for it."""

    disposition: Disposition
    node: str  # where it was decided
    reason: str
    flow: str  # the flow walked, e.g. "red -> 192.168.15.2 (icmp)"

    def as_json(self) -> dict[str, Any]:
        return {"disposition": str(self.disposition), "node": self.node, "reason": self.reason, "flow": self.flow}


@dataclass(frozen=True, slots=True)
class CellChange:
    """Matrix cells that changed the same way: every source x every target listed — with `but_itself`, less
    the cells from a target's own node to it (a node to its own address changes apart from the others';
    `target_nodes` names each target's node). Before or after `None`: no such cell on that side."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    before: str | None  # in short: "ok", "no-route at source", "no-fwd at internet"; None: the cell is new
    after: str | None  # None: the cell is gone
    example: tuple[str, str]  # the (source, target) whose reasons are given
    was: Side | None
    now: Side | None
    but_itself: bool = False
    target_nodes: tuple[str, ...] = ()

    def reasons(self) -> tuple[str, str]:
        """(before, after) as 'e.g. SRC -> DST: DISPOSITION: REASON' ('' for a side without the cell)."""
        eg = f"e.g. {self.example[0]} -> {self.example[1]}: " if self.cells > 1 else ""
        return (f"{eg}{self.was.disposition}: {self.was.reason}" if self.was is not None else "",
                f"{eg}{self.now.disposition}: {self.now.reason}" if self.now is not None else "")

    def pairs(self) -> list[tuple[str, str]]:
        """Every (source, target) cell of the group."""
        nodes = self.target_nodes or self.targets
        return [(s, t) for s in self.sources for t, n in zip(self.targets, nodes, strict=True)
                if not (self.but_itself and n == s)]

    @property
    def cells(self) -> int:
        if not self.but_itself:
            return len(self.sources) * len(self.targets)
        mine = set(self.sources)
        return len(self.sources) * len(self.targets) - sum(n in mine for n in self.target_nodes)

    @property
    def label(self) -> str:
        return f"{names(self.sources)} -> {names(self.targets)}" + (", each but itself" if self.but_itself else "")

    def as_json(self) -> dict[str, Any]:
        return {"sources": list(self.sources), "targets": list(self.targets), "but_itself": self.but_itself,
                "before": self.before, "after": self.after, "example": list(self.example),
                "was": self.was.as_json() if self.was else None, "now": self.now.as_json() if self.now else None}


@dataclass(frozen=True, slots=True)
class DesignDiff:
    """The difference between two designs: model changes, then changed reachability (NEW with `failures` down)."""

    old: str  # the old design's file (or REV:path)
    new: str
    failures: tuple[str, ...]
    changes: tuple[ModelChange, ...]
    cells: tuple[CellChange, ...]

    @property
    def reachability_changed(self) -> bool:
        return bool(self.cells)

    @property
    def changed_cells(self) -> int:
        return sum(c.cells for c in self.cells)

    def as_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "failures": list(self.failures),
                "changes": [c.as_json() for c in self.changes],
                "reachability": {"changed": self.reachability_changed, "cells": self.changed_cells,
                                 "groups": [c.as_json() for c in self.cells]}}

    def heads(self) -> tuple[str, str]:
        """The design's and reachability's one-line summaries: "design: 3 changes", "reachability: unchanged"."""
        down = f" with {', '.join(self.failures)} down" if self.failures else ""
        design = f"design: {count(len(self.changes), 'change')}" if self.changes else "design: unchanged"
        reach = (f"reachability: {count(self.changed_cells, 'cell')} changed{down}" if self.cells
                 else f"reachability: unchanged{down}")
        return design, reach

    def text(self) -> str:
        """For a terminal: the changes, then each changed group with both reasons."""
        design, reach = self.heads()
        lines = [f"{self.old} -> {self.new}", design, *(f"  {c}" for c in self.changes), reach]
        for c in self.cells:
            lines.append(f"  {c.label}: {c.before or '(none)'} -> {c.after or '(none)'}")
            was, now = c.reasons()
            lines += [f"    before: {was}"] if was else []
            lines += [f"    after:  {now}"] if now else []
        return "\n".join(lines) + "\n"

    def markdown(self) -> str:
        """For a pull-request comment: a heading, the changes as a list, the changed cells as a table."""
        design, reach = self.heads()
        lines = [f"### topograph diff: `{self.old}` → `{self.new}`", "", f"**{design}**", ""]
        lines += [f"- {escape(str(c))}" for c in self.changes]
        lines += ["", f"**{reach}**", ""] if self.changes else [f"**{reach}**", ""]
        if self.cells:
            lines += ["| from | to | before | after |", "|---|---|---|---|"]
            for c in self.cells:
                was, now = c.reasons()
                before = escape(c.before or "(none)") + (f" — {escape(was)}" if was else "")
                after = escape(c.after or "(none)") + (f" — {escape(now)}" if now else "")
                lines.append(f"| {escape(names(c.sources))} | {escape(names(c.targets))} | {before} | {after} |")
            lines.append("")
        return "\n".join(lines)


def design_diff(old: Checked, new: Checked, failures: Sequence[str] = (), *,
                old_name: str | None = None, new_name: str | None = None,
                options: SimOptions | None = None) -> DesignDiff:
    """The diff of two checked designs (both must be `ok`); `failures` are taken down in NEW only, so
    `design_diff(x, x, ["r1"])` is what r1's failure does to x. Names default to the topologies' files.

    Raises topograph.sim.failures.UnknownElement when a failure names nothing in NEW.
    """
    assert old.topology is not None and new.topology is not None, "design_diff needs two checked designs"
    a, b = old.topology, new.topology
    failed = with_failures(b, failures)
    before = Network(a, options, old.graph)
    after = Network(failed, options, new.graph)
    cells = reach_changes(before, after)
    return DesignDiff(old_name or a.file, new_name or b.file, tuple(failures), tuple(model_changes(a, b)), tuple(cells))


# -- the model --------------------------------------------------------------------------------------------------

def model_changes(a: Topology, b: Topology) -> list[ModelChange]:
    """Every change from `a` to `b`: nodes, their settings, interfaces, addresses, routes, NAT and forwards,
    then links and expectations; in the new file's order, removals where the old file had them."""
    out: list[ModelChange] = []
    if a.name != b.name:
        out.append(ModelChange("lab", "changed", "name", a.name, b.name))
    old_nodes = {n.name: n for n in a.nodes}
    new_nodes = {n.name: n for n in b.nodes}
    for n in a.nodes:
        if n.name not in new_nodes:
            out.append(ModelChange("node", "removed", n.name))
    for n in b.nodes:
        if n.name not in old_nodes:
            out.append(ModelChange("node", "added", n.name))
            out += _node_parts(n, "added")
        else:
            out += _node_changes(old_nodes[n.name], n)
    old_links = {_link_key(a, k): k for k in a.links}
    new_links = {_link_key(b, k): k for k in b.links}
    out += [ModelChange("link", "removed", link_name(a, k)) for key, k in old_links.items() if key not in new_links]
    out += [ModelChange("link", "added", link_name(b, k)) for key, k in new_links.items() if key not in old_links]
    out += _multiset("expectation", "", [str(e) for e in a.expectations], [str(e) for e in b.expectations])
    return out


def changed_elements(a: Topology, b: Topology) -> Changes:
    """What of `b` is new or changed since `a`, to mark on `b`'s diagram: nodes added or with any change
    (settings, interfaces, addresses, routes, NAT, forwards), the bridges and interfaces added or changed, and
    the links added. Removed things are not in `b` to be drawn: model_changes lists them."""
    old_nodes = {n.name: n for n in a.nodes}
    boxes: set[str] = set()
    interfaces: set[tuple[str, str]] = set()
    for n in b.nodes:
        old = old_nodes.get(n.name)
        if old is not None and not _node_changes(old, n):
            continue
        boxes.add(n.name)
        was = {i.name: i for i in old.interfaces} if old is not None else {}
        for i in n.interfaces:
            j = was.get(i.name)
            if j is None and i.name == LOOPBACK and not i.addresses:
                continue
            if j is None or _changed_fields(j, i) or Counter(map(str, j.addresses)) != Counter(map(str, i.addresses)):
                interfaces.add(i.key)
                if i.is_bridge:
                    boxes.add(bridge_vertex(n.name, i.name))
    old_links = {_link_key(a, k) for k in a.links}
    links = frozenset(k.index for k in b.links if _link_key(b, k) not in old_links)
    return Changes(frozenset(boxes), frozenset(interfaces), links)


#: What of an interface, besides its addresses, counts as a change of it.
_INTERFACE_FIELDS = ("up", "mtu", "mac", "bridge", "is_bridge")


def _changed_fields(a: Interface, b: Interface) -> list[str]:
    return [f for f in _INTERFACE_FIELDS if getattr(a, f) != getattr(b, f)]


def _link_key(t: Topology, link: Link) -> frozenset[str]:
    return frozenset(link_ends(t, link))  # [a, b] and [b, a] are the same link


def _settings(n: Node) -> dict[str, str]:
    return {"kind": str(n.kind), "forwarding": str(n.forwarding).lower(), "rp_filter": str(n.rp_filter)}


def _parts(n: Node) -> dict[str, list[str]]:
    return {"route": [str(r) for r in n.routes],
            "nat": [f"masquerade {m.source} out {m.out}" if isinstance(m, Masquerade) else
                    f"snat {m.source}" + (f" to {m.dst}" if m.dst else "") + (f" out {m.out}" if m.out else "")
                    + f" -> {m.to}" for m in n.nat],
            "port forward": [f"{f.proto}/{f.port} -> {f.target}" + (f" in {f.in_interface}" if f.in_interface else "")
                             + (f" on {f.address}" if f.address else "") + (" local" if f.local else "")
                             for f in n.port_forwards]}


def _node_parts(n: Node, how: str) -> list[ModelChange]:
    out = [ModelChange("interface", how, f"{n.name}:{i.name}" + (f" {', '.join(map(str, i.addresses))}" if i.addresses else ""))
           for i in n.interfaces if i.name != LOOPBACK or i.addresses]
    for what, items in _parts(n).items():
        out += [ModelChange(what, how, f"{n.name}: {x}") for x in items]
    return out


def _node_changes(a: Node, b: Node) -> list[ModelChange]:
    out = [ModelChange("setting", "changed", f"{b.name} {k}", v, _settings(b)[k])
           for k, v in _settings(a).items() if _settings(b)[k] != v]
    old_itfs = {i.name: i for i in a.interfaces}
    new_itfs = {i.name: i for i in b.interfaces}
    for i in a.interfaces:
        if i.name not in new_itfs:
            out.append(ModelChange("interface", "removed", f"{a.name}:{i.name}"))
    for i in b.interfaces:
        j = old_itfs.get(i.name)
        if j is None:
            if i.name != LOOPBACK or i.addresses:
                out.append(ModelChange("interface", "added", f"{b.name}:{i.name}"))
            out += [ModelChange("address", "added", f"{b.name}:{i.name} {x}") for x in i.addresses]
            continue
        for field in _changed_fields(j, i):
            out.append(ModelChange("interface", "changed", f"{b.name}:{i.name} {field.replace('is_', '')}",
                                   _value(getattr(j, field)), _value(getattr(i, field))))
        out += _multiset("address", f"{b.name}:{i.name} ", [str(x) for x in j.addresses], [str(x) for x in i.addresses])
    pa, pb = _parts(a), _parts(b)
    for what in pa:
        out += _multiset(what, f"{b.name}: ", pa[what], pb[what])
    return out


def _value(v: object) -> str:
    return "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _multiset(what: str, prefix: str, old: Iterable[str], new: Iterable[str]) -> list[ModelChange]:
    """Removed then added items of two lists, counting repeats (a route written twice is two)."""
    a, b = Counter(old), Counter(new)
    return ([ModelChange(what, "removed", prefix + x) for x in a if a[x] > b[x]]
            + [ModelChange(what, "added", prefix + x) for x in b if b[x] > a[x]])


# -- reachability -----------------------------------------------------------------------------------------------

# before, after, bit set of sources (over the union of both sides), and whether the target's own node is left out
Key = tuple[Token | None, Token | None, int, bool]


def reach_changes(before: Network, after: Network) -> list[CellChange]:
    """The cells whose verdict differs between two networks (cells of one side only included), grouped."""
    old_m, new_m = fast_matrix(before, targets(before.topology)), fast_matrix(after, targets(after.topology))
    sources = list(old_m.sources) + [s for s in new_m.sources if s not in old_m.index]
    index = {s: i for i, s in enumerate(sources)}
    old_cols = _columns(old_m, index)
    new_cols = _columns(new_m, index)
    old_all = _mask(old_m, index)
    new_all = _mask(new_m, index)
    names_in_order = list(old_cols) + [t for t in new_cols if t not in old_cols]
    node_of = {t.name: t.node for t in (*old_m.targets, *new_m.targets)}
    entries: list[tuple[str, Key, Key | None]] = []  # column, its exact key, its key without its own node's cell
    shared: Counter[Key] = Counter()
    for name in names_in_order:
        b, a = old_cols.get(name, {}), new_cols.get(name, {})
        found: list[tuple[Token | None, Token | None, int]] = []
        for tb, bb in b.items():
            for ta, ba in a.items():  # (a cell's tokens on two sides are equal exactly when its verdicts are)
                if tb != ta and bb & ba:
                    found.append((tb, ta, bb & ba))
            gone = bb & ~new_all if name in new_cols else bb
            if gone:
                found.append((tb, None, gone))
        for ta, ba in a.items():
            fresh = ba & ~old_all if name in old_cols else ba
            if fresh:
                found.append((None, ta, fresh))
        own = index.get(node_of[name])
        nbit = 0 if own is None else 1 << own
        for was, now, bits in found:
            others: Key | None = (was, now, bits | nbit, True) if nbit and not bits & nbit else None
            entries.append((name, (was, now, bits, False), others))
            if others is not None:
                shared[others] += 1
    # a column's cells but its own node's (which change apart, if at all) join the same change of other columns
    # when there are such: "ns0 … ns2999 -> ns0 … ns2999, each but itself" rather than 3,000 lines
    groups: dict[Key, list[str]] = {}
    for name, exact, others in entries:
        groups.setdefault(others if others is not None and shared[others] > 1 else exact, []).append(name)
    old_targets = {t.name: t for t in old_m.targets}
    new_targets = {t.name: t for t in new_m.targets}
    out = []
    explain_before, explain_after = Walker(before), Walker(after)
    for (was, now, bits, but_itself), cols in groups.items():
        srcs = tuple(sources[i] for i in _bits(bits))
        t = cols[0]
        s = next(x for x in srcs if not (but_itself and x == node_of[t]))
        out.append(CellChange(srcs, tuple(cols), token_text(was) if was else None, token_text(now) if now else None,
                              (s, t), _side(explain_before, old_targets[t], s) if was else None,
                              _side(explain_after, new_targets[t], s) if now else None,
                              but_itself, tuple(node_of[c] for c in cols)))
    order = {name: i for i, name in enumerate(names_in_order)}
    out.sort(key=lambda c: (order[c.targets[0]], index[c.sources[0]]))
    return out


def _side(walker: Walker, target: Target, src: str) -> Side:
    result = walker.run(target.flow(src, walker.net))
    return Side(result.disposition, result.node, result.reason, str(result.flow))


def _mask(m: Matrix, index: dict[str, int]) -> int:
    return sum(1 << index[s] for s in m.sources)


def _columns(m: Matrix, index: dict[str, int]) -> dict[str, dict[Token, int]]:
    """Each column's tokens (verdicts relative to source and target) as bit sets over the union's sources."""
    same = list(m.sources) == list(index)[:len(m.sources)]
    out: dict[str, dict[Token, int]] = {}
    for j, t in enumerate(m.targets):
        by = column_tokens(m, j)
        if not same:
            by = {k: sum(1 << index[m.sources[i]] for i in _bits(b)) for k, b in by.items()}
        out[t.name] = by
    return out

