"""What the walker carries along: a packet, conntrack entries, a hop being written, how one packet's walk ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from topograph.model import IPAddress, Proto
from topograph.sim.trace import Action, Disposition, Hop, Step

Tuple4 = tuple[IPAddress, IPAddress, int, int]
#: A packet's direction in its node's conntrack entry: "new" (it created the entry), "orig", "reply", "error" (an
#: ICMP error about the entry's connection, travelling back toward its source) or "none" (invalid: no entry).
Direction = Literal["orig", "reply", "new", "error", "none"]
#: What a walked packet is: the flow's request, the target's reply, a closed TCP port's reset, an ICMP error
#: (a closed UDP port's port unreachable, or a reject's answer) or a reject's TCP reset ("answer").
Kind = Literal["request", "reply", "reset", "error", "answer"]
#: How a reason names each kind of packet.
WHAT: dict[Kind, str] = {"request": "request", "reply": "reply", "reset": "reset", "error": "port unreachable",
                         "answer": "reset"}


def hp(a: IPAddress | None) -> str:
    """An address as host part of host:port ([::1] for IPv6)."""
    return f"[{a}]" if a is not None and a.version == 6 else str(a)


@dataclass
class Packet:
    src: IPAddress | None
    dst: IPAddress
    sport: int
    dport: int
    ttl: int
    proto: Proto
    inner: Tuple4 | None = None  # an ICMP error's embedded packet, as the node holding it sent the original

    @property
    def tuple(self) -> Tuple4:
        assert self.src is not None
        return (self.src, self.dst, self.sport, self.dport)

    def show(self) -> str:
        if self.inner is not None:
            i = self.inner
            return f"{self.src} -> {self.dst} (about {hp(i[0])}:{i[2]} -> {hp(i[1])}:{i[3]})"
        if self.proto is Proto.ICMP:
            return f"{self.src} -> {self.dst}"
        return f"{hp(self.src)}:{self.sport} -> {hp(self.dst)}:{self.dport}"


@dataclass
class CtEntry:
    """A conntrack entry: the original tuple and, once NAT is decided, the tuple it was translated to."""

    orig: Tuple4
    trans: Tuple4 | None = None
    seen_reply: bool = False  # a packet went the reply way: later ones of the original direction are established

    @property
    def reply(self) -> Tuple4:
        t = self.trans or self.orig
        return (t[1], t[0], t[3], t[2])


@dataclass
class Answer:
    """What a reject sends back: the packet (NAT of the rejecting node not yet undone) and the entry it belongs to."""

    packet: Packet
    entry: CtEntry | None
    direction: Direction


@dataclass
class Leg:
    """How one packet's walk ended."""

    disposition: Disposition
    node: str
    reason: str
    hops: list[Hop]
    packet: Packet
    local: bool = False  # delivered over the node's own loopback
    answer: Answer | None = None  # the request was rejected: this goes back from `node`
    iif: str | None = None  # delivered: the interface of `node` it came in by


@dataclass
class HopSteps:
    node: str
    steps: list[Step] = field(default_factory=list)

    def add(self, action: Action, detail: str) -> None:
        self.steps.append(Step(action, detail))

    def freeze(self) -> Hop:
        return Hop(self.node, tuple(self.steps))
