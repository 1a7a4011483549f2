"""Bridge netfilter (br_netfilter): frames bridged inside a node meet that node's netfilter, as the kernel does.

With net.bridge.bridge-nf-call-iptables (IPv4) and -ip6tables (IPv6) on — br_netfilter's default in every new
namespace, a node's `bridge_netfilter` in the file — a frame bridged between two ports of a node's bridge passes
the node's PREROUTING (conntrack, DNAT), its FORWARD chain with the bridge as both `in` and `out`, and its
POSTROUTING (SNAT, MASQUERADE out the bridge); it is not routed (no TTL step). A frame whose destination
PREROUTING changes goes up to the node's stack; when the new destination is out of the bridge it came in by,
it is bridged on (IPv4 only where the node forwards), and a bridge never sends a frame back out of the port it
came in on (measured on 6.18: see the README's table of bridge netfilter measurements).
"""

from __future__ import annotations

import ipaddress

from topograph.model import CtState, Hook, Interface, IPAddress
from topograph.sim.fib import FibRoute
from topograph.sim.filtering import Verdict as ChainVerdict
from topograph.sim.l2 import candidates
from topograph.sim.netfilter import Netfilter
from topograph.sim.packet import CtEntry, Direction, HopSteps, Kind, Packet
from topograph.sim.trace import Action

Bridged = tuple[CtEntry | None, Direction, CtState, ChainVerdict | None]


class Bridging(Netfilter):
    """The walker's bridge netfilter (a mixin: needs `net` and `explain`)."""

    neigh: dict[tuple[str, str, IPAddress], Interface]  # neighbours learnt in the flow (the walker's)

    def bridged(self, hop: HopSteps, br: Interface, pkt: Packet, ct: dict[str, list[CtEntry]],
                kind: Kind) -> Bridged | None:
        """A frame bridged between two ports of `br`, in a node whose bridge netfilter can change anything.

        None when it passes on through the bridge; else its conntrack entry, direction and state, and the verdict
        of the forward chain that stopped it, or None there when PREROUTING changed its destination (the frame
        then goes up to the node's stack, as if it had arrived on the bridge itself)."""
        node = br.node
        entry, direction, state = self.track(node, pkt, ct, kind)
        if self.explain:
            hop.add(Action.BRIDGE_NF, f"{node}'s netfilter sees the bridged frame (bridge_netfilter on): conntrack {state}")
        before = pkt.dst
        if direction == "new":
            self.dnat(hop, node, br.name, pkt)
        elif self.third_leg and direction == "orig":
            self.redo_dnat(hop, pkt, entry)
        else:
            self.undo_snat(hop, pkt, entry, direction)
        if pkt.dst != before:
            return entry, direction, state, None
        v = self.chain(hop, node, Hook.FORWARD, pkt, state, br.name, br.name)
        if v is not None and not v.passes:
            return entry, direction, state, v
        way = FibRoute(ipaddress.ip_network(pkt.dst), br.name, None, 0, None, 0)
        self.postrouting(hop, node, way, pkt, entry, direction, self.reverse_src(entry, direction))
        return None

    def back_out(self, node: str, route: FibRoute, dst: IPAddress, ingress: tuple[str, str]) -> bool:
        """Would the neighbour a bridged-on frame goes to (after `node` resolves it) be behind `ingress`, the port of
        the bridge `route.dev` the frame came in by? The bridge then drops it, before its forward hook."""
        net = self.net
        nh = route.via or dst
        d = net.l2.domain.get((node, route.dev))
        if d is None:
            return False
        found = self.neigh.get((node, route.dev, nh))
        if found is None:
            every = candidates(net.l2, d, nh, net.owner_in(nh, d), node)
            found = every[0] if every else None
        return found is not None and net.l2.port_toward((node, route.dev), found.key) == ingress

    @staticmethod
    def hairpin_text(hairpin: tuple[str, str, tuple[str, str]], pkt: Packet) -> str:
        node, bridge, port = hairpin
        return (f"{node}'s bridge netfilter sent the frame to {pkt.dst} on through bridge {bridge}, but {pkt.dst} is "
                f"behind {port[1]}, the port it came in by, and a bridge never sends a frame back out of the port it "
                f"came in on (hairpin mode is off): the frame is lost")
