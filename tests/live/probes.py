"""What a probe saw, told apart the way the simulator's dispositions are: reached, refused at once, or silence.

The kernel's answers, measured in namespaces (tests/live/test_differential.py relies on them):

- a ping answered by an ICMP (ICMPv6) port unreachable — nft's `reject` — ends at once; `ping` prints
  "Destination Port Unreachable" (IPv6: "Destination unreachable: Port unreachable");
- a TCP connect answered by a reset (nothing listens, or `reject with tcp reset`) or by an ICMP port
  unreachable fails at once with ECONNREFUSED (over IPv6, an ICMPv6 error may refuse it only after the SYN's
  first retransmission, 1 s later: see TCP_WAIT); so does a UDP exchange on a connected socket;
- a drop anywhere on the way there or back is silence: the source times out;
- on the TCP handshake's final ACK (established, the request's way): a drop lets the client's connect complete
  but the server never accepts (SYN-RECV), so its banner never comes: silence; a reject's port unreachable
  fails the connect with ECONNREFUSED, a reset with ECONNRESET: both refused at once;
- the server's data goes the SYN-ACK's way, but a node there that had not seen the SYN picks the connection up
  from it as new (it took the SYN-ACK as invalid) and may masquerade it: the client connects, the data never
  comes (silence);
- a ping of :: (sent to ::1 by the kernel) ignores an ICMPv6 error about ::1 (ping takes only errors about the
  address it pinged): silence, while a ping of 0.0.0.0 (which ping itself turns into 127.0.0.1) is refused;
- in the source's own output chain, a drop makes a ping and a TCP connect time out; a reject's answer reaches
  the ping or the connect (refused); a UDP send fails at once with EPERM after either.

So REFUSED cannot tell a TCP reset from an ICMP error, nor a rejecting filter from a port nobody listens on:
FILTER_REJECTED and CONNECTION_REFUSED both expect it.
"""

from __future__ import annotations

import subprocess
import sys
from enum import StrEnum
from typing import TYPE_CHECKING

from topograph.model import IPAddress, Proto
from topograph.sim.forward import CLIENT_PORT
from topograph.sim.trace import Disposition

if TYPE_CHECKING:
    from tests.live.conftest import Sandbox


#: How long a TCP connect waits at least: over IPv6, an ICMPv6 port unreachable answering a SYN over a short path
#: comes back while connect() still holds the socket and only counts as a soft error (TcpExtLockDroppedIcmps); the
#: SYN's first retransmission, 1 s later, gets the error that refuses the connect (measured: refused after 1.01 s,
#: where IPv4 is refused at once).
TCP_WAIT = 2.0


class Seen(StrEnum):
    REACHED = "reached"  # the echo, the connection or the datagram's answer came back
    REFUSED = "refused"  # an ICMP port unreachable or a TCP reset came back at once
    SILENT = "silent"  # nothing came back before the time-out
    LOCAL = "local"  # the source's own kernel refused to send (EPERM: its output chain)
    ERROR = "error"  # another ICMP error (host or net unreachable, TTL exceeded) or another failure


#: What the kernel may show for each disposition. DELIVERED, FILTER_DROPPED, FILTER_REJECTED and
#: CONNECTION_REFUSED are held exactly; every other disposition only has to be "not reached".
_NOT_REACHED = frozenset(Seen) - {Seen.REACHED}
EXPECTED: dict[Disposition, frozenset[Seen]] = {
    Disposition.DELIVERED: frozenset({Seen.REACHED}),
    Disposition.FILTER_REJECTED: frozenset({Seen.REFUSED}),
    Disposition.CONNECTION_REFUSED: frozenset({Seen.REFUSED}),
    Disposition.FILTER_DROPPED: frozenset({Seen.SILENT, Seen.LOCAL}),
}


def expected(disposition: Disposition, at_source: bool = False) -> frozenset[Seen]:
    """What the kernel may show for a flow the simulator ends with `disposition`; `at_source`: decided at the
    flow's own source node. A UDP send its own output chain drops or rejects fails at once with EPERM (measured),
    so LOCAL fits both filter dispositions there."""
    seen = EXPECTED.get(disposition, _NOT_REACHED)
    if at_source and disposition is Disposition.FILTER_REJECTED:
        seen |= {Seen.LOCAL}
    return seen


