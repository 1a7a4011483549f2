"""Labs of common shapes, ready to check, trace or bring up: star, chain, ring, leaf-spine, fat-tree.

    >>> import topograph
    >>> lab = topograph.generators.fat_tree(4)     # 20 switches, 16 hosts
    >>> lab.reach().failing()
    []

Every generator returns a `topograph.Lab` (its YAML in `lab.text`); `star_yaml` is the benchmarks'
star as text. Switches and routers are namespaces that forward, joined by veth pairs on /30
subnets of 10.0.0.0/16; hosts sit on a bridge in their switch, one /24 of 172.16.0.0/12 per bridge,
with a default route to it. Static routes are the shortest paths (networkx BFS; one next hop per
subnet, the first neighbour by name on a shortest path, so every route leads strictly closer and no
path loops). With `expect=True` (default) the lab's `expect:` says its first host reaches its last
(and the other way round), so `check` and `verify` hold the lab to it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from topograph.api.lab import Lab

_LINKS = ipaddress.IPv4Network("10.0.0.0/16")  # /30 per veth pair: 16,384 links
_LANS = ipaddress.IPv4Network("172.16.0.0/12")  # /24 per host bridge: 4,096 of them


def star_yaml(n: int, name: str = "star") -> str:
    """YAML text of N namespaces plugged into one bridge of the host, all in one subnet.

    The subnet grows with N (a /16 up to 65,000 namespaces; beyond that, a /8).
    """
    prefix = 16 if n < 65000 else 8
    net = ipaddress.ip_network(f"10.0.0.0/{prefix}")
    hosts = net.hosts()
    bridge_addr = next(hosts)
    lines = [f"lab: {name}", "nodes:", "  host:", "    kind: host", "    forwarding: true",
             f"    bridges: {{br0: {bridge_addr}/{prefix}}}"]
    links = []
    for i in range(n):
        lines.append(f"  ns{i}: {{interfaces: {{eth0: {next(hosts)}/{prefix}}}, "
                     f"routes: [{{to: default, via: {bridge_addr}}}]}}")
        links.append(f"  - [ns{i}:eth0, br0:p{i}]")
    return "\n".join([*lines, "links:", *links, ""])


def star(n: int, name: str = "star") -> Lab:
    """N namespaces ns0..ns(N-1) on the host's bridge br0, one subnet, a default route via the bridge."""
    _at_least(n, 1, "star")
    return Lab.from_text(star_yaml(n, name), f"<{name}>")


