"""The walker's netfilter: conntrack (entries, directions, states), DNAT, SNAT/MASQUERADE and the filter chains.

The chains run where the kernel runs them: OUTPUT after a node's own routing decision, INPUT and FORWARD after
PREROUTING's DNAT (they see the translated destination), POSTROUTING's SNAT after FORWARD (it sees the original
source). A reject answers from the rejecting node: an ICMP port unreachable or a TCP reset, tracked as related.
"""

from __future__ import annotations

from topograph.model import CtState, Hook, Proto, RuleAction, Snat
from topograph.sim.fib import FibRoute, select_source
from topograph.sim.filtering import Verdict as ChainVerdict
from topograph.sim.filtering import evaluate_chain
from topograph.sim.network import Network
from topograph.sim.packet import WHAT, Answer, CtEntry, Direction, HopSteps, Kind, Packet, Tuple4
from topograph.sim.trace import Action, Disposition


class Netfilter:
    """Conntrack, NAT and filter chains for the walker (a mixin: needs `net` and `explain`)."""

    net: Network
    explain: bool
    original: Tuple4 | None  # the request as its source sent it (before a DNAT of the node's own traffic)
    third_leg: bool
    pickup: bool

    # -- conntrack -----------------------------------------------------------------------------------
    @staticmethod
    def conntrack_lookup(node: str, pkt: Packet, ct: dict[str, list[CtEntry]],
                         going_back: bool = False) -> tuple[CtEntry, Direction] | None:
        """The node's conntrack entry the packet belongs to, and in which direction; None for a new connection.
        `going_back`: a reply, which conntrack tells from its request by the ICMP type even when both tuples are
        the same (a ping of one's own address)."""
        t = pkt.tuple
        for e in ct.get(node, []):
            if going_back and e.reply == t:
                return e, "reply"
            if e.orig == t:
                return e, "orig"
            if e.reply == t:
                return e, "reply"
        return None

    def track(self, node: str, pkt: Packet, ct: dict[str, list[CtEntry]],
              kind: Kind) -> tuple[CtEntry | None, Direction, CtState]:
        """The packet's entry at `node`, its direction and its state as `ct state` sees it (creating the entry
        for a first packet). Conntrack cannot place a TCP SYN-ACK or RST, or an ICMP echo reply, without an entry
        (invalid, no entry made); a UDP datagram without one is new, whichever way it goes, and so is a TCP segment
        of a server's data (`pickup`: conntrack picks the connection up from a plain ACK)."""
        if pkt.inner is not None:  # an ICMP error: related when it is about a connection the node tracks
            for e in ct.get(node, []):
                if (e.trans or e.orig) == pkt.inner:
                    return e, "error", CtState.RELATED
            return None, "none", CtState.INVALID
        known = self.conntrack_lookup(node, pkt, ct, kind != "request")
        if known is not None:
            e, d = known
            if d == "reply":
                e.seen_reply = True
                return e, d, CtState.ESTABLISHED
            if self.third_leg and not e.seen_reply:  # a handshake's ACK where no SYN-ACK passed: conntrack calls
                return None, "none", CtState.INVALID  # it invalid (and does not translate it)
            return e, d, CtState.ESTABLISHED if e.seen_reply else CtState.NEW
        if kind != "request" and not (kind == "reply" and (pkt.proto is Proto.UDP or self.pickup)):
            return None, "none", CtState.INVALID
        e = CtEntry(pkt.tuple)
        ct.setdefault(node, []).append(e)
        return e, "new", CtState.NEW

    def undo_snat(self, hop: HopSteps, pkt: Packet, entry: CtEntry | None, direction: Direction) -> None:
        """PREROUTING for a packet going back: conntrack gives it the destination the connection started from."""
        if entry is None or direction not in ("reply", "error"):
            return
        before = pkt.show() if self.explain else ""
        if direction == "reply":
            pkt.dst, pkt.dport = entry.orig[0], entry.orig[2]
        else:
            if entry.trans is not None and entry.trans[0] != entry.orig[0]:
                pkt.dst = entry.orig[0]
            pkt.inner = entry.orig
        if self.explain and pkt.show() != before:
            hop.add(Action.UNNAT, f"conntrack: destination {before} becomes {pkt.show()}")

    def redo_dnat(self, hop: HopSteps, pkt: Packet, entry: CtEntry | None) -> None:
        """PREROUTING for a later packet of the original direction: the destination its connection was DNATed to."""
        if entry is None or entry.trans is None:
            return
        before = pkt.show() if self.explain else ""
        pkt.dst, pkt.dport = entry.trans[1], entry.trans[3]
        if self.explain and pkt.show() != before:
            hop.add(Action.DNAT, f"conntrack: destination {before} becomes {pkt.show()}")

    @staticmethod
    def reverse_src(entry: CtEntry | None, direction: Direction) -> tuple[int, object] | None:
        """The source a packet going back gets at POSTROUTING/INPUT (undoing a DNAT of the request): (how, value)
        with how 1 for (address, port), 2 for the address alone (an ICMP error's outer source)."""
        if entry is None:
            return None
        if direction == "reply":
            return (1, (entry.orig[1], entry.orig[3]))
        if direction == "error" and entry.trans is not None and entry.trans[1] != entry.orig[1]:
            return (2, entry.orig[1])
        return None

    def apply_src(self, hop: HopSteps, pkt: Packet, pending: tuple[int, object]) -> None:
        before = pkt.show() if self.explain else ""
        how, value = pending
        if how == 1:
            pkt.src, pkt.sport = value  # type: ignore[misc]
        else:
            pkt.src = value  # type: ignore[assignment]
        if self.explain and pkt.show() != before:
            hop.add(Action.UNNAT, f"conntrack: source {before} becomes {pkt.show()}")

    def dnat(self, hop: HopSteps, node: str, in_itf: str, pkt: Packet) -> None:
        """PREROUTING: the first port forward that matches (an `address` one matches that address only, even one
        the node does not have: transit traffic to it is forwarded too — measured)."""
        for f in self.net.nodes[node].port_forwards:
            if f.proto is not pkt.proto or f.port != pkt.dport or f.to_address.version != pkt.dst.version:
                continue
            if f.in_interface is not None and f.in_interface != in_itf:
                continue
            own = self.net.is_local(node, pkt.dst) or not self.net.options.dnat_local_only
            if not f.catches(pkt.dst, own):
                continue
            before = pkt.show() if self.explain else ""
            pkt.dst, pkt.dport = f.to_address, f.to_port
            if self.explain:
                hop.add(Action.DNAT, f"port forward {f.proto}/{f.port}: {before} becomes {pkt.show()}")
            return

    def output_dnat(self, hop: HopSteps, node: str, pkt: Packet, ct: dict[str, list[CtEntry]],
                    kind: Kind) -> tuple[CtEntry | None, Direction, CtState] | None:
        """The nat output hook for a node's own new connection: a `local: true` port forward on the node's own
        address (never a loopback one: the kernel drops a 127.0.0.1 source leaving by another interface) sends
        it to the target. The source stays the address the connection was made to (measured: the target sees
        the node's public address, and its reply must route back to it). Returns the connection's conntrack
        entry, made from the tuple before the translation, or None when no forward applies."""
        dst = pkt.dst
        if dst.is_loopback or dst.is_unspecified:
            return None
        own = self.net.is_local(node, dst)
        for f in self.net.nodes[node].port_forwards:
            if not f.local or f.proto is not pkt.proto or f.port != pkt.dport or f.to_address.version != dst.version:
                continue
            if not f.catches(dst, own):
                continue
            if pkt.src is None:
                if own:
                    pkt.src = dst
                else:  # an address elsewhere: the source its route picks (no route: connect fails before the hook)
                    route = self.net.fib[node].lookup(dst)
                    src = select_source(self.net.nodes[node], route.dev, route.via or dst) if route else None
                    if src is None:
                        return None
                    pkt.src = src
            self.original = pkt.tuple
            found = self.track(node, pkt, ct, kind)
            before = pkt.show() if self.explain else ""
            pkt.dst, pkt.dport = f.to_address, f.to_port
            if self.explain:
                hop.add(Action.ORIGINATED, f"{WHAT[kind]} {pkt.proto} {before}")
                hop.add(Action.DNAT, f"port forward {f.proto}/{f.port} (the node's own traffic, nat output): "
                        f"{before} becomes {pkt.show()}")
            return found
        return None

    def redo_output_dnat(self, hop: HopSteps, node: str, pkt: Packet,
                         ct: dict[str, list[CtEntry]]) -> tuple[CtEntry | None, Direction, CtState] | None:
        """The nat output hook for a later packet of a node's own connection that a `local: true` port forward
        translated: conntrack sends it where the first one went. None when the node's connection was not DNATed."""
        known = self.conntrack_lookup(node, pkt, ct)
        if known is None or known[1] != "orig" or known[0].trans is None or known[0].trans[1] == pkt.dst:
            return None
        found = self.track(node, pkt, ct, "request")
        self.redo_dnat(hop, pkt, known[0])
        return found

    def postrouting(self, hop: HopSteps, node: str, route: FibRoute, pkt: Packet, entry: CtEntry | None,
                    direction: Direction, pending: tuple[int, object] | None) -> None:
        if pending is not None:
            self.apply_src(hop, pkt, pending)
        if direction == "orig" and entry is not None and entry.trans is not None and self.third_leg:
            before = pkt.show() if self.explain else ""
            pkt.src, pkt.sport = entry.trans[0], entry.trans[2]  # the source its connection was SNATed to
            if self.explain and pkt.show() != before:
                hop.add(Action.SNAT, f"conntrack: source {before} becomes {pkt.show()}")
            return
        if direction != "new" or entry is None:
            return
        n = self.net.nodes[node]
        assert pkt.src is not None
        for m in n.nat:  # in file order: the first rule that matches translates
            if m.matches(pkt.src, pkt.dst, route.dev):
                snat = isinstance(m, Snat)
                new = m.to if isinstance(m, Snat) else select_source(n, route.dev, route.via or pkt.dst)
                if new is not None and new != pkt.src:
                    before = pkt.show() if self.explain else ""
                    pkt.src = new
                    if self.explain:
                        what = f"snat to {new}" if snat else f"masquerade out {route.dev}"
                        hop.add(Action.SNAT, f"{what}: {before} becomes {pkt.show()}")
                break
        entry.trans = pkt.tuple

    # -- filter chains -------------------------------------------------------------------------------
    def chain(self, hop: HopSteps, node: str, hook: Hook, pkt: Packet, state: CtState, iif: str | None,
              oif: str | None) -> ChainVerdict | None:
        """The verdict of the node's chain at `hook` (None: the node has no such chain), written as a FILTER step."""
        n = self.net.nodes[node]
        if not n.filter:
            return None
        c = n.chain(hook)
        if c is None:
            return None
        assert pkt.src is not None
        v = evaluate_chain(c, pkt.src, pkt.dst, pkt.proto, pkt.sport, pkt.dport, iif, oif, state)
        if self.explain:
            hop.add(Action.FILTER, f"{hook} chain ({state}): {v.describe()}")
        return v

    def denied(self, node: str, v: ChainVerdict, pkt: Packet, kind: Kind, entry: CtEntry | None,
               direction: Direction, ct: dict[str, list[CtEntry]], hook: Hook,
               route_back: FibRoute | None) -> tuple[Disposition, str, Answer | None]:
        """What a chain's drop or reject means for the flow: (disposition, reason, the reject's answer or None)."""
        what = WHAT[kind]
        seen = pkt.show() if self.explain else ""
        if v.action is RuleAction.DROP:
            return (Disposition.FILTER_DROPPED, f"{node}'s {hook} chain dropped the {what} ({seen}): {v.cause(node)}"
                    if self.explain else "", None)
        answer = "a TCP reset" if v.action is RuleAction.RESET else "an ICMP port unreachable"
        if kind != "request":
            # no answer to an ICMP error or a reset; the answer to a reply goes to the replier: the source waits
            to = "nobody (no answer is sent to an ICMP error or a reset)" if kind != "reply" else "the replier"
            return (Disposition.FILTER_DROPPED, f"{node}'s {hook} chain rejected the {what} ({seen}) by "
                    f"{v.cause(node)}: {answer} goes to {to}, and the source times out" if self.explain else "", None)
        assert pkt.src is not None
        if entry is not None and direction == "new":
            entry.trans = pkt.tuple  # NAT done so far; the entry itself is never confirmed
            ct[node].remove(entry)
        if v.action is RuleAction.RESET:
            back = Packet(pkt.dst, pkt.src, pkt.dport, pkt.sport, self.net.options.ttl, Proto.TCP)
            ans = Answer(back, entry, "reply")
        else:
            if hook is Hook.FORWARD:
                src = None
                if route_back is not None:
                    src = select_source(self.net.nodes[node], route_back.dev, route_back.via or pkt.src)
                if src is None:
                    return (Disposition.FILTER_DROPPED, f"{node}'s {hook} chain rejected the request ({seen}) by "
                            f"{v.cause(node)}, but {node} has no route back to {pkt.src} for its ICMP port "
                            f"unreachable: the source times out" if self.explain else "", None)
            else:
                src = pkt.dst if hook is Hook.INPUT else pkt.src
            inner = entry.orig if entry is not None else pkt.tuple
            back = Packet(src, pkt.src, 0, 0, self.net.options.ttl, Proto.ICMP, inner)
            ans = Answer(back, entry, "error")
        return (Disposition.FILTER_REJECTED, f"{node}'s {hook} chain rejected the request ({seen}) by "
                f"{v.cause(node)}: {answer} goes back" if self.explain else "", ans)
