"""Many probes in flight at once from one thread: ICMP echo, TCP connects and UDP datagrams between namespaces.

A socket stays in the network namespace it was created in, whatever the creating thread does next,
so every socket is opened after entering its namespace (`Namespaces.inside`) and used from here.
Each probe ends in one of three ways (`Outcome`): it reached; it was refused at once (an ICMP error
or a TCP reset came back — the detail says which); or silence (its time-out ran out). A probe that
fails some other way (no route at the source, a listener that cannot be set up) did not reach.

- ICMP: one raw socket per (source namespace, address family) sends echo requests and reads the
  replies, and every ICMP error that comes back to that namespace — also those about a TCP or UDP
  probe (`topograph.live.icmp` reads which probe an error quotes). Raw sockets need root, which
  verify needs anyway; ping sockets would need `net.ipv4.ping_group_range` changed in every namespace.
- TCP: a client connects from the source namespace; when the probe has a listener of its own (in
  the destination's namespace, shared by every probe to the same address and port), the client
  sends the probe's token and the probe counts as reached only when that listener reads it — a
  connection taken by another listener is not the flow meant. A connection refused without an
  ICMP error about it was refused by a TCP reset.
- UDP: a client sends the probe's token; verify's responder in the destination's namespace marks
  the token heard and echoes it, and the probe reached when the echo comes back. An ICMP port
  unreachable is a refusal; nothing at all is silence.

A port that a listener outside topograph holds already is probed through that listener: a
connection accepted (or any UDP answer) counts, and the result says so. An address missing from
its node (a half-built lab) is no reach, with that reason. A send that the source's own filter
stops (EPERM) waits out its time-out: a `reject` there still sends its ICMP error to the source.

`run_round` keeps up to `window` probes in flight, each with its own time-out, and reports progress.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from topograph.front.wire import Proto
from topograph.live import icmp
from topograph.live.icmp import Pinger
from topograph.live.kernel import Namespaces
from topograph.live.netlink import family as ip_family
from topograph.live.outcome import Job, Listen, Outcome, ProbeOutcome

__all__ = ["ICMP_TIMEOUT", "TCP_TIMEOUT", "UDP_TIMEOUT", "WINDOW", "Job", "Listen", "Outcome", "ProbeOutcome", "Prober"]

ICMP_TIMEOUT = 1.0  # as `ping -W1`
TCP_TIMEOUT = 1.5  # one SYN retransmission (after 1 s) still counts
UDP_TIMEOUT = TCP_TIMEOUT
WINDOW = 256


@dataclass(slots=True)
class _Flight:
    index: int
    job: Job
    deadline: float
    pinger: Pinger | None = None
    key: icmp.Key | None = None  # what an ICMP answer about it is keyed by
    token: bytes = b""  # TCP and UDP: what the client sends
    sock: socket.socket | None = None
    connected: bool = False  # TCP: connected, waiting for our listener's word
    heard: bool = False  # UDP: our responder got the token
    blocked: str = ""  # the send failed with EPERM: a filter at the source stopped it
    done: bool = False


@dataclass(slots=True)
class _Listener:
    sock: socket.socket | None
    problem: str = ""  # why there is none of our own (then `sock` is None)
    taken: bool = False  # a listener outside topograph holds the port: probe through it


@dataclass
class Prober:
    """Sockets of one verify run, in the namespaces they belong to; close() releases them all."""

    ns: Namespaces
    window: int = WINDOW
    icmp_timeout: float = ICMP_TIMEOUT
    tcp_timeout: float = TCP_TIMEOUT
    udp_timeout: float = UDP_TIMEOUT
    sel: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    pingers: dict[tuple[str | None, int], Pinger] = field(default_factory=dict)
    listeners: dict[Listen, _Listener] = field(default_factory=dict)
    _flights: dict[object, _Flight] = field(default_factory=dict)
    _tokens: dict[bytes, _Flight] = field(default_factory=dict)
    _accepted: dict[socket.socket, bytes] = field(default_factory=dict)
    _results: dict[int, ProbeOutcome] = field(default_factory=dict)
    on_done: Callable[[int], None] | None = None  # called with a probe's index as soon as it is decided

    def close(self) -> None:
        for conn in list(self._accepted):
            self._drop(conn)
        for f in list(self._flights.values()):
            self._release(f)
        for p in self.pingers.values():
            self._drop(p.sock)
        for lst in self.listeners.values():
            if lst.sock is not None:
                self._drop(lst.sock)
        self.pingers.clear()
        self.listeners.clear()
        self.sel.close()

    # -- sockets ----------------------------------------------------------------------------------
    def _socket(self, netns: str | None, family: int, kind: int, proto: int = 0) -> socket.socket:
        with self.ns.inside(netns):
            sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        return sock

    def _pinger(self, netns: str | None, version: int) -> Pinger:
        got = self.pingers.get((netns, version))
        if got is None:
            kind = (socket.AF_INET, socket.IPPROTO_ICMP) if version == 4 else (socket.AF_INET6, socket.IPPROTO_ICMPV6)
            got = Pinger(self._socket(netns, kind[0], socket.SOCK_RAW, kind[1]), version)
            self.pingers[(netns, version)] = got
            self.sel.register(got.sock, selectors.EVENT_READ, ("icmp", got))
        return got

    def listener(self, where: Listen) -> _Listener:
        """The probe's own listener (TCP) or responder (UDP) at `where`, opened once; or why there is none."""
        got = self.listeners.get(where)
        if got is not None:
            return got
        udp = where.proto is Proto.UDP
        sock = self._socket(where.netns, ip_family(where.address.version), socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        if not udp:  # UDP sockets that both set it share the port: a service of the lab's would lose its datagrams
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((str(where.address), where.port))
            if not udp:
                sock.listen(1024)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                got = _Listener(None, f"{where.node} has a listener on {where.proto}/{where.port} already", taken=True)
            elif exc.errno == errno.EADDRNOTAVAIL:
                got = _Listener(None, f"{where.address} is not on {where.node}, nothing can listen there")
            else:
                got = _Listener(None, f"cannot listen on {where.node} {where.address}:{where.port}: "
                                f"{exc.strerror or exc}")
        else:
            got = _Listener(sock)
            self.sel.register(sock, selectors.EVENT_READ, ("responder", where) if udp else ("listen", None))
        self.listeners[where] = got
        return got

    def _drop(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(sock)
        sock.close()
        self._accepted.pop(sock, None)

    # -- one flight -------------------------------------------------------------------------------
    def _finish(self, f: _Flight, outcome: Outcome, detail: str, remark: str = "") -> None:
        if f.done:
            return
        f.done = True
        self._results[f.index] = ProbeOutcome(outcome, detail, remark)
        self._release(f)
        if self.on_done is not None:
            self.on_done(f.index)

    def _release(self, f: _Flight) -> None:
        if f.key is not None and self._flights.get(f.key) is f:
            del self._flights[f.key]
        if f.token and self._tokens.get(f.token) is f:
            del self._tokens[f.token]
        if f.sock is not None:
            self._drop(f.sock)
            f.sock = None

    def _sent_fails(self, f: _Flight, exc: OSError | int) -> None:
        """A send or connect failed at once: EPERM (the source's own filter) waits for a reject's error."""
        code = exc if isinstance(exc, int) else exc.errno
        text = os.strerror(exc) if isinstance(exc, int) else (exc.strerror or str(exc))
        if code == errno.EPERM:
            f.blocked = f"{text}: a filter at the source stopped it"
        elif code == errno.ECONNREFUSED:
            self._finish(f, Outcome.REFUSED, "tcp reset")
        else:  # e.g. no route at the source: as ping says it
            self._finish(f, Outcome.UNREACHED, text)

    def _timeout(self, job: Job) -> float:
        kind = job.kind
        return self.icmp_timeout if kind is Proto.ICMP else self.tcp_timeout if kind is Proto.TCP else self.udp_timeout

    def _start(self, index: int, job: Job, now: float) -> _Flight:
        kind = job.kind
        f = _Flight(index, job, now + self._timeout(job))
        try:
            f.pinger = pinger = self._pinger(job.netns, job.dst.version)  # ICMP errors about every kind of probe
        except OSError as exc:
            self._finish(f, Outcome.UNREACHED, f"cannot open an ICMP socket: {exc.strerror or exc}")
            return f
        if kind is Proto.ICMP:
            ident, seq = pinger.next_key()
            f.key = (id(pinger), *icmp.echo_key(ident, seq))
            self._flights[f.key] = f
            try:
                pinger.sock.sendto(icmp.echo_request(job.dst.version, ident, seq), (str(job.dst), 0))
            except OSError as exc:
                self._sent_fails(f, exc)
            return f
        assert job.port is not None
        own = self.listener(job.listen) if job.listen is not None else None
        if own is not None and own.sock is None and not own.taken:
            self._finish(f, Outcome.UNREACHED, own.problem)
            return f
        f.token = secrets.token_bytes(8)
        udp = kind is Proto.UDP
        try:
            f.sock = self._socket(job.netns, ip_family(job.dst.version), socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
            if udp:
                f.sock.connect((str(job.dst), job.port))
                err = 0
            else:
                err = f.sock.connect_ex((str(job.dst), job.port))
            sport = f.sock.getsockname()[1]
        except OSError as exc:
            self._finish(f, Outcome.UNREACHED, exc.strerror or str(exc))
            return f
        f.key = (id(pinger), *icmp.port_key(kind, sport, str(job.dst), job.port))
        self._flights[f.key] = f
        self._tokens[f.token] = f
        if not udp:
            if err not in (0, errno.EINPROGRESS):
                self._sent_fails(f, err)
            if not f.done:
                self.sel.register(f.sock, selectors.EVENT_WRITE, ("client", f))
            return f
        self.sel.register(f.sock, selectors.EVENT_READ, ("udp", f))
        try:
            f.sock.send(f.token)
        except OSError as exc:
            self._sent_fails(f, exc)
        return f

    def _heard_first(self, f: _Flight) -> bool:
        """Read the ICMP errors that came back to the source before a socket's own error is taken: the raw
        socket has them first (the kernel delivers to raw sockets before TCP and UDP learn of the error)."""
        if f.pinger is not None:
            self._icmp(f.pinger)
        return f.done

    def _connected(self, f: _Flight) -> None:
        if f.done or f.sock is None:  # decided by an ICMP error read earlier in the same batch of events
            return
        err = f.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            if self._heard_first(f):
                return
            if err == errno.ECONNREFUSED:
                self._finish(f, Outcome.REFUSED, "tcp reset")
            elif err == errno.ETIMEDOUT:
                self._finish(f, Outcome.SILENCE, "connection timed out")
            else:
                self._finish(f, Outcome.UNREACHED, os.strerror(err))
            return
        where = f.job.listen
        own = self.listeners.get(where) if where is not None else None
        if where is None or own is None:
            self._finish(f, Outcome.REACHED, "connected")
            return
        if own.sock is None:  # someone else's listener holds the port: accepted is all we can know
            self._finish(f, Outcome.REACHED, "connected", f"accepted by {where.holder}, not verify's own listener"
                         if where.service else f"accepted by {where.holder}, not verify's own")
            return
        f.connected = True
        self.sel.unregister(f.sock)  # what the other end says does not matter: only our listener's word counts
        try:
            f.sock.send(f.token)
        except OSError as exc:
            self._finish(f, Outcome.UNREACHED, f"connected, then {exc.strerror or exc}")

    def _accept(self, lsock: socket.socket) -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:  # nothing more to accept (BlockingIOError), or the client gave up
                return
            conn.setblocking(False)
            self._accepted[conn] = b""
            self.sel.register(conn, selectors.EVENT_READ, ("conn", None))

    def _read_token(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(8 - len(self._accepted.get(conn, b"")))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        token = self._accepted[conn] + data
        if len(token) < 8:
            self._accepted[conn] = token
            return
        self._drop(conn)
        f = self._tokens.get(token)
        if f is not None and f.connected and f.job.listen is not None:
            self._finish(f, Outcome.REACHED, f"reached {f.job.listen.node}:{f.job.listen.port}")

    def _respond(self, where: Listen, sock: socket.socket) -> None:
        """verify's UDP responder: a probe's token is marked heard (when this is its responder) and echoed."""
        while True:
            try:
                data, sender = sock.recvfrom(64)
            except OSError:
                return
            f = self._tokens.get(data)
            if f is None:
                continue  # no probe's: not answered
            if f.job.listen == where:
                f.heard = True
            with contextlib.suppress(OSError):
                sock.sendto(data, sender)

    def _udp_answer(self, f: _Flight) -> None:
        if f.done or f.sock is None:  # decided by an ICMP error read earlier in the same batch of events
            return
        try:
            data = f.sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # a connected UDP socket learns of a port unreachable
            if self._heard_first(f):
                return
            if exc.errno == errno.ECONNREFUSED:
                self._finish(f, Outcome.REFUSED, "port unreachable")
            else:
                self._finish(f, Outcome.UNREACHED, exc.strerror or str(exc))
            return
        where = f.job.listen
        own = self.listeners.get(where) if where is not None else None
        if where is not None and f.heard and data == f.token:
            self._finish(f, Outcome.REACHED, f"echoed by {where.node}:{where.port}")
        elif where is None or (own is not None and own.sock is None):
            remark = f"answered by the service already on {where.node}:{where.port}, not verify's own" if where else ""
            self._finish(f, Outcome.REACHED, "answered", remark)
        else:
            self._finish(f, Outcome.UNREACHED, "an answer came back, but not from the expected responder")

    def _icmp(self, pinger: Pinger) -> None:
        while True:
            try:
                data, sender = pinger.sock.recvfrom(2048)
            except OSError:  # nothing more to read (BlockingIOError)
                return
            heard = icmp.parse(data, pinger.version, sender[0])
            if heard is None:
                continue
            f = self._flights.get((id(pinger), *heard.key))
            if f is None:
                continue
            if heard.error is None:
                self._finish(f, Outcome.REACHED, "echo reply")
            else:
                self._finish(f, Outcome.REFUSED, heard.error)

    def _expire(self, f: _Flight) -> None:
        kind = f.job.kind
        where = f.job.listen
        if f.blocked:
            self._finish(f, Outcome.SILENCE, f.blocked)
        elif kind is Proto.ICMP:
            self._finish(f, Outcome.SILENCE, "no reply")
        elif kind is Proto.TCP and f.connected:
            self._finish(f, Outcome.UNREACHED, "connected, but not to the expected listener")
        elif kind is Proto.TCP:
            self._finish(f, Outcome.SILENCE, "connection timed out")
        elif f.heard and where is not None:
            self._finish(f, Outcome.SILENCE, f"{where.node}:{where.port} got it, but its echo did not come back")
        elif where is not None and (own := self.listeners.get(where)) is not None and own.taken:
            held = where.holder if where.service else f"the service already on {where.node}:{where.port}"
            self._finish(f, Outcome.SILENCE, f"no answer from {held} (verify's own responder could not listen there)")
        else:
            self._finish(f, Outcome.SILENCE, "no answer")

    # -- a round ----------------------------------------------------------------------------------
    def run_round(self, jobs: Iterable[tuple[int, Job]],
                  progress: Callable[[int], None] | None = None) -> dict[int, ProbeOutcome]:
        """Try every (index, job) once, up to `window` at a time; the outcome of each, by index."""
        queue = deque(jobs)
        self._results = {}
        orders: dict[float, deque[_Flight]] = {}  # flights by start time, per time-out: deadlines in order
        last = 0.0
        while queue or self._flights:
            now = time.monotonic()
            while queue and len(self._flights) < self.window:
                index, job = queue.popleft()
                f = self._start(index, job, now)
                if not f.done:
                    orders.setdefault(self._timeout(job), deque()).append(f)
            waits = [q[0].deadline for q in orders.values() if q]
            if not waits and not self._flights:
                continue
            timeout = max(0.0, min(waits) - time.monotonic()) if waits else 0.05
            for key, _ in self.sel.select(timeout):
                what, data = key.data
                if what == "icmp":
                    self._icmp(data)
                elif what == "client":
                    self._connected(data)
                elif what == "udp":
                    self._udp_answer(data)
                elif what == "listen":
                    self._accept(key.fileobj)  # type: ignore[arg-type]
                elif what == "responder":
                    self._respond(data, key.fileobj)  # type: ignore[arg-type]
                else:
                    self._read_token(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            for q in orders.values():
                while q and (q[0].done or q[0].deadline <= now):
                    f = q.popleft()
                    if not f.done:
                        self._expire(f)
            if progress is not None and now - last > 0.2:
                last = now
                progress(len(self._results))
        if progress is not None:
            progress(len(self._results))
        return self._results
