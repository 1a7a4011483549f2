"""What the simulator answers: frozen Trace(disposition, hops) -> Hop(node, steps) -> Step(action, detail), as pybatfish does."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from topograph.model import IPAddress, Proto


class Disposition(StrEnum):
    DELIVERED = "DELIVERED"
    NO_ROUTE = "NO_ROUTE"
    NEIGHBOR_UNREACHABLE = "NEIGHBOR_UNREACHABLE"  # no ARP/ND answer on the segment
    FORWARDING_DISABLED = "FORWARDING_DISABLED"
    RP_FILTER_DROP = "RP_FILTER_DROP"
    LOOP = "LOOP"  # a node's own packet came back to it: dropped as a martian source
    TTL_EXCEEDED = "TTL_EXCEEDED"  # a forwarded packet went round until its TTL ran out
    LOOPBACK_DOWN = "LOOPBACK_DOWN"  # a node cannot reach its own addresses with 'lo' down
    NAT_NO_RETURN = "NAT_NO_RETURN"  # the reply came back without the NAT being undone
    REPLY_LOST = "REPLY_LOST"  # the request arrived, the reply did not make it back
    CONNECTION_REFUSED = "CONNECTION_REFUSED"  # nothing listens on the port the request reached
    FILTER_DROPPED = "FILTER_DROPPED"  # a filter chain dropped the request or its reply: the source times out
    FILTER_REJECTED = "FILTER_REJECTED"  # a filter chain rejected the request and its ICMP error or reset came back
    BRIDGE_HAIRPIN = "BRIDGE_HAIRPIN"  # bridge netfilter DNATed a frame back toward the bridge port it came in on: lost

    @property
    def ok(self) -> bool:
        return self is Disposition.DELIVERED


class Action(StrEnum):
    ORIGINATED = "ORIGINATED"
    RECEIVED = "RECEIVED"
    BRIDGED = "BRIDGED"
    BRIDGE_NF = "BRIDGE_NF"  # bridge netfilter: a bridged frame meets the node's conntrack, or is bridged on after DNAT
    DNAT = "DNAT"
    SNAT = "SNAT"
    UNNAT = "UNNAT"  # conntrack undoes an earlier NAT on a reply
    ROUTED = "ROUTED"
    FILTER = "FILTER"  # a filter chain's verdict: which chain, which rule (file:line) or its policy
    DELIVERED = "DELIVERED"
    DROPPED = "DROPPED"


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    detail: str

    def __str__(self) -> str:
        return f"{self.action.lower()}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Hop:
    node: str
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Trace:
    """One packet's way through the lab: where it went, and how it ended."""

    disposition: Disposition
    hops: tuple[Hop, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(h.node for h in self.hops)


@dataclass(frozen=True, slots=True)
class Flow:
    src: str  # the node the flow starts at
    dst: IPAddress
    proto: Proto = Proto.ICMP
    port: int | None = None

    def __str__(self) -> str:
        what = str(self.proto) + (f"/{self.port}" if self.port is not None else "")
        return f"{self.src} -> {self.dst} ({what})"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a flow in short: the disposition and the node where it was decided."""

    disposition: Disposition
    node: str

    @property
    def ok(self) -> bool:
        return self.disposition.ok


@dataclass(frozen=True, slots=True)
class FlowResult:
    """A request, its reply, and the final disposition with a one-line reason naming node and missing piece."""

    flow: Flow
    disposition: Disposition
    node: str
    reason: str
    request: Trace
    reply: Trace | None = None

    @property
    def ok(self) -> bool:
        return self.disposition.ok

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.disposition, self.node)

    def as_json(self) -> dict[str, Any]:
        def trace(t: Trace | None) -> Any:
            if t is None:
                return None
            return {"disposition": str(t.disposition),
                    "hops": [{"node": h.node, "steps": [{"action": str(s.action), "detail": s.detail} for s in h.steps]}
                             for h in t.hops]}
        return {"src": self.flow.src, "dst": str(self.flow.dst), "proto": str(self.flow.proto), "port": self.flow.port,
                "disposition": str(self.disposition), "node": self.node, "reason": self.reason,
                "request": trace(self.request), "reply": trace(self.reply)}


def render_trace(t: Trace, indent: str = "  ") -> list[str]:
    lines = []
    for hop in t.hops:
        lines.append(f"{indent}{hop.node}")
        lines.extend(f"{indent}  {s}" for s in hop.steps)
    return lines


def render(result: FlowResult) -> str:
    """Human text: the request hop by hop, the reply's path, then the disposition and its reason."""
    lines = [f"flow: {result.flow}", "request:"]
    lines += render_trace(result.request)
    if result.reply is not None:
        lines.append("reply:")
        lines += render_trace(result.reply)
    lines.append(f"{result.disposition}: {result.reason}")
    return "\n".join(lines) + "\n"