# A TCP connect or a UDP exchange from inside a namespace, from source port SPORT (the simulator's client port,
# so that rules matching a source port decide as predicted); prints "WORD detail". UDP sends twice (a datagram
# may be lost while links settle) and waits half the time-out for each answer. Parallel probes share the port
# (SO_REUSEADDR: none of them listens); a connection counts once the listener's banner comes, and is closed with
# a reset (after the banner), so no TIME_WAIT holds the port against trying the same flow again. A connection
# whose banner never comes (never accepted: the handshake's final ACK was lost; or its data lost) is silence; a
# reset is refused.
_PROBE = r"""
import socket, struct, sys
proto, addr, port, timeout, sport = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
def out(word, detail=""):
    print(word, detail)
    sys.exit(0)
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
try:
    with socket.socket(family, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", sport))
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # closed by a reset
            s.settimeout(timeout)
            s.connect((addr, port))
            try:
                s.recv(64)  # the listener's banner: the server accepted (and let it finish before the reset)
            except TimeoutError:
                out("silent", "connected, but nothing came from the server (it never accepted, or its data was lost)")
            out("reached")
        s.settimeout(timeout / 2)
        s.connect((addr, port))
        for _ in range(2):
            s.send(b"topograph")
            try:
                s.recv(64)
                out("reached")
            except TimeoutError:
                pass
    out("silent")
except (ConnectionRefusedError, ConnectionResetError) as exc:
    out("refused", str(exc))
except TimeoutError as exc:
    out("silent", str(exc))
except PermissionError as exc:
    out("local", str(exc))
except OSError as exc:
    out("error", str(exc))
"""

# A UDP echo server on [::]:PORT (IPv4 too) that answers from the address each datagram was sent to, as a
# real server bound per address would: a reply from another address would miss the client's connected
# socket and the conntrack entry of a port forward.
UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
s.bind(("::", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, anc, _flags, peer = s.recvmsg(512, socket.CMSG_SPACE(20))
    info = [d for level, kind, d in anc if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO]
    cmsg = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info[0][:16] + bytes(4))] if info else []
    try:
        s.sendmsg([sys.argv[2].encode()], cmsg, 0, peer)
    except OSError:  # the node's own output chain refused the answer (EPERM): the client hears nothing
        pass
"""


def classify_ping(returncode: int, output: str) -> tuple[Seen, str]:
    """What `ping -c1` saw, from its exit status and its output."""
    if returncode == 0:
        return Seen.REACHED, ""
    low = output.lower()
    lines = " | ".join(line for line in output.splitlines() if line.startswith("From ") or "ping:" in line)
    if "port unreachable" in low:
        return Seen.REFUSED, lines
    if "operation not permitted" in low:
        return Seen.LOCAL, lines
    if "icmp_seq=" in low and "from " in low:
        return Seen.ERROR, lines
    return Seen.SILENT, lines


def probe(sb: Sandbox, netns: str, proto: Proto, address: IPAddress, port: int | None,
          timeout: float = 1.0, sport: int = CLIENT_PORT) -> tuple[Seen, str]:
    """One probe from `netns`: a ping (1 s: an answer or an error comes back within microseconds in a lab of
    namespaces), a TCP connect or a UDP exchange (`timeout`), and what came of it."""
    try:
        if proto is Proto.ICMP:  # -w2: a deadline for the whole run (a ping of :: was seen to hang past -W1)
            done = sb.exec(netns, "ping", "-n", "-c1", "-W1", "-w2", str(address), timeout=10)
            return classify_ping(done.returncode, done.stdout + done.stderr)
        assert port is not None
        # -S: no site packages to import, a quicker start for hundreds of probes
        wait = max(timeout, TCP_WAIT) if proto is Proto.TCP else timeout
        done = sb.exec(netns, sys.executable, "-S", "-c", _PROBE, str(proto), str(address), str(port), str(wait),
                       str(sport), timeout=10)
    except subprocess.TimeoutExpired:
        return Seen.SILENT, "the probe hung for 10 s"
    word, _, detail = done.stdout.strip().partition(" ")
    if done.returncode != 0 or word not in {s.value for s in Seen}:
        return Seen.ERROR, (done.stdout + done.stderr).strip()[-200:]
    return Seen(word), detail
