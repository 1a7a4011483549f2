"""Many probes in flight at once from one thread: ICMP echo and TCP connects between namespaces, in-process.

A socket stays in the network namespace it was created in, whatever the creating thread does next,
so every socket is opened after entering its namespace (`Namespaces.inside`) and used from here:

- ICMP: one raw socket per (source namespace, address family) sends echo requests and reads the
  replies (and ICMP errors, whose quoted header names the probe); replies are told apart by echo
  identifier and sequence number. Raw sockets need root, which verify needs anyway; ping sockets
  would need `net.ipv4.ping_group_range` changed inside every namespace of the lab.
- TCP: a client connects from the source namespace; when the probe has a listener of its own (in
  the destination's namespace, shared by every probe to the same address and port), the client
  sends the probe's token and the probe counts as reached only when that listener reads it — a
  connection taken by another listener is not the flow meant. A port that a listener outside
  topograph holds already is probed through that listener: a connection accepted counts, and the
  result says so. An address missing from its node (a half-built lab) is no reach, with that reason.

`run_round` keeps up to `window` probes in flight, each with its own time-out, and reports progress.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
import selectors
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from topograph.live.kernel import Namespaces
from topograph.live.netlink import family as ip_family
from topograph.model import IPAddress

ICMP_TIMEOUT = 1.0  # as `ping -W1`
TCP_TIMEOUT = 1.5  # one SYN retransmission (after 1 s) still counts
WINDOW = 256

_ECHO_REQUEST = {4: 8, 6: 128}
_ECHO_REPLY = {4: 0, 6: 129}
_ERRORS = {4: {3: "destination unreachable", 11: "time exceeded"},
           6: {1: "destination unreachable", 3: "time exceeded"}}
_UNREACH_CODES = {4: {0: "network unreachable", 1: "host unreachable", 3: "port unreachable",
                      9: "network prohibited", 10: "host prohibited", 13: "administratively prohibited"},
                  6: {0: "no route", 1: "administratively prohibited", 3: "address unreachable",
                      4: "port unreachable"}}
_MAGIC = b"topograph-probe!"
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1


@dataclass(frozen=True, slots=True)
class Listen:
    """Where a TCP probe's own listener waits: the node (for messages), its namespace, address and port."""

    node: str
    netns: str | None
    address: IPAddress
    port: int


@dataclass(frozen=True, slots=True)
class Job:
    """One flow to try: from namespace `netns` to `dst` by ICMP echo (port None) or TCP connect."""

    netns: str | None
    dst: IPAddress
    port: int | None = None
    listen: Listen | None = None  # TCP only: the listener that must take the connection (None: any)


@dataclass(slots=True)
class ProbeOutcome:
    reached: bool = False
    detail: str = ""
    remark: str = ""  # worth showing even when the flow is as predicted (e.g. an existing listener took it)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class _Pinger:
    """The raw ICMP socket of one namespace and family; echo identifiers and sequence numbers of its own."""

    def __init__(self, sock: socket.socket, version: int) -> None:
        self.sock = sock
        self.version = version
        self.base = secrets.randbelow(0x10000)
        self.counter = itertools.count()

    def next_key(self) -> tuple[int, int]:
        n = next(self.counter)
        return (self.base + (n >> 16)) & 0xFFFF, n & 0xFFFF

    def packet(self, ident: int, seq: int) -> bytes:
        kind = _ECHO_REQUEST[self.version]
        body = _MAGIC
        if self.version == 6:  # the kernel fills in the ICMPv6 checksum
            return struct.pack("!BBHHH", kind, 0, 0, ident, seq) + body
        head = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
        return struct.pack("!BBHHH", kind, 0, _checksum(head + body), ident, seq) + body

    def parse(self, data: bytes, sender: str) -> tuple[tuple[int, int], bool, str] | None:
        """(identifier, sequence), answered?, detail — or None for a packet that is no probe's."""
        off = (data[0] & 0x0F) * 4 if self.version == 4 else 0
        if len(data) < off + 8:
            return None
        kind, code, _, ident, seq = struct.unpack_from("!BBHHH", data, off)
        if kind == _ECHO_REPLY[self.version]:
            return ((ident, seq), True, "echo reply") if data[off + 8:off + 8 + len(_MAGIC)] == _MAGIC else None
        what = _ERRORS[self.version].get(kind)
        if what is None:
            return None
        inner = off + 8  # the offending packet's header, then the first bytes of our echo request
        inner += (data[inner] & 0x0F) * 4 if self.version == 4 and len(data) > inner else 40
        if len(data) < inner + 8:
            return None
        ikind, _, _, ident, seq = struct.unpack_from("!BBHHH", data, inner)
        if ikind != _ECHO_REQUEST[self.version]:
            return None
        if what == "destination unreachable":
            what = _UNREACH_CODES[self.version].get(code, what)
        return (ident, seq), False, f"{what} (from {sender})"