@dataclass
class _Builder:
    """Routers joined by /30 veth pairs, hosts on a bridge per router; then shortest-path static routes."""

    name: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: list[list[str]] = field(default_factory=list)
    routers: nx.Graph = field(default_factory=nx.Graph)
    #: each subnet and the routers on it, with their address there
    subnets: list[tuple[ipaddress.IPv4Network, dict[str, ipaddress.IPv4Address]]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    _ifs: dict[str, int] = field(default_factory=dict)
    _made: dict[int, int] = field(default_factory=dict)  # prefix length -> subnets of that size handed out

    def _next(self, pool: ipaddress.IPv4Network, prefixlen: int, what: str) -> ipaddress.IPv4Network:
        i = self._made.get(prefixlen, 0)
        if i >= 2 ** (prefixlen - pool.prefixlen):
            raise ValueError(f"{self.name}: more than {2 ** (prefixlen - pool.prefixlen):,} {what}")
        self._made[prefixlen] = i + 1
        return ipaddress.IPv4Network((int(pool.network_address) + i * 2 ** (32 - prefixlen), prefixlen))

    def router(self, name: str) -> None:
        self.nodes[name] = {"forwarding": True, "interfaces": {}}
        self.routers.add_node(name)

    def _ifname(self, node: str) -> str:
        k = self._ifs.get(node, 0)
        self._ifs[node] = k + 1
        return f"eth{k}"

    def link(self, a: str, b: str) -> None:
        net = self._next(_LINKS, 30, "links")
        ends = {}
        for node, host in ((a, 1), (b, 2)):
            itf, address = self._ifname(node), net.network_address + host
            self.nodes[node]["interfaces"][itf] = f"{address}/30"
            ends[node] = (itf, address)
        self.links.append([f"{a}:{ends[a][0]}", f"{b}:{ends[b][0]}"])
        self.subnets.append((net, {a: ends[a][1], b: ends[b][1]}))
        self.routers.add_edge(a, b, via={a: ends[a][1], b: ends[b][1]})

    def lan(self, router: str, hosts: list[str]) -> None:
        net = self._next(_LANS, 24, "host bridges")
        gateway = net.network_address + 1
        bridge = f"b{router}"
        self.nodes[router]["bridges"] = {bridge: f"{gateway}/24"}
        for k, host in enumerate(hosts):
            self.nodes[host] = {"interfaces": {"eth0": f"{net.network_address + 2 + k}/24"},
                                "routes": [{"to": "default", "via": str(gateway)}]}
            self.links.append([f"{host}:eth0", f"{bridge}:{bridge}-{k}"])
            self.hosts.append(host)
        self.subnets.append((net, {router: gateway}))

    def route(self) -> None:
        """Each router's static route to every subnet it is not on: via the first neighbour (by name) one hop closer."""
        dist = dict(nx.all_pairs_shortest_path_length(self.routers))
        for r in sorted(self.routers):
            routes = []
            for net, on in self.subnets:
                if r in on:
                    continue
                d = min(dist[r].get(a, len(dist)) for a in on)
                nxt = next((n for n in sorted(self.routers[r]) if min(dist[n].get(a, len(dist)) for a in on) == d - 1), None)
                if nxt is None:
                    continue  # not connected: no route, and `check`/`reach` say so
                routes.append({"to": str(net), "via": str(self.routers.edges[r, nxt]["via"][nxt])})
            if routes:
                self.nodes[r]["routes"] = routes

    def lab(self, ends: tuple[str, str] | None, expect: bool) -> Lab:
        self.route()
        lines = [f"lab: {self.name}", "nodes:"]
        for node, entry in self.nodes.items():  # names and addresses only: plain YAML scalars, written as is
            lines.append(f"  {node}:")
            if entry.get("forwarding"):
                lines.append("    forwarding: true")
            for key in ("interfaces", "bridges"):
                if entry.get(key):
                    lines.append(f"    {key}: {_flow(entry[key])}")
            if entry.get("routes"):
                lines.append("    routes:")
                lines += [f"      - {_flow(r)}" for r in entry["routes"]]
        lines.append("links:")
        lines += [f"  - [{a}, {b}]" for a, b in self.links]
        if expect and ends is not None:
            a, b = ends
            lines += ["expect:", f"  - {{from: {a}, to: {b}}}", f"  - {{from: {b}, to: {a}}}"]
        return Lab.from_text("\n".join(lines) + "\n", f"<{self.name}>")


def _flow(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


def _at_least(value: int, least: int, what: str) -> None:
    if value < least:
        raise ValueError(f"{what}: needs at least {least}, got {value}")


def chain(n: int, name: str = "chain", *, expect: bool = True) -> Lab:
    """N routers r0..r(N-1) in a line, each joined to the next by a veth pair."""
    _at_least(n, 2, "chain")
    b = _Builder(name)
    for i in range(n):
        b.router(f"r{i}")
    for i in range(n - 1):
        b.link(f"r{i}", f"r{i + 1}")
    return b.lab(("r0", f"r{n - 1}"), expect)


def ring(n: int, name: str = "ring", *, expect: bool = True) -> Lab:
    """N routers r0..r(N-1) in a circle: a chain whose last router is joined to the first too."""
    _at_least(n, 3, "ring")
    b = _Builder(name)
    for i in range(n):
        b.router(f"r{i}")
    for i in range(n):
        b.link(f"r{i}", f"r{(i + 1) % n}")
    return b.lab(("r0", f"r{n // 2}"), expect)


def leaf_spine(spines: int = 2, leaves: int = 4, hosts: int = 1, name: str = "leaf-spine", *, expect: bool = True) -> Lab:
    """Every leaf leaf0.. joined to every spine spine0..; `hosts` hosts hL-K on a bridge in each leaf."""
    _at_least(spines, 1, "leaf_spine spines")
    _at_least(leaves, 1, "leaf_spine leaves")
    _at_least(hosts, 0, "leaf_spine hosts")
    b = _Builder(name)
    for s in range(spines):
        b.router(f"spine{s}")
    for leaf in range(leaves):
        b.router(f"leaf{leaf}")
        for s in range(spines):
            b.link(f"leaf{leaf}", f"spine{s}")
    for leaf in range(leaves):
        if hosts:
            b.lan(f"leaf{leaf}", [f"h{leaf}-{k}" for k in range(hosts)])
    ends = (b.hosts[0], b.hosts[-1]) if len(b.hosts) > 1 else ("leaf0", f"leaf{leaves - 1}") if leaves > 1 else None
    return b.lab(ends, expect)


def fat_tree(k: int = 4, name: str = "fat-tree", *, expect: bool = True) -> Lab:
    """A k-ary fat tree: (k/2)² cores cI, k pods of k/2 aggregation aP-I and k/2 edge eP-I switches,
    k/2 hosts hP-E-H on a bridge in each edge switch (k³/4 hosts in all). `k` is even."""
    _at_least(k, 2, "fat_tree k")
    if k % 2:
        raise ValueError(f"fat_tree: k must be even, got {k}")
    half = k // 2
    b = _Builder(name)
    for c in range(half * half):
        b.router(f"c{c}")
    for p in range(k):
        for i in range(half):
            b.router(f"a{p}-{i}")
            for m in range(half):
                b.link(f"a{p}-{i}", f"c{i * half + m}")
        for e in range(half):
            b.router(f"e{p}-{e}")
            for i in range(half):
                b.link(f"e{p}-{e}", f"a{p}-{i}")
    for p in range(k):
        for e in range(half):
            b.lan(f"e{p}-{e}", [f"h{p}-{e}-{h}" for h in range(half)])
    return b.lab((b.hosts[0], b.hosts[-1]), expect)
