"""The reachability matrix: every node to every node's address and every port forward; the per-pair reference."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from topograph.model import LOOPBACK, IPAddress, PortForward, Proto, Topology
from topograph.sim.forward import Walker
from topograph.sim.network import Network
from topograph.sim.trace import Disposition, Flow, Verdict

#: Marks a verdict decided at the flow's own source node (one group of sources, each its own node).
SOURCE = "\x00source"
#: Marks a verdict decided at the column's own target node (inside the fast matrix's cache only).
TARGET = "\x00target"

SHORT: dict[Disposition, str] = {
    Disposition.DELIVERED: "ok",
    Disposition.NO_ROUTE: "no-route",
    Disposition.NEIGHBOR_UNREACHABLE: "no-neigh",
    Disposition.FORWARDING_DISABLED: "no-fwd",
    Disposition.RP_FILTER_DROP: "rp-drop",
    Disposition.LOOP: "loop",
    Disposition.TTL_EXCEEDED: "ttl",
    Disposition.LOOPBACK_DOWN: "lo-down",
    Disposition.NAT_NO_RETURN: "nat-back",
    Disposition.REPLY_LOST: "no-reply",
    Disposition.CONNECTION_REFUSED: "refused",
    Disposition.FILTER_DROPPED: "fw-drop",
    Disposition.FILTER_REJECTED: "fw-reject",
    Disposition.BRIDGE_HAIRPIN: "hairpin",
}


@dataclass(frozen=True, slots=True)
class Target:
    """A column of the matrix: an address of a node, or a port forward of a node.

    A port forward column without a fixed address is aimed, per source, at the first of its node's addresses
    (the `in` interface's first) that the source has a route to — how one would use it from there.
    """

    name: str
    node: str
    address: IPAddress
    proto: Proto = Proto.ICMP
    port: int | None = None
    candidates: tuple[IPAddress, ...] = ()  # a port forward's addresses to choose from, per source

    def flow(self, src: str, net: Network | None = None) -> Flow:
        address = self.address
        if net is not None and self.candidates:
            address = next((a for a in self.candidates if net.fib[src].lookup(a) is not None), self.address)
        return Flow(src, address, self.proto, self.port)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "node": self.node, "address": None if self.candidates else str(self.address),
                "proto": str(self.proto), "port": self.port}


#: Columns no node owns that every node reaches by itself: the kernel takes 0.0.0.0 and :: for the node's own
#: loopback (see Network.is_local). Not part of `reach`; the tests hold the simulator against the kernel with them.
ITSELF: tuple[Target, ...] = (Target("0.0.0.0", "", ipaddress.IPv4Address(0)), Target("::", "", ipaddress.IPv6Address(0)))


def targets(topology: Topology, *, every_address: bool = False) -> tuple[Target, ...]:
    """Each node's primary address (what `to: NODE` means), then every port forward of every node.

    With `every_address`, every address of every node instead, and every port forward at each address of its node.
    """
    out: list[Target] = []
    for node in topology.nodes:
        if every_address:
            for itf in node.interfaces:
                for a in itf.addresses:
                    if not a.ip.is_loopback:
                        out.append(Target(f"{node.name}[{a.ip}]", node.name, a.ip))
        elif node.primary_address is not None:
            out.append(Target(node.name, node.name, node.primary_address))
    for node in topology.nodes:
        for f in node.port_forwards:
            addrs = forward_addresses(topology, node.name, f)
            if not addrs:
                continue
            if every_address:
                out += [Target(f"{node.name}:{f.port}@{a}", node.name, a, f.proto, f.port) for a in addrs]
            else:
                out.append(Target(f"{node.name}:{f.port}", node.name, addrs[0], f.proto, f.port, tuple(addrs)))
    return tuple(out)


def forward_target(topology: Topology, node: str, port: int) -> Target | None:
    """NODE:PORT as `trace` and `expect: {to: NODE:PORT}` mean it: a TCP connection through `node`'s TCP port
    forward on `port`, aimed per source like the matrix's column (None: no such forward, or no address for it)."""
    f = next((f for f in topology.node(node).port_forwards if f.port == port and f.proto is Proto.TCP), None)
    addrs = forward_addresses(topology, node, f) if f is not None else []
    if f is None or not addrs:
        return None
    return Target(f"{node}:{port}", node, addrs[0], f.proto, port, tuple(addrs))


def forward_addresses(topology: Topology, node: str, f: PortForward) -> list[IPAddress]:
    """The addresses a port forward answers on, in file order, the `in` interface's first."""
    if f.address is not None:
        return [f.address]  # that address only, the node's own or not (a transit address is caught on the way)
    n = topology.node(node)
    addrs = [a.ip for itf in n.interfaces if itf.name != LOOPBACK for a in itf.addresses if a.version == f.to_address.version]
    if f.in_interface is not None:
        itf = n.interface(f.in_interface)
        on_in = [a.ip for a in itf.addresses if a.version == f.to_address.version] if itf is not None else []
        addrs = [*on_in, *(a for a in addrs if a not in on_in)]
    return addrs


class Matrix:
    """Verdicts of every (source, target): per target, groups of sources (bit sets over source indices)."""

    def __init__(self, sources: Sequence[str], targets: Sequence[Target], columns: list[list[tuple[Verdict, int]]]) -> None:
        self.sources = tuple(sources)
        self.targets = tuple(targets)
        self.columns = columns
        self.index = {s: i for i, s in enumerate(self.sources)}

    def verdict(self, src: str, target: int) -> Verdict:
        bit = 1 << self.index[src]
        for v, bits in self.columns[target]:
            if bits & bit:
                return Verdict(v.disposition, src) if v.node == SOURCE else v
        raise KeyError((src, target))

    def rows(self) -> list[list[Verdict]]:
        """The full matrix, source by source (materialises every cell)."""
        out: list[list[Verdict]] = [[] for _ in self.sources]
        for t in range(len(self.targets)):
            cells: list[Verdict | None] = [None] * len(self.sources)
            for v, bits in self.columns[t]:
                for i in _bits(bits):
                    cells[i] = Verdict(v.disposition, self.sources[i]) if v.node == SOURCE else v
            for i, c in enumerate(cells):
                assert c is not None, (self.sources[i], self.targets[t])
                out[i].append(c)
        return out

    def counts(self) -> Counter[Disposition]:
        c: Counter[Disposition] = Counter()
        for col in self.columns:
            for v, bits in col:
                c[v.disposition] += bits.bit_count()
        return c

    def __len__(self) -> int:
        return len(self.sources) * len(self.targets)

    def differences(self, other: Matrix, limit: int = 20) -> list[str]:
        """Cells where two matrices disagree (empty when identical)."""
        out: list[str] = []
        if self.sources != other.sources or self.targets != other.targets:
            return ["different sources or targets"]
        for a_row, b_row, s in zip(self.rows(), other.rows(), self.sources, strict=True):
            for a, b, t in zip(a_row, b_row, self.targets, strict=True):
                if a != b:
                    out.append(f"{s} -> {t.name}: {a.disposition}@{a.node} vs {b.disposition}@{b.node}")
                    if len(out) >= limit:
                        return out
        return out

    def as_json(self) -> dict[str, Any]:
        rows = self.rows()
        return {"sources": list(self.sources), "targets": [t.as_json() for t in self.targets],
                "matrix": {s: {t.name: {"disposition": str(v.disposition), "node": v.node}
                               for t, v in zip(self.targets, row, strict=True)}
                           for s, row in zip(self.sources, rows, strict=True)},
                "counts": {str(d): n for d, n in sorted(self.counts().items())}}

    def table(self) -> str:
        """A plain text table: sources down, targets across, a short code per cell, then a legend."""
        rows = self.rows()
        head = ["from \\ to", *(t.name for t in self.targets)]
        body = [[s, *(SHORT[v.disposition] for v in row)] for s, row in zip(self.sources, rows, strict=True)]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *body]]
        used = sorted({v.disposition for row in rows for v in row}, key=list(Disposition).index)
        lines.append("")
        lines += [f"{SHORT[d]:>9} = {d}" for d in used]
        return "\n".join(lines) + "\n"


def _bits(bits: int) -> Iterable[int]:
    i = 0
    while bits:
        if bits & 1:
            yield i
        bits >>= 1
        i += 1


def group(verdicts: Iterable[tuple[int, Verdict]]) -> list[tuple[Verdict, int]]:
    by: dict[Verdict, int] = {}
    for i, v in verdicts:
        by[v] = by.get(v, 0) | (1 << i)
    return ordered(by)


def ordered(by: dict[Verdict, int]) -> list[tuple[Verdict, int]]:
    """A column's (verdict, bit set of sources) pairs in the order both matrices keep them."""
    return sorted(by.items(), key=lambda kv: (kv[0].disposition, kv[0].node))


def reference_matrix(net: Network, cols: Sequence[Target] | None = None, sources: Sequence[str] | None = None) -> Matrix:
    """The straightforward matrix: one full flow walk per (source, target). The fast matrix must equal it."""
    cols = tuple(cols if cols is not None else targets(net.topology))
    srcs = tuple(sources if sources is not None else net.nodes)
    walker = Walker(net, explain=False)
    columns = [group((i, walker.run(t.flow(s, net)).verdict) for i, s in enumerate(srcs)) for t in cols]
    return Matrix(srcs, cols, columns)
