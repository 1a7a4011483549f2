"""The lab as the simulator sees it: routing tables, L2 domains, address owners and listeners, built once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from topograph.model import BRIDGE_NF_DEFAULT, LOOPBACK, Interface, IPAddress, Node, Proto, Topology
from topograph.sim.fib import Fib, usable
from topograph.sim.l2 import L2


@dataclass(frozen=True, slots=True)
class SimOptions:
    """Kernel settings the topology file does not state; the sandbox set-up pins them to these values."""

    # net.bridge.bridge-nf-call-iptables / -ip6tables of a node whose file does not say (`bridge_netfilter`)
    bridge_nf: bool = BRIDGE_NF_DEFAULT
    ttl: int = 64  # the initial TTL / hop limit of ping and of TCP
    dnat_local_only: bool = True  # port forwards match only packets to the node's own addresses (fib daddr type local)


class Network:
    """Indexes over a checked topology that every flow needs."""

    def __init__(self, topology: Topology, options: SimOptions | None = None, graph: nx.Graph | None = None,
                 base: Network | None = None) -> None:
        """`graph`: the lab's L2 graph (topograph.front.graph.l2_graph) when the caller has it already. `base`: the
        network of a lab this one is a modified copy of (topograph.sim.failures): a node that is the very
        same object there keeps its routing table (a table depends only on its own node)."""
        self.topology = topology
        self.options = options or SimOptions()
        self.nodes: dict[str, Node] = {n.name: n for n in topology.nodes}
        self.l2 = L2(topology, graph)
        same = base.nodes if base is not None else {}
        self.fib: dict[str, Fib] = {n.name: base.fib[n.name] if base is not None and same.get(n.name) is n else Fib(n)
                                    for n in topology.nodes}
        self.owner: dict[IPAddress, Interface] = {}  # the first interface, in file order, holding the address
        # addresses on more than one interface (check's TG202 warning: on two L2 segments), every holder in file order
        self.shared: dict[IPAddress, list[Interface]] = {}
        self.local: dict[str, set[IPAddress]] = {}
        for n in topology.nodes:
            mine: set[IPAddress] = set()
            for itf in n.interfaces:
                for a in itf.addresses:
                    first = self.owner.setdefault(a.ip, itf)
                    if first is not itf and not a.ip.is_link_local:
                        self.shared.setdefault(a.ip, [first]).append(itf)
                    if usable(itf, a, self.l2.carrier.get(itf.key, False)):
                        mine.add(a.ip)
            self.local[n.name] = mine
        # nodes whose netfilter frames bridged between two ports of their bridges meet, where it can change
        # anything (a chain that drops or rejects, NAT, a port forward)
        self.nf_bridges = frozenset(n.name for n in topology.nodes if self.bridge_nf(n.name) and n.bridges
                                    and (n.filters or n.nat or n.port_forwards))

    def bridge_nf(self, node: str) -> bool:
        """Do frames bridged inside `node` pass its netfilter (bridge-nf-call-iptables and -ip6tables)?"""
        said = self.nodes[node].bridge_netfilter
        return self.options.bridge_nf if said is None else said

    @cached_property
    def listeners(self) -> frozenset[tuple[str, Proto, int]]:
        """(node, proto, port) that accept connections: what a node's `listen:` names, and the target of every
        port forward."""
        out = {(n.name, x.proto, x.port) for n in self.topology.nodes for x in n.listen}
        for n in self.topology.nodes:
            for f in n.port_forwards:
                first = self.owner.get(f.to_address)
                for owner in self.shared.get(f.to_address) or ([first] if first is not None else []):
                    out.add((owner.node, f.proto, f.to_port))
        return frozenset(out)

    def is_local(self, node: str, address: IPAddress) -> bool:
        """Does `node` take `address` for itself? Its own usable addresses, loopback ones, and the unspecified
        address: the kernel routes 0.0.0.0 to the node itself (`ip route get 0.0.0.0`: local dev lo) and a connect
        to :: goes to ::1 (measured: `ping 0.0.0.0` is answered from 127.0.0.1, `ping -6 ::` from ::1)."""
        return address in self.local[node] or address.is_loopback or address.is_unspecified

    def loopback_up(self, node: str) -> bool:
        lo = self.nodes[node].interface(LOOPBACK)
        return lo is not None and lo.up

    def owner_in(self, address: IPAddress, domain: int) -> Interface | None:
        """The holder of `address` that answers ARP/ND for it in L2 `domain`: with one holder, that one; an address on
        several interfaces (TG202) is answered by the holder on that segment (IPv4: any interface of its node there,
        arp_ignore=0; IPv6: the interface itself), else by nobody there — check keeps two holders on one segment an
        error (TG211), so at most one qualifies."""
        holders = self.shared.get(address)
        if holders is None:
            return self.owner.get(address)
        for itf in holders:
            if address.version == 4 and self.l2.node_interface(domain, itf.node) is not None:
                return itf
            if address.version == 6 and self.l2.domain.get(itf.key) == domain:
                return itf
        return holders[0]

    def owner_node(self, address: IPAddress) -> str | None:
        itf = self.owner.get(address)
        return itf.node if itf is not None else None