@dataclass(slots=True)
class _Flight:
    index: int
    job: Job
    deadline: float
    key: object = None
    sock: socket.socket | None = None
    connected: bool = False
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
    sel: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    pingers: dict[tuple[str | None, int], _Pinger] = field(default_factory=dict)
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

    def _pinger(self, netns: str | None, version: int) -> _Pinger:
        got = self.pingers.get((netns, version))
        if got is None:
            if version == 4:
                sock = self._socket(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                wanted = (1 << 0) | (1 << 3) | (1 << 11)  # the filter names the types to drop
                sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", ~wanted & 0xFFFFFFFF))
            else:
                sock = self._socket(netns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
                words = [0xFFFFFFFF] * 8
                for t in (1, 3, 129):
                    words[t >> 5] &= ~(1 << (t & 31))
                sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *words))
            got = _Pinger(sock, version)
            self.pingers[(netns, version)] = got
            self.sel.register(sock, selectors.EVENT_READ, ("icmp", got))
        return got

    def listener(self, where: Listen) -> _Listener:
        """The probe's own listener at `where`, opened once; or why there is none."""
        got = self.listeners.get(where)
        if got is not None:
            return got
        sock = self._socket(where.netns, ip_family(where.address.version), socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((str(where.address), where.port))
            sock.listen(1024)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                got = _Listener(None, f"{where.node} has a listener on port {where.port} already", taken=True)
            elif exc.errno == errno.EADDRNOTAVAIL:
                got = _Listener(None, f"{where.address} is not on {where.node}, nothing can listen there")
            else:
                got = _Listener(None, f"cannot listen on {where.node} {where.address}:{where.port}: "
                                f"{exc.strerror or exc}")
        else:
            got = _Listener(sock)
            self.sel.register(sock, selectors.EVENT_READ, ("listen", None))
        self.listeners[where] = got
        return got

    def _drop(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(sock)
        sock.close()
        self._accepted.pop(sock, None)

    # -- one flight -------------------------------------------------------------------------------
    def _finish(self, f: _Flight, reached: bool, detail: str, remark: str = "") -> None:
        if f.done:
            return
        f.done = True
        self._results[f.index] = ProbeOutcome(reached, detail, remark)
        self._release(f)
        if self.on_done is not None:
            self.on_done(f.index)

    def _release(self, f: _Flight) -> None:
        self._flights.pop(f.key, None)
        if isinstance(f.key, bytes):
            self._tokens.pop(f.key, None)
        if f.sock is not None:
            self._drop(f.sock)
            f.sock = None

    def _start(self, index: int, job: Job, now: float) -> _Flight:
        if job.port is None:
            f = _Flight(index, job, now + self.icmp_timeout)
            try:
                pinger = self._pinger(job.netns, job.dst.version)
            except OSError as exc:
                self._finish(f, False, f"cannot open an ICMP socket: {exc.strerror or exc}")
                return f
            ident, seq = pinger.next_key()
            f.key = (id(pinger), ident, seq)
            self._flights[f.key] = f
            try:
                pinger.sock.sendto(pinger.packet(ident, seq), (str(job.dst), 0))
            except OSError as exc:  # e.g. no route at the source: as ping says it
                self._finish(f, False, exc.strerror or str(exc))
            return f
        f = _Flight(index, job, now + self.tcp_timeout)
        own = self.listener(job.listen) if job.listen is not None else None
        if own is not None and own.sock is None and not own.taken:
            self._finish(f, False, own.problem)
            return f
        f.key = secrets.token_bytes(8)
        self._flights[f.key] = f
        try:
            f.sock = self._socket(job.netns, ip_family(job.dst.version), socket.SOCK_STREAM)
            err = f.sock.connect_ex((str(job.dst), job.port))
        except OSError as exc:
            self._finish(f, False, exc.strerror or str(exc))
            return f
        if err not in (0, errno.EINPROGRESS):
            self._finish(f, False, os.strerror(err))
            return f
        self.sel.register(f.sock, selectors.EVENT_WRITE, ("client", f))
        return f

    def _connected(self, f: _Flight) -> None:
        assert f.sock is not None and isinstance(f.key, bytes)
        err = f.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._finish(f, False, os.strerror(err))
            return
        where = f.job.listen
        own = self.listeners.get(where) if where is not None else None
        if where is None or own is None:
            self._finish(f, True, "connected")
            return
        if own.sock is None:  # someone else's listener holds the port: accepted is all we can know
            self._finish(f, True, "connected", f"accepted by the listener already on {where.node}:{where.port}, "
                         "not verify's own")
            return
        f.connected = True
        self._tokens[f.key] = f
        self.sel.unregister(f.sock)  # what the other end says does not matter: only our listener's word counts
        try:
            f.sock.send(f.key)
        except OSError as exc:
            self._finish(f, False, f"connected, then {exc.strerror or exc}")

    def _accept(self, lsock: socket.socket) -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
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
        f = self._tokens.pop(token, None)
        if f is not None and f.job.listen is not None:
            self._finish(f, True, f"reached {f.job.listen.node}:{f.job.listen.port}")

    def _icmp(self, pinger: _Pinger) -> None:
        while True:
            try:
                data, sender = pinger.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            got = pinger.parse(data, sender[0])
            if got is None:
                continue
            (ident, seq), answered, detail = got
            f = self._flights.get((id(pinger), ident, seq))
            if f is not None:
                self._finish(f, answered, detail)

    def _expire(self, f: _Flight) -> None:
        if f.job.port is None:
            self._finish(f, False, "no reply")
        elif f.connected:
            self._finish(f, False, "connected, but not to the expected listener")
        else:
            self._finish(f, False, "connection timed out")

    # -- a round ----------------------------------------------------------------------------------
    def run_round(self, jobs: Iterable[tuple[int, Job]],
                  progress: Callable[[int], None] | None = None) -> dict[int, ProbeOutcome]:
        """Try every (index, job) once, up to `window` at a time; the outcome of each, by index."""
        queue = deque(jobs)
        self._results = {}
        order: deque[_Flight] = deque()  # flights by start time: deadlines in order per kind
        tcp_order: deque[_Flight] = deque()
        last = 0.0
        while queue or self._flights:
            now = time.monotonic()
            while queue and len(self._flights) < self.window:
                index, job = queue.popleft()
                f = self._start(index, job, now)
                if not f.done:
                    (order if job.port is None else tcp_order).append(f)
            waits = [q[0].deadline for q in (order, tcp_order) if q]
            if not waits and not self._flights:
                continue
            timeout = max(0.0, min(waits) - time.monotonic()) if waits else 0.05
            for key, _ in self.sel.select(timeout):
                what, data = key.data
                if what == "icmp":
                    self._icmp(data)
                elif what == "client":
                    self._connected(data)
                elif what == "listen":
                    self._accept(key.fileobj)  # type: ignore[arg-type]
                else:
                    self._read_token(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            for q in (order, tcp_order):
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
