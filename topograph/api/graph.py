"""A lab from a networkx graph: the attribute conventions, and the YAML they become.

Vertices are the lab's nodes, edges its veth pairs:

- a vertex's attributes are the node's keys in the file format, as they would be written in YAML:
  `kind`, `interfaces` ({IFNAME: ADDRESS or [ADDRESS, ...] or {address, mtu, mac, up}}), `routes`,
  `forwarding`, `rp_filter`, `nat`, `port_forwards`, `filter`, `listen`, `bridges`;
- a vertex with `kind="bridge"` is a Linux bridge instead: `node=` names the lab node that holds it,
  and `address`, `mtu`, `mac`, `up` are the bridge's own (as under `bridges:` in the file);
- an edge is a veth pair between two vertices; its `ifnames={VERTEX: IFNAME, ...}` names the
  interface at each end (at a bridge: the port's name). A missing name is `ethK` at a node (K: the
  edge's place among the vertex's edges in the order they were added, from 0) and `BRIDGE-K` at a
  bridge. A MultiGraph's parallel edges are parallel veth pairs;
- the graph's own attributes: `lab` (or `name`, as nx.Graph(name=...) sets it) names the lab,
  `expect` is its expectations list and `description` its description.

Values may be ipaddress objects (written as text) and tuples (lists). The YAML goes through the same
checks as a file: a diagnostic names `<graph LAB>:LINE:COL` in `Lab.text` and the document path
(`nodes.red.routes[0].via`) in its `path`. A graph that cannot be written as a document at all (a
value YAML cannot hold, a bridge without its node) is a LabError naming the vertex or edge.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from topograph.api.results import LabError
from topograph.front.quoting import quote

if TYPE_CHECKING:
    import networkx as nx

BRIDGE = "bridge"
_BRIDGE_KEYS = ("address", "mtu", "mac", "up")


def _plain(value: Any, where: str) -> Any:
    """`value` as YAML-safe data: ipaddress objects as text, tuples and sets as lists."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network
                  | ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        return [_plain(v, f"{where}[]") for v in sorted(value, key=str)]
    raise LabError(f"{where}: a {type(value).__name__} cannot be written in a topology (use text, numbers, lists, dicts)")


def _is_bridge(attrs: Mapping[str, Any]) -> bool:
    return attrs.get("kind") == BRIDGE


def _lab_name(graph: nx.Graph, name: str | None) -> str:
    found = name or graph.graph.get("lab") or graph.graph.get("name") or "graph"
    return str(found)


def to_document(graph: nx.Graph, name: str | None = None) -> dict[str, Any]:
    """The topology document (the YAML's data) that `graph` describes, by the module's conventions."""
    nodes: dict[str, dict[str, Any]] = {}
    bridges: dict[str, str] = {}  # bridge vertex -> the node that holds it
    for v, attrs in graph.nodes(data=True):
        if not _is_bridge(attrs):
            nodes[str(v)] = _plain(dict(attrs), f"vertex {v}")
    for v, attrs in graph.nodes(data=True):
        if not _is_bridge(attrs):
            continue
        holder = attrs.get("node")
        if holder is None or str(holder) not in nodes:
            have = f"node={quote(holder)} is not a node of the graph" if holder is not None else "it has no node= attribute"
            raise LabError(f"bridge vertex {v}: {have}; a bridge lives in a node (e.g. node='host')")
        unknown = sorted(set(attrs) - {"kind", "node", *_BRIDGE_KEYS})
        if unknown:
            raise LabError(f"bridge vertex {v}: unknown attribute {quote(unknown[0])}; "
                           f"a bridge takes node, {', '.join(_BRIDGE_KEYS)}")
        own = {k: attrs[k] for k in _BRIDGE_KEYS if k in attrs}
        entry = nodes[str(holder)].setdefault("bridges", {})
        if not isinstance(entry, dict):
            raise LabError(f"vertex {holder}: bridges= must be a dict when bridge vertices name it as their node")
        entry[str(v)] = _plain(own, f"bridge vertex {v}")
        bridges[str(v)] = str(holder)
    links: list[list[str]] = []
    multi = graph.is_multigraph()
    edges = graph.edges(keys=True, data=True) if multi else ((u, w, None, d) for u, w, d in graph.edges(data=True))
    for u, w, key, attrs in edges:
        names = attrs.get("ifnames", {})
        if not isinstance(names, Mapping):
            raise LabError(f"edge {u}--{w}: ifnames= must be a dict {{VERTEX: IFNAME}}, not {type(names).__name__}")
        if str(u) in bridges and str(w) not in bridges:
            u, w = w, u  # the file's way round: [NODE:IFNAME, BRIDGE:PORT]
        ends = []
        for end, other in ((u, w), (w, u)):
            # the edge's place among the vertex's edges, in the order they were added (graph.adj)
            k = list(graph.adj[end]).index(other) if not multi else \
                [(n, kk) for n, keyed in graph.adj[end].items() for kk in keyed].index((other, key))
            default = f"{end}-{k}" if str(end) in bridges else f"eth{k}"
            ends.append(f"{end}:{names.get(end, default)}")
        links.append(ends)
    doc: dict[str, Any] = {"lab": _lab_name(graph, name)}
    if "description" in graph.graph:
        doc["description"] = str(graph.graph["description"])
    doc["nodes"] = nodes
    doc["links"] = links
    if graph.graph.get("expect"):
        doc["expect"] = _plain(graph.graph["expect"], "graph expect")
    return doc


def dump(document: Mapping[str, Any]) -> str:
    """A document as topology YAML: keys in their order, one flow-style mapping per small value."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's when there: 10x faster on big labs
    return yaml.dump(_plain(document, "document"), Dumper=dumper, sort_keys=False, default_flow_style=None, width=120)


def to_yaml(graph: nx.Graph, name: str | None = None) -> tuple[str, str]:
    """The YAML text of `graph`'s lab and the lab's name."""
    doc = to_document(graph, name)
    return dump(doc), str(doc["lab"])
