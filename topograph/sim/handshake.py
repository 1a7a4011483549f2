"""The legs of a TCP connection after its SYN and SYN-ACK: the handshake's final ACK, and the server's first data.

A mixin of the walker (sim/forward.py), which walks each leg with its own `walk` and judges it with `back`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topograph.model import Proto
from topograph.sim.network import Network
from topograph.sim.packet import CtEntry, Kind, Leg, Packet, Tuple4, hp
from topograph.sim.trace import Disposition, Flow, FlowResult, Trace

if TYPE_CHECKING:
    from topograph.sim.packet import Answer


class Handshake:
    """The walker's TCP legs (a mixin: needs the walker's `walk` and `back`, `net`, `explain` and its mode flags)."""

    net: Network
    explain: bool
    original: Tuple4 | None
    third_leg: bool
    pickup: bool

    if TYPE_CHECKING:
        def walk(self, start: str, pkt: Packet, ct: dict[str, list[CtEntry]], *, kind: Kind,
                 origin: Answer | None = None, loopback: bool = False) -> Leg: ...

        def back(self, flow: Flow, target: str, sent: Packet, rep: Leg, kind: Kind, ct: dict[str, list[CtEntry]],
                 request: Trace) -> FlowResult: ...

    def server_data(self, flow: Flow, target: str, sent: Packet, ct: dict[str, list[CtEntry]],
                    done: FlowResult) -> FlowResult:
        """The server's first data (a banner) goes the SYN-ACK's way. A node on it that had no entry took the SYN-ACK as
        invalid (conntrack cannot place it) and made none; the data's plain ACK it picks up as a new connection
        (nf_conntrack_tcp_loose), which its chains see as new and its masquerade translates (measured: the client
        connects, but the server's banner never arrives)."""
        assert sent.src is not None
        data = Packet(sent.dst, sent.src, sent.dport, sent.sport, self.net.options.ttl, Proto.TCP)
        self.pickup = True
        try:
            rep = self.walk(target, data, ct, kind="reply")
        finally:
            self.pickup = False
        got = self.back(flow, target, sent, rep, "reply", ct, done.request)
        if got.ok:
            return done
        why = got.reason
        if got.disposition is Disposition.NAT_NO_RETURN:
            why = (f"it reaches {flow.src} from {hp(rep.packet.src)}:{rep.packet.sport}: a node on its way that had not "
                   f"seen the SYN (it took the SYN-ACK as invalid) picked the connection up from the data as new and "
                   f"translated it, so {flow.src} has no connection for it")
        return FlowResult(flow, got.disposition, got.node, f"{flow.src}'s connect completes, but the server's data "
                          f"does not come back as its SYN-ACK did: {why}" if self.explain else "",
                          done.request, done.reply)

    def handshake(self, flow: Flow, done: FlowResult, ct: dict[str, list[CtEntry]], *,
                  loopback: bool = False) -> FlowResult:
        """A TCP connection's third leg: the client's ACK goes the request's way, established, translated as conntrack
        translated the SYN. A chain that drops it leaves the server's connection half open (SYN-RECV): the client's
        connect completes but nothing ever comes over it; a reject or reset that reaches the client refuses it
        (measured: ECONNREFUSED, ECONNRESET)."""
        original = self.original
        assert original is not None
        ack = Packet(original[0], original[1], original[2], original[3], self.net.options.ttl, Proto.TCP)
        self.third_leg = True
        try:
            leg = self.walk(flow.src, ack, ct, kind="request", loopback=loopback)
        finally:
            self.third_leg = False
        if leg.disposition.ok:
            return done
        what = f"{flow.src}'s connect completes, but the handshake's final ACK (established) is lost"
        if leg.answer is None:
            return FlowResult(flow, Disposition.FILTER_DROPPED if leg.disposition is Disposition.FILTER_DROPPED
                              else Disposition.REPLY_LOST, leg.node,
                              f"{what}: {leg.reason}; the server never accepts the connection and nothing comes "
                              f"over it" if self.explain else "", done.request, done.reply)
        answer = leg.answer
        kind: Kind = "error" if answer.packet.inner is not None else "answer"
        rep = self.walk(leg.node, answer.packet, ct, kind=kind, origin=answer)
        if rep.disposition.ok and rep.node == flow.src:
            return FlowResult(flow, Disposition.FILTER_REJECTED, leg.node,
                              f"{what}: {leg.reason}, and the connection fails at once" if self.explain else "",
                              done.request, done.reply)
        return FlowResult(flow, Disposition.FILTER_DROPPED, leg.node,
                          f"{what}: {leg.reason}, but that answer does not reach {flow.src}; the server never accepts "
                          f"the connection" if self.explain else "", done.request, done.reply)
