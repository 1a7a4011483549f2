"""Why a packet was lost, in words that name the node and the missing piece; the reverse-path and martian checks."""

from __future__ import annotations

from topograph.model import IPAddress
from topograph.sim.network import Network
from topograph.sim.packet import HopSteps
from topograph.sim.trace import Action, Disposition


class Reasons:
    """The walker's reason texts (a mixin: needs `self.net`)."""

    net: Network

    def no_route(self, node: str, dst: IPAddress) -> str:
        owner = self.net.owner.get(dst)
        target = dst
        if owner is not None:
            for a in owner.addresses:
                if a.ip == dst and a.network.prefixlen < a.max_prefixlen:
                    target = a.network  # type: ignore[assignment]
        text = f"{node} has no route to {target}"
        gw = self.suggest_gateway(node, dst)
        return text + (f" — add a route via {gw}" if gw is not None else " — add a route to it")

    def suggest_gateway(self, node: str, dst: IPAddress) -> IPAddress | None:
        """A neighbour's address through which `dst` is routable: the gateway the author probably forgot."""
        net = self.net
        for itf in net.nodes[node].interfaces:
            d = net.l2.domain.get(itf.key)
            if d is None:
                continue
            for other in net.l2.members[d]:
                if other.node == node or not net.nodes[other.node].forwarding:
                    continue
                if not (net.is_local(other.node, dst) or net.fib[other.node].lookup(dst) is not None):
                    continue
                for a in other.addresses:
                    if a.version == dst.version:
                        return a.ip
        return None

    def unreachable(self, node: str, dev: str, nh: IPAddress, domain: int | None) -> str:
        net = self.net
        what = "ARP" if nh.version == 4 else "neighbour solicitation"
        if domain is None:
            itf = net.nodes[node].interface(dev)
            why = "it is down" if itf is not None and not itf.up else "it has no carrier (its link or bridge is down)"
            return f"{node} sends {nh} out {dev}, but {why}"
        owner = net.owner.get(nh)
        text = f"{node}: no answer to {what} for {nh} out {dev}"
        if owner is None:
            return text + f" — no node has {nh}"
        if owner.node == node:
            return text + f" — {nh} is {node}'s own address"
        if net.l2.node_interface(domain, owner.node) is None or nh.version == 6:
            return text + f" — {owner.label} has it, but is not on that segment"
        return text + f" — {owner.node}'s reverse-path filter ignores the request"

    def ttl_text(self, node: str, hops: list[HopSteps]) -> str:
        received = [h.node for h in hops if h.steps and h.steps[0].action is Action.RECEIVED]
        return f"the TTL ran out at {node}: a routing loop " + self.loop_text(received)

    @staticmethod
    def loop_text(nodes: list[str]) -> str:
        seen: list[str] = []
        for n in nodes:
            if n in seen:
                cycle = [*seen[seen.index(n):], n]
                return "between " + " -> ".join(cycle)
            seen.append(n)
        return "through " + " -> ".join(nodes[-6:])




def rp_problem(net: Network, node: str, itf: str, src: IPAddress | None) -> tuple[Disposition, str] | None:
    """Martian source or reverse-path filter verdict for a packet (or ARP request) from `src` arriving on node:itf."""
    if src is None or src.version != 4:
        return None
    if src in net.local[node]:
        return (Disposition.LOOP, f"{node} dropped a packet arriving on {itf} with its own address {src} as source "
                f"(martian): its own packet was routed back to it — a routing loop")
    return rp_filter_problem(net, node, itf, src)


def rp_filter_problem(net: Network, node: str, itf: str, src: IPAddress) -> tuple[Disposition, str] | None:
    """The reverse-path filter alone (IPv4): is the route back to `src` acceptable for a packet in on `itf`?"""
    if src.version != 4:
        return None
    mode = net.nodes[node].rp_filter.value
    if mode == "disabled":
        return None
    back = net.fib[node].lookup(src)
    if back is None:
        return (Disposition.RP_FILTER_DROP, f"{node} ({mode} rp_filter) dropped a packet from {src} on {itf}: it has no "
                f"route back to {src} — add one, or set rp_filter: disabled")
    if mode == "strict" and back.dev != itf:
        return (Disposition.RP_FILTER_DROP, f"{node} (strict rp_filter) dropped a packet from {src} on {itf}: its route "
                f"back to {src} leaves by {back.dev} — make the paths symmetric, or set rp_filter: loose")
    return None
