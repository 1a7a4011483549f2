"""Layer 2: which interfaces have carrier, which share a working broadcast domain, and who answers ARP/ND there."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from topograph.model import LOOPBACK, Interface, IPAddress, Topology

Key = tuple[str, str]  # (node, interface)


@dataclass(frozen=True, slots=True)
class Answer:
    """The interface whose owner answered the ARP/ND request (the frame's destination)."""

    itf: Interface


class L2:
    """Working L2 domains: veth pairs with both ends up, and up bridges with their up ports.

    A veth end has carrier only when its peer is up too; a bridge has carrier when one of its ports does.
    Interfaces that take part in L3 (not bridge ports, not loopback) get the id of the domain they sit in.
    """

    def __init__(self, topology: Topology) -> None:
        self.itf: dict[Key, Interface] = {i.key: i for n in topology.nodes for i in n.interfaces}
        peer: dict[Key, Key] = {}
        for link in topology.links:
            peer[link.a.key] = link.b.key
            peer[link.b.key] = link.a.key
        self.peer = peer
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
                ports = [k for k, p in self.itf.items() if p.node == itf.node and p.bridge == itf.name]
                carrier[key] = itf.up and any(carrier[p] for p in ports)
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
        self.adj = adj
        self.domain: dict[Key, int] = {}
        self.members: dict[int, list[Interface]] = {}
        seen: set[Key] = set()
        next_id = 0
        for start in sorted(self.itf):
            if start in seen or self.itf[start].name == LOOPBACK:
                continue
            comp = []
            queue = deque([start])
            seen.add(start)
            while queue:
                k = queue.popleft()
                comp.append(k)
                for n in adj[k]:
                    if n not in seen:
                        seen.add(n)
                        queue.append(n)
            l3 = [self.itf[k] for k in sorted(comp) if self.itf[k].bridge is None and self.itf[k].up]
            for i in l3:
                self.domain[i.key] = next_id
            self.members[next_id] = l3
            next_id += 1
        # per domain: node -> its first L3 interface there (a node answers on the interface the request came in by)
        self.by_node: dict[int, dict[str, Interface]] = {}
        self.all_by_node: dict[int, dict[str, list[Interface]]] = {}
        for d, l3 in self.members.items():
            m: dict[str, Interface] = {}
            every: dict[str, list[Interface]] = {}
            for i in l3:
                m.setdefault(i.node, i)
                every.setdefault(i.node, []).append(i)
            self.by_node[d] = m
            self.all_by_node[d] = every

    def node_interface(self, domain: int, node: str) -> Interface | None:
        return self.by_node.get(domain, {}).get(node)

    def bridges_between(self, a: Key, b: Key) -> list[Interface]:
        """The bridges a frame from L3 interface `a` to L3 interface `b` passes through (not its ends).

        Climbs a breadth-first tree of the domain (built once per domain) from both ends to where they meet.
        """
        if a == b or a not in self._tree_of():
            return []
        parent, depth = self._trees[self._tree[a]]
        if b not in parent:
            return []
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

    def _tree_of(self) -> dict[Key, int]:
        if not hasattr(self, "_tree"):
            self._tree: dict[Key, int] = {}
            self._trees: list[tuple[dict[Key, Key | None], dict[Key, int]]] = []
            for root in sorted(self.adj):
                if root in self._tree or self.itf[root].name == LOOPBACK:
                    continue
                parent: dict[Key, Key | None] = {root: None}
                depth = {root: 0}
                queue = deque([root])
                while queue:
                    k = queue.popleft()
                    self._tree[k] = len(self._trees)
                    for n in self.adj[k]:
                        if n not in parent:
                            parent[n] = k
                            depth[n] = depth[k] + 1
                            queue.append(n)
                self._trees.append((parent, depth))
        return self._tree


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
