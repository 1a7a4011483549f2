"""One rtnetlink socket per namespace: requests sent, answers and dumps read and checked.

The messages themselves (layouts, builders, parsers) are live/netlink.py's. Requests go out
without NLM_F_ACK: rtnetlink handles a request inside `send()`, and only a failure queues an
answer, so checking the socket without waiting right after each send attributes every error to
its request at the cost of one empty, non-blocking read.

Every answer is checked before it is believed: it must carry its request's sequence number (a
late answer to a request given up on is skipped; anything else is a protocol error), a datagram
longer than the buffer or a message or attribute running past its end is reported as truncated,
and no wait for an answer lasts longer than the socket's time-out (`TIMEOUT` seconds).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from topograph.live.kernel import KernelError, Namespaces
from topograph.live.netlink import (
    ERRMSG,
    NETLINK_ROUTE,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_EXCL,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELROUTE,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNSID,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTN_UNICAST,
    AddrInfo,
    LinkInfo,
    RouteInfo,
    addr_dump,
    link_body,
    link_by_name,
    link_dump,
    main_unicast,
    message,
    messages,
    nsid_of,
    parse_addr,
    parse_link,
    parse_nsid,
    parse_route,
    parsed,
    route_dump,
    truncated,
)

_CREATE = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL


#: Seconds a read waits for an answer. rtnetlink queues its answer inside `send()` (and the next
#: part of a dump inside the read), so a wait this long means the answer was lost.
TIMEOUT = 10.0
#: Bytes read at once: the kernel fills dump datagrams up to 32 KiB.
BUFSIZE = 1 << 16
#: Dumps asked for in a row while the kernel marks them inconsistent.
DUMP_TRIES = 3


class Socket:
    """One rtnetlink socket bound inside one namespace (a socket keeps the namespace it was opened in).

    `sock` replaces the netlink socket (tests give one end of a socketpair); reads wait `timeout` seconds
    at most.
    """

    def __init__(self, where: str, *, sock: socket.socket | None = None, timeout: float = TIMEOUT) -> None:
        self.where = where
        if sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((0, 0))
        # a kernel-side receive time-out: a blocking read then ends with EAGAIN, and the non-blocking
        # read after each request stays one system call (Python's own time-out would poll first)
        seconds, fraction = divmod(timeout, 1.0)
        micro = max(int(fraction * 1e6), 0 if seconds else 1)  # 0 s and 0 µs would mean no time-out at all
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", int(seconds), micro))
        self.sock = sock
        self.timeout = timeout
        self.seq = 0
        self.given_up: set[int] = set()  # requests whose answer was not waited out: skip what comes late

    def close(self) -> None:
        self.sock.close()

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self.seq += 1
        self.sock.send(message(kind, flags, self.seq, body))
        return self.seq

    def _read(self, *, wait: bool) -> bytes | None:
        """One datagram; None when `wait` is false and nothing is queued."""
        try:
            data, _, flags, _ = self.sock.recvmsg(BUFSIZE, 0, 0 if wait else socket.MSG_DONTWAIT)
        except BlockingIOError:
            if not wait:
                return None
            raise KernelError(errno.ETIMEDOUT, f"no answer from the kernel in {self.where} "
                                               f"within {self.timeout:g} s") from None
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                raise KernelError(errno.ENOBUFS, f"answers from the kernel in {self.where} were lost: "
                                                 "the socket's receive buffer overflowed") from None
            raise
        if flags & socket.MSG_TRUNC:
            raise truncated(self.where, f"a datagram longer than the {BUFSIZE}-byte buffer")
        return data

    def _stray(self, kind: int, seq: int, want: int) -> None:
        """A message that does not answer request `want`: skip the late answer to a request given up on,
        raise on anything else."""
        if seq in self.given_up:
            if kind in (NLMSG_ERROR, NLMSG_DONE):
                self.given_up.discard(seq)
            return
        raise KernelError(errno.EPROTO, f"unexpected answer from the kernel in {self.where}: message type {kind} "
                                        f"with sequence number {seq}, while waiting for {want}")

    def _error(self, data: bytes, start: int, end: int) -> int:
        """The positive errno of an error message (0: an acknowledgement)."""
        if end - start < ERRMSG.size:
            raise truncated(self.where, f"error message of {end - start} bytes")
        return -int(ERRMSG.unpack_from(data, start)[0])

    def request(self, kind: int, body: bytes, *, create: bool = False, replace: bool = False) -> None:
        """Send one request (`replace`: create or replace, as `tc qdisc replace`); raise KernelError when the kernel
        refused it."""
        flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE if replace else _CREATE if create else NLM_F_REQUEST
        seq = self._send(kind, flags, body)
        while (data := self._read(wait=False)) is not None:  # no news is good news: only failures are answered
            for mkind, _, mseq, start, end in messages(data, self.where):
                if mseq != seq or mkind != NLMSG_ERROR:
                    self._stray(mkind, mseq, seq)
                    continue
                code = self._error(data, start, end)
                if code:
                    raise KernelError(code, os.strerror(code))

    def _answer(self, seq: int, parts: list[bytes] | None) -> tuple[int, int]:
        """Wait for the end of the answer to request `seq` (an error message or the end of a dump) and
        return its errno (0: done) and the flags of all its messages together; the messages before
        the end go to `parts` (None: there must be none)."""
        seen = 0
        try:
            while True:
                data = self._read(wait=True)
                assert data is not None
                for mkind, mflags, mseq, start, end in messages(data, self.where):
                    if mseq != seq:
                        self._stray(mkind, mseq, seq)
                        continue
                    seen |= mflags
                    if mkind == NLMSG_ERROR:
                        return self._error(data, start, end), seen
                    elif mkind == NLMSG_DONE:  # carries the dump's own result since Linux 4.x, 0 when fine
                        return -int(ERRMSG.unpack_from(data, start)[0]) if end - start >= ERRMSG.size else 0, seen
                    elif parts is None:
                        raise KernelError(errno.EPROTO, f"unexpected answer from the kernel in {self.where}: "
                                                        f"message type {mkind} before the acknowledgement")
                    else:
                        parts.append(data[start:end])
        except KernelError:
            self.given_up.add(seq)
            raise

    def acked(self, kind: int, body: bytes) -> int:
        """Send one request and wait for its answer; 0 or the positive errno (for deletes that may miss)."""
        return self._answer(self._send(kind, NLM_F_REQUEST | NLM_F_ACK, body), None)[0]

    def delete_link(self, index: int, name: str) -> None:
        """Delete interface `index` (named `name` in the error); one that is gone already is fine."""
        code = self.acked(RTM_DELLINK, link_body(index))
        if code not in (0, errno.ENODEV):
            raise KernelError(code, f"delete {name}: {os.strerror(code)}")

    def dump(self, kind: int, body: bytes) -> list[bytes]:
        """Every payload of a dump request (read to its end, so that nothing of it is left queued).

        A dump the kernel marks inconsistent (NLM_F_DUMP_INTR: the table changed while it was read,
        so entries may be missing or twice) is asked for again, `DUMP_TRIES` times in all.
        """
        for _ in range(DUMP_TRIES):
            parts: list[bytes] = []
            code, flags = self._answer(self._send(kind, NLM_F_REQUEST | NLM_F_DUMP, body), parts)
            if code:
                raise KernelError(code, f"dump in {self.where}: {os.strerror(code)}")
            if not flags & NLM_F_DUMP_INTR:
                return parts
        raise KernelError(errno.EAGAIN, f"dump in {self.where}: the kernel's table changed while it was read, "
                                        f"{DUMP_TRIES} times in a row")

    def link(self, name: str) -> LinkInfo | None:
        """Interface `name`, asked for by name; None when there is none."""
        parts: list[bytes] = []
        code = self._answer(self._send(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, link_by_name(name)), parts)[0]
        if code == errno.ENODEV:
            return None
        if code:
            raise KernelError(code, f"look up {name} in {self.where}: {os.strerror(code)}")
        found = parsed(parse_link, parts, self.where, "a link")
        if len(found) != 1 or found[0].name != name:
            raise KernelError(errno.EPROTO, f"the kernel answered a look-up of {name} in {self.where} "
                                            f"with {[ln.name for ln in found]}")
        return found[0]

    def nsid(self, netns_fd: int) -> int:
        """The id this socket's namespace gives the namespace open as `netns_fd` (-1: none assigned)."""
        parts: list[bytes] = []
        code = self._answer(self._send(RTM_GETNSID, NLM_F_REQUEST | NLM_F_ACK, nsid_of(netns_fd)), parts)[0]
        if code:
            raise KernelError(code, f"namespace id in {self.where}: {os.strerror(code)}")
        found = parsed(parse_nsid, parts, self.where, "a namespace id")
        return found[0] if len(found) == 1 else -1

    def links(self) -> list[LinkInfo]:
        return parsed(parse_link, self.dump(RTM_GETLINK, link_dump()), self.where, "a link")

    def addresses(self) -> list[AddrInfo]:
        return parsed(parse_addr, self.dump(RTM_GETADDR, addr_dump()), self.where, "an address")

    def routes(self) -> list[RouteInfo]:
        dumped = self.dump(RTM_GETROUTE, route_dump())
        found = parsed(parse_route, [p for p in dumped if main_unicast(p)], self.where, "a route")
        return [r for r in found if r.kind == RTN_UNICAST]


class Sockets:
    """The run's sockets by namespace, opened on first use (inside the namespace, then back)."""

    def __init__(self, ns: Namespaces) -> None:
        self.ns = ns
        self.by_ns: dict[str | None, Socket] = {}

    def __call__(self, netns: str | None) -> Socket:
        sock = self.by_ns.get(netns)
        if sock is None:
            with self.ns.inside(netns):
                sock = Socket(netns or "the root namespace")
            self.by_ns[netns] = sock
        return sock

    def open_here(self, netns: str | None) -> Socket:
        """Open the socket of `netns` while the thread is already inside it."""
        sock = self.by_ns[netns] = Socket(netns or "the root namespace")
        return sock

    def forget(self, netns: str) -> None:
        sock = self.by_ns.pop(netns, None)
        if sock is not None:
            sock.close()

    def close(self) -> None:
        for sock in self.by_ns.values():
            sock.close()
        self.by_ns.clear()


__all__ = ["RTM_DELADDR", "RTM_DELLINK", "RTM_DELROUTE", "RTM_NEWADDR", "RTM_NEWLINK", "RTM_NEWROUTE",
           "KernelError", "Socket", "Sockets"]
