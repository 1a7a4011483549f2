"""Layer 2: which interfaces have carrier, which share a working broadcast domain, and who answers ARP/ND there."""

from __future__ import annotations

from collections import deque

from topograph.model import LOOPBACK, Interface, IPAddress, Topology

Key = tuple[str, str]  # (node, interface)


class L2:
    """Working L2 domains: veth pairs with both ends up, and up bridges with their up ports.

    A veth end has carrier only when its peer is up too; a bridge has carrier when one of its ports does.
    Interfaces that take part in L3 (not bridge ports, not loopback) get the id of the domain they sit in.
    One breadth-first walk finds the domains and, per domain, the tree `bridges_between` climbs.
    """

    def __init__(self, topology: Topology) -> None:
        self.itf: dict[Key, Interface] = {i.key: i for n in topology.nodes for i in n.interfaces}
        peer: dict[Key, Key] = {}
        for link in topology.links:
            peer[link.a.key] = link.b.key
            peer[link.b.key] = link.a.key
        ports: dict[Key, list[Key]] = {}  # bridge -> its ports, so a bridge's carrier needs no scan of every interface
        for key, itf in self.itf.items():
            if itf.bridge is not None:
                ports.setdefault((itf.node, itf.bridge), []).append(key)
        carrier: dict[Key, bool] = {}
        for key, itf in self.itf.items():
            if itf.name == LOOPBACK or itf.is_bridge:
                carrier[key] = itf.up
            elif key in peer:
                carrier[key] = itf.up and self.itf[peer[key]].up
            else:
                carrier[key] = itf.up  # an existing uplink of the host or an external node
        for key, itf in self.itf.items():
            if itf.is_bridge:
                carrier[key] = itf.up and any(carrier[p] for p in ports.get(key, ()))
        self.carrier = carrier
        # adjacency of the working L2 graph
        adj: dict[Key, list[Key]] = {k: [] for k in self.itf}
        for a, b in peer.items():
            if carrier[a] and carrier[b]:
                adj[a].append(b)
        for key, itf in self.itf.items():
            if itf.bridge is not None and carrier[key]:
                br = (itf.node, itf.bridge)
                if br in self.itf and self.itf[br].up:
                    adj[key].append(br)
                    adj[br].append(key)
        self.domain: dict[Key, int] = {}  # L3 interface -> its domain
        self.members: dict[int, list[Interface]] = {}
        self.all_by_node: dict[int, dict[str, list[Interface]]] = {}  # domain -> node -> its L3 interfaces there
        # the walk's tree over every interface with a domain (bridges and ports included): parent, depth, component
        self._parent: dict[Key, Key | None] = {}
        self._depth: dict[Key, int] = {}
        self._component: dict[Key, int] = {}
        for start in sorted(self.itf):
            if start in self._component or self.itf[start].name == LOOPBACK:
                continue
            d = len(self.members)
            self._parent[start] = None
            self._depth[start] = 0
            self._component[start] = d
            comp = []
            queue = deque([start])
            while queue:
                k = queue.popleft()
                comp.append(k)
                for n in adj[k]:
                    if n not in self._component:
                        self._component[n] = d
                        self._parent[n] = k
                        self._depth[n] = self._depth[k] + 1
                        queue.append(n)
            l3 = [self.itf[k] for k in sorted(comp) if self.itf[k].bridge is None and self.itf[k].up]
            every: dict[str, list[Interface]] = {}
            for i in l3:
                self.domain[i.key] = d
                every.setdefault(i.node, []).append(i)
            self.members[d] = l3
            self.all_by_node[d] = every

    def node_interface(self, domain: int, node: str) -> Interface | None:
        """The node's first L3 interface in `domain` (a node answers on the interface the request came in by)."""
        mine = self.all_by_node.get(domain, {}).get(node)
        return mine[0] if mine else None

    def bridges_between(self, a: Key, b: Key) -> list[Interface]:
        """The bridges a frame from L3 interface `a` to L3 interface `b` passes through (not its ends).

        Climbs the walk's breadth-first tree of the domain from both ends to where they meet.
        """
        if a == b or a not in self._component or self._component.get(b) != self._component[a]:
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
        path = up_a + up_b[:-1][::-1] if up_b else up_a
        return [self.itf[k] for k in path if k not in (a, b) and self.itf[k].is_bridge]


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
