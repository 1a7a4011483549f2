"""Layer 2: which interfaces have carrier, which share a working broadcast domain, and who answers ARP/ND there."""

from __future__ import annotations

import networkx as nx

from topograph.front.graph import l2_graph
from topograph.model import LOOPBACK, Interface, IPAddress, Topology

Key = tuple[str, str]  # (node, interface)


class L2:
    """Working L2 domains: veth pairs with both ends up, and up bridges with their up ports.

    A veth end has carrier only when its peer is up too; a bridge has carrier when one of its ports does.
    Interfaces that take part in L3 (not bridge ports, not loopback) get the id of the domain they sit in.
    The domains are the connected components of the lab's L2 graph (topograph.front.graph.l2_graph) kept to
    the edges whose ends have carrier; one breadth-first tree per domain is what `bridges_between` climbs.
    """

    def __init__(self, topology: Topology, g: nx.Graph | None = None) -> None:
        g = l2_graph(topology) if g is None else g
        self.itf: dict[Key, Interface] = {i.key: i for n in topology.nodes for i in n.interfaces}
        carrier: dict[Key, bool] = {}
        for key, itf in self.itf.items():
            if itf.name == LOOPBACK or itf.is_bridge:
                carrier[key] = itf.up
            else:  # a veth end needs its peer up; an existing uplink of the host or an external node has no peer
                carrier[key] = itf.up and all(self.itf[p].up for p, edge in g.adj[key].items() if "link" in edge)
        for key, itf in self.itf.items():
            if itf.is_bridge:
                carrier[key] = itf.up and any(carrier[p] for p in g.adj[key])
        self.carrier = carrier
        # the working L2 graph: a veth pair whose ends both have carrier, a port with carrier into an up bridge
        working = nx.Graph()
        working.add_nodes_from(g)
        working.add_edges_from((a, b) for a, b, edge in g.edges(data=True) if self._works(a, b, "link" in edge))
        self.domain: dict[Key, int] = {}  # L3 interface -> its domain
        self.members: dict[int, list[Interface]] = {}
        self.all_by_node: dict[int, dict[str, list[Interface]]] = {}  # domain -> node -> its L3 interfaces there
        # the breadth-first tree over every interface with a domain (bridges and ports included)
        self._parent: dict[Key, Key | None] = {}
        self._depth: dict[Key, int] = {}
        self._component: dict[Key, int] = {}
        for start in sorted(working):
            if start in self._component:
                continue
            d = len(self.members)
            self._parent[start], self._depth[start], self._component[start] = None, 0, d
            comp = [start]
            for parent, child in nx.bfs_edges(working, start):
                self._parent[child], self._depth[child], self._component[child] = parent, self._depth[parent] + 1, d
                comp.append(child)
            l3 = [self.itf[k] for k in sorted(comp) if self.itf[k].bridge is None and self.itf[k].up]
            every: dict[str, list[Interface]] = {}
            for i in l3:
                self.domain[i.key] = d
                every.setdefault(i.node, []).append(i)
            self.members[d] = l3
            self.all_by_node[d] = every

    def _works(self, a: Key, b: Key, veth: bool) -> bool:
        """Whether frames pass an L2 edge: a veth pair's ends both have carrier; a port has it and its bridge is up."""
        if veth:
            return self.carrier[a] and self.carrier[b]
        port, bridge = (b, a) if self.itf[a].is_bridge else (a, b)
        return self.carrier[port] and self.itf[bridge].up

    def component(self, key: Key) -> int | None:
        """The working L2 component an interface (bridge ports and bridges too; not loopback) belongs to."""
        return self._component.get(key)

    def node_interface(self, domain: int, node: str) -> Interface | None:
        """The node's first L3 interface in `domain` (a node answers on the interface the request came in by)."""
        mine = self.all_by_node.get(domain, {}).get(node)
        return mine[0] if mine else None

    def bridges_between(self, a: Key, b: Key) -> list[Interface]:
        """The bridges a frame from L3 interface `a` to L3 interface `b` passes through (not its ends)."""
        return [self.itf[k] for k in self.path(a, b)[1:-1] if self.itf[k].is_bridge]

    def port_toward(self, bridge: Key, other: Key) -> Key | None:
        """The port of `bridge` a frame between the bridge and `other` crosses (None: not joined)."""
        way = self.path(bridge, other)
        return way[1] if len(way) > 1 else None

    def path(self, a: Key, b: Key) -> list[Key]:
        """Every interface from `a` to `b`, both ends included ([] when they are not joined, [a] when a == b).

        Climbs the walk's breadth-first tree of the domain from both ends to where they meet.
        """
        if a == b:
            return [a]
        if a not in self._component or self._component.get(b) != self._component[a]:
            return []
        parent, depth = self._parent, self._depth
        up_a: list[Key] = []
        up_b: list[Key] = []
        x, y = a, b
        while depth[x] > depth[y]:
            x = parent[x]  # type: ignore[assignment]
            up_a.append(x)
        while depth[y] > depth[x]:
            y = parent[y]  # type: ignore[assignment]
            up_b.append(y)
        while x != y:
            x, y = parent[x], parent[y]  # type: ignore[assignment]
            up_a.append(x)
            up_b.append(y)
        return [a, *up_a, *up_b[:-1][::-1], b] if up_b else [a, *up_a]  # without up_b, up_a climbed to b


def answers(l2: L2, domain: int, target: IPAddress, owner: Interface | None, asker: str) -> Interface | None:
    """The interface in `domain` whose node answers ARP/ND for `target`, if any (the first of `candidates`)."""
    found = candidates(l2, domain, target, owner, asker)
    return found[0] if found else None


def candidates(l2: L2, domain: int, target: IPAddress, owner: Interface | None, asker: str) -> list[Interface]:
    """Every interface in `domain` that answers ARP/ND for `target`, the one holding the address first.

    IPv4: Linux answers ARP for any of its addresses on whichever interface the request arrives (arp_ignore=0),
    so a node with several interfaces on the segment answers on each (its reverse-path filter permitting).
    IPv6: a node answers neighbour solicitations only for addresses of the receiving interface.
    """
    if owner is None or owner.node == asker:
        return []
    if target.version == 6:
        return [owner] if l2.domain.get(owner.key) == domain and l2.carrier.get(owner.key, False) else []
    mine = list(l2.all_by_node.get(domain, {}).get(owner.node, ()))
    if owner in mine:
        mine.remove(owner)
        mine.insert(0, owner)
    return mine
