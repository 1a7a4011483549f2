"""What-if failures: a lab with links, nodes or interfaces down, and the single failures that break an expectation.

A failure is named the way the file names things:

- `NODE`: the node fails — every interface of it goes down, loopback included, so nothing reaches it
  and it reaches nothing (IPv4 addresses stay local, as the kernel keeps them);
- `BRIDGE`: the bridge (the interface of the node that holds it) goes down;
- `NODE:IFNAME` or `BRIDGE:PORT`: that interface goes down (a veth end's peer loses carrier with it);
- `END--END`: the link between two ends, each written as in `links:` (or a node's name, when exactly one
  link joins the two nodes) — both ends go down.

The failed lab is a modified frozen copy of the model (`dataclasses.replace`); the original is untouched,
and its L2 graph (topograph.front.graph.l2_graph) stays valid for the copy, since failures change states, not wiring.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import networkx as nx

from topograph.front.graph import l2_graph
from topograph.front.names import did_you_mean
from topograph.front.quoting import quote
from topograph.model import LOOPBACK, Interface, Link, Topology
from topograph.sim.expect import Verdicted, evaluate, flow
from topograph.sim.forward import Walker
from topograph.sim.network import Network, SimOptions
from topograph.sim.trace import Action, Disposition

Key = tuple[str, str]  # (node, interface)


class UnknownElement(ValueError):
    """A failure names nothing in the lab; the message says what was looked for and what is close."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One resolved failure: what was written, what kind of element it is, and the interfaces it takes down."""

    name: str
    kind: str  # "node", "link" or "interface"
    interfaces: frozenset[Key]


def link_ends(topology: Topology, link: Link) -> tuple[str, str]:
    """A link's two ends as `links:` writes them: NODE:IFNAME, or BRIDGE:PORT for a bridge port."""
    def end(node: str, name: str) -> str:
        itf = topology.node(node).interface(name)
        return f"{itf.bridge if itf is not None and itf.bridge is not None else node}:{name}"
    return end(*link.a.key), end(*link.b.key)


def link_name(topology: Topology, link: Link) -> str:
    """How failures and reports name a link: its two ends joined by `--`."""
    return "--".join(link_ends(topology, link))


def resolve_failure(topology: Topology, spec: str) -> Failure:
    """The element `spec` names (see the module docstring); UnknownElement when it names nothing."""
    nodes = {n.name: n for n in topology.nodes}
    bridges = {i.name: i for n in topology.nodes for i in n.interfaces if i.is_bridge}
    if spec in nodes:
        return Failure(spec, "node", frozenset(i.key for i in nodes[spec].interfaces))
    if spec in bridges:
        return Failure(spec, "interface", frozenset({bridges[spec].key}))
    if ":" in spec and "--" not in spec.partition(":")[0]:
        itf = _interface(topology, spec)
        if itf is not None:
            return Failure(spec, "interface", frozenset({itf.key}))
    for i in range(len(spec)):  # END--END: names may hold "--" themselves, so every split is tried
        if spec.startswith("--", i):
            link = _link(topology, spec[:i], spec[i + 2:])
            if link is not None:
                return Failure(spec, "link", frozenset({link.a.key, link.b.key}))
    links = [link_name(topology, k) for k in topology.links]
    if "--" in spec:
        known = links
    elif ":" in spec:
        known = [i.label for n in topology.nodes for i in n.interfaces if i.name != LOOPBACK]
    else:
        known = [*nodes, *bridges]
    hint = did_you_mean(spec, known)
    raise UnknownElement(f"{quote(spec)} is not a node, bridge, interface or link of lab {quote(topology.name)}"
                         + (f" ({hint})" if hint else "; write NODE, NODE:IFNAME, BRIDGE:PORT or END--END"))


def _interface(topology: Topology, end: str) -> Interface | None:
    owner, _, name = end.partition(":")
    for n in topology.nodes:
        itf = n.interface(name)
        if itf is not None and (n.name == owner or itf.bridge == owner):
            return itf
    return None


def _ends(topology: Topology, end: str) -> set[Key] | None:
    """The interfaces an end names: one for NODE:IFNAME or BRIDGE:PORT, every one of the node for NODE."""
    if ":" in end:
        itf = _interface(topology, end)
        return {itf.key} if itf is not None else None
    if any(n.name == end for n in topology.nodes):
        return {i.key for i in topology.node(end).interfaces}
    ports = {i.key for n in topology.nodes for i in n.interfaces if i.bridge == end}
    return ports or None


def _link(topology: Topology, a: str, b: str) -> Link | None:
    ea, eb = _ends(topology, a), _ends(topology, b)
    if ea is None or eb is None:
        return None
    found = [k for k in topology.links if (k.a.key in ea and k.b.key in eb) or (k.a.key in eb and k.b.key in ea)]
    return found[0] if len(found) == 1 else None


def with_failures(topology: Topology, failures: Iterable[str | Failure]) -> Topology:
    """A copy of `topology` with every named element down (see the module docstring for the names).

    Raises UnknownElement for a name that matches nothing. No failures: the same object back.
    """
    down: set[Key] = set()
    for f in failures:
        down |= (f if isinstance(f, Failure) else resolve_failure(topology, f)).interfaces
    if not down:
        return topology
    nodes = []
    for n in topology.nodes:
        if any((n.name, i.name) in down for i in n.interfaces):
            itfs = tuple(replace(i, up=False) if i.key in down else i for i in n.interfaces)
            n = replace(n, interfaces=itfs)
        nodes.append(n)
    return replace(topology, nodes=tuple(nodes))


