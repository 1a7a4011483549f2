"""IPv6 neighbour discovery through the filter chains: who must let a solicitation and its advertisement pass.

Linux runs ND through the inet filter chains of both neighbours, never their forward chain (it is link-local):
the asker's neighbour solicitation (ICMPv6 135) leaves by its output chain and enters the target's input chain;
the target's advertisement (ICMPv6 136) leaves by the target's output chain and enters the asker's input chain.
Conntrack leaves ND untracked (nf_conntrack_proto_icmpv6), so no `state` match takes it; state-less rules do.
A bridge on the way whose node's bridge netfilter is on passes both through that node's forward chain, in and
out the bridge (measured: a forward policy drop there leaves the neighbours unresolved until a state-less
`proto: icmpv6` rule accepts them).

The solicitation's source is the packet's own source when that address is on the outgoing interface, else the
interface's link-local address (ndisc_solicit -> ndisc_send_ns); its destination is the target's solicited-node
multicast group. The advertisement goes from the target address back to the solicitation's source. The target
keeps the solicitation's source as a (stale) neighbour (ndisc_recv_ns), so its answer to that very address needs
no solicitation of its own (measured: a node whose output chain drops its own solicitations still answers a
ping from the neighbour that solicited it).

ARP is not an IP packet: the inet chains never see it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from topograph.model import Hook, Interface, IPAddress, Proto
from topograph.sim.filtering import Verdict, chain_of, evaluate_chain
from topograph.sim.network import Network

#: The asker's link-local address, as a solicitation's source when the packet's source is not on the interface.
LINK_LOCAL = ipaddress.IPv6Address("fe80::1")
_SOLICITED = int(ipaddress.IPv6Address("ff02::1:ff00:0"))


def solicited_node(target: IPAddress) -> ipaddress.IPv6Address:
    """ff02::1:ffXX:XXXX, the group a neighbour solicitation for `target` is sent to."""
    return ipaddress.IPv6Address(_SOLICITED | (int(target) & 0xFFFFFF))


def solicitation_source(net: Network, node: str, dev: str, src: IPAddress | None) -> IPAddress:
    """The source of `node`'s solicitation out of `dev` for a packet from `src`: that address when it is `dev`'s."""
    itf = net.nodes[node].interface(dev)
    if src is not None and itf is not None and src in net.local[node] and any(a.ip == src for a in itf.addresses):
        return src
    return LINK_LOCAL


def nd_filters(net: Network, node: str) -> bool:
    """Can `node`'s chains decide its neighbour discovery (it has an input or an output chain)?"""
    n = net.nodes[node]
    return bool(n.filter) and (n.chain(Hook.INPUT) is not None or n.chain(Hook.OUTPUT) is not None)


@dataclass(frozen=True, slots=True)
class NdStep:
    """One chain ND passes: whose, which hook, the packet (what, source, destination) and the chain's verdict."""

    node: str
    hook: Hook
    what: str
    src: IPAddress
    dst: IPAddress
    verdict: Verdict

    def describe(self) -> str:
        return f"neighbour discovery: {self.node}'s {self.hook} chain (untracked) on the {self.what} " \
               f"{self.src} -> {self.dst}: {self.verdict.describe()}"

    def reason(self, asker: str, dev: str, target: IPAddress) -> str:
        done = {"drop": "dropped", "reject": "rejected"}.get(self.verdict.action.value, "reset")
        untracked = " — neighbour discovery is untracked, so no 'state' rule accepts it" \
            if self.verdict.rule is None else ""
        return (f"{self.node}'s {self.hook} chain {done} the neighbour discovery {self.what} ({self.src} -> "
                f"{self.dst}) of {asker} asking for {target} out {dev}, by {self.verdict.cause(self.node)}"
                f"{untracked}: {asker} cannot resolve {target}, and the packet waits until it is lost")


def exchange(net: Network, asker: str, dev: str, target: IPAddress, src: IPAddress | None,
             answerer: Interface, bridges: Sequence[Interface] = ()) -> tuple[list[NdStep], IPAddress]:
    """The chains `asker`'s solicitation for `target` (out of `dev`, for a packet from `src`) and `answerer`'s
    advertisement pass, in order, up to the first that does not accept; and the solicitation's source.
    `bridges`: the bridges between them whose node's bridge netfilter is on (their forward chains)."""
    ns_src = solicitation_source(net, asker, dev, src)
    ns_dst = solicited_node(target)
    there = [(b.node, Hook.FORWARD, "solicitation", ns_src, ns_dst, b.name, b.name) for b in bridges]
    back = [(b.node, Hook.FORWARD, "advertisement", target, ns_src, b.name, b.name) for b in reversed(bridges)]
    legs = ((asker, Hook.OUTPUT, "solicitation", ns_src, ns_dst, None, dev), *there,
            (answerer.node, Hook.INPUT, "solicitation", ns_src, ns_dst, answerer.name, None),
            (answerer.node, Hook.OUTPUT, "advertisement", target, ns_src, None, answerer.name), *back,
            (asker, Hook.INPUT, "advertisement", target, ns_src, dev, None))
    steps: list[NdStep] = []
    for node, hook, what, s, d, iif, oif in legs:
        c = chain_of(net.nodes[node], hook)
        if c is None:
            continue
        v = evaluate_chain(c, s, d, Proto.ICMP, 0, 0, iif, oif, None)
        steps.append(NdStep(node, hook, what, s, d, v))
        if not v.passes:
            break
    return steps, ns_src