def every_single_failure(topology: Topology, *, links: bool = True, nodes: bool = True) -> list[Failure]:
    """Each link, then each node, as one failure (in file order)."""
    out = []
    if links:
        out += [Failure(link_name(topology, k), "link", frozenset({k.a.key, k.b.key})) for k in topology.links]
    if nodes:
        out += [Failure(n.name, "node", frozenset(i.key for i in n.interfaces)) for n in topology.nodes]
    return out


def _owner(topology: Topology, v: Verdicted) -> str | None:
    """The node holding the address an expectation's flow goes to."""
    if v.result is None:
        return None
    itf = topology.owner_of(v.result.flow.dst)
    return itf.node if itf is not None else None


@dataclass(frozen=True, slots=True)
class SingleFailure:
    """A single failure and the expectations it breaks: each held in the intact lab, and no longer with it."""

    failure: Failure
    broken: tuple[Verdicted, ...]  # the expectation with the prediction under the failure (its reason says why)


def single_failures(topology: Topology, graph: nx.Graph | None = None, options: SimOptions | None = None, *,
                    candidates: Sequence[Failure] | None = None, prune: bool = True) -> list[SingleFailure]:
    """The lab's single points of failure: every single link or node failure that breaks an expectation.

    `candidates` defaults to every link and every node (every_single_failure). An expectation counts as
    broken by a failure when it holds in the intact lab and not under the failure; a node's failure is not
    held against the expectations from or to that node itself (nothing can reach a node that is down).
    `graph`: the lab's l2_graph (Checked.graph), shared by every failed copy.

    Only the expectations' flows are walked, not the whole matrix, and with `prune` only those a failure can
    touch: a flow's walk depends on the nodes it visits (their routes, addresses, rp_filter, NAT) and on the L2
    components it sends into (who answers ARP there). A failure changes the nodes whose interfaces lose `up`
    or carrier (the failed ones, their veth peers, the bridges of failed ports) and those nodes' components;
    a flow that visits none of those nodes, sends into none of those components and into none where a changed
    node has an interface (whose reverse-path filter may decline to answer ARP there) walks the same way —
    it is not walked again.
    """
    g = l2_graph(topology) if graph is None else graph
    intact = Network(topology, options, g)
    before = evaluate(intact)
    held = [v.holds for v in before]
    prints = [_footprint(intact, v) for v in before]
    out = []
    for f in (every_single_failure(topology) if candidates is None else candidates):
        changed = _changed(intact, g, f.interfaces)
        nodes = {k[0] for k in changed}
        comps = {c for k in changed if (c := intact.l2.component(k)) is not None}
        near = {c for n in nodes for i in intact.nodes[n].interfaces if (c := intact.l2.component(i.key)) is not None}
        todo = [i for i, (visited, touched) in enumerate(prints) if held[i] and
                (not prune or visited & nodes or touched & comps or touched & near)]
        if not todo:
            continue
        failed = Network(with_failures(topology, [f]), options, g, base=intact)
        walker = Walker(failed)
        broken = []
        for i in todo:
            e = topology.expectations[i]
            fl = flow(failed, e)
            v = Verdicted(e, walker.run(fl) if fl is not None else None)
            if f.kind == "node" and f.name in (e.src, e.dst_node, _owner(topology, v)):
                continue
            if not v.holds:
                broken.append(v)
        if broken:
            out.append(SingleFailure(f, tuple(broken)))
    return out


def _footprint(net: Network, v: Verdicted) -> tuple[frozenset[str], frozenset[int]]:
    """The nodes a flow's request and reply visit, and the L2 components they send into.

    A frame from one visited node to the next crosses a component both have an interface in (bridges it
    passes are hops of their own, skipped here); a leg that dies for want of an ARP answer asked in one of
    its last node's components, which all count.
    """
    if v.result is None:
        return frozenset(), frozenset()
    r = v.result
    l2 = net.l2

    def comps(node: str) -> set[int]:
        return {c for i in net.nodes[node].interfaces if i.name != LOOPBACK and (c := l2.component(i.key)) is not None}

    nodes = {r.flow.src}
    touched: set[int] = set()
    for leg in (r.request, r.reply):
        if leg is None:
            continue
        nodes |= {h.node for h in leg.hops}
        stops = [h.node for h in leg.hops if not (h.steps and h.steps[0].action is Action.BRIDGED)]
        for a, b in pairwise(stops):
            touched |= comps(a) & comps(b)
        if leg.disposition is Disposition.NEIGHBOR_UNREACHABLE and stops:
            touched |= comps(stops[-1])
    return frozenset(nodes), frozenset(touched)


def _changed(net: Network, g: nx.Graph, down: frozenset[Key]) -> set[Key]:
    """The interfaces whose `up` or carrier a failure can change: the failed ones, their veth peers, and the
    bridges whose ports are among them."""
    changed = set(down)
    for k in down:
        changed |= {p for p, edge in g.adj.get(k, {}).items() if "link" in edge}
    for k in list(changed):
        itf = net.l2.itf.get(k)
        if itf is not None and itf.bridge is not None:
            changed.add((k[0], itf.bridge))
    return changed
