"""Veth pairs across the scanned namespaces: which end is whose peer.

An end knows its peer's interface index (IFLA_LINK) and, when the peer is in another namespace, that
namespace's id as its own namespace numbers it (IFLA_LINK_NETNSID). Indexes are per namespace, so in a
lab of many alike namespaces (a host's eth0 is index 2 everywhere) several ends fit by index alone;
then the id decides: the kernel is asked (RTM_GETNSID, one socket per namespace) which id a candidate's
namespace has, and the answer kept, so each namespace's ids are learnt once.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from types import TracebackType

from topograph.live.kernel import Namespaces
from topograph.live.netlink import NLM_F_REQUEST, RTM_GETNSID, RTM_NEWNSID, attr_u32, message, messages, parse_attrs

NETNSA_NSID, NETNSA_FD = 1, 3


@dataclass(frozen=True, slots=True)
class Veth:
    """One veth end: its namespace's position in the scan, its index, its peer's index and link namespace id."""

    ns: int
    index: int
    link: int
    nsid: int | None  # None: the peer is in the same namespace


class Nsids:
    """Which id each scanned namespace gives each other one, asked of the kernel once per pair."""

    def __init__(self, ns: Namespaces, keys: list[str | None]) -> None:
        self.ns = ns
        self.keys = keys
        self.socks: dict[int, socket.socket] = {}
        self.known: dict[tuple[int, int], int | None] = {}
        self.seq = 0

    def __enter__(self) -> Nsids:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sock in self.socks.values():
            sock.close()
        self.socks.clear()

    def _sock(self, pos: int) -> socket.socket:
        sock = self.socks.get(pos)
        if sock is None:
            with self.ns.inside(self.keys[pos]):  # a netlink socket answers for the namespace it was opened in
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
            sock.settimeout(10)
            sock.bind((0, 0))
            self.socks[pos] = sock
        return sock

    def id(self, inside: int, other: int) -> int | None:
        """The id namespace `inside` gives namespace `other`, or None when it gives it none."""
        key = (inside, other)
        if key not in self.known:
            self.known[key] = self._ask(inside, other)
        return self.known[key]

    def _ask(self, inside: int, other: int) -> int | None:
        sock = self._sock(inside)
        self.seq += 1
        body = bytes((socket.AF_UNSPEC, 0, 0, 0)) + attr_u32(NETNSA_FD, self.ns.fd(self.keys[other]))
        sock.send(message(RTM_GETNSID, NLM_F_REQUEST, self.seq, body))
        while True:
            data = sock.recv(1 << 16)
            for kind, _, seq, start, end in messages(data, "a namespace id"):
                if seq != self.seq:
                    continue
                if kind != RTM_NEWNSID:
                    return None  # an error: no id
                raw = parse_attrs(data[start + 4:end]).get(NETNSA_NSID)
                value = struct.unpack("=i", raw[:4])[0] if raw else -1
                return value if value >= 0 else None


def match(ends: list[Veth], nsids: Nsids) -> dict[tuple[int, int], tuple[int, int] | None]:
    """(namespace position, index) of every end -> its peer's, or None when the peer is not among `ends`."""
    by_key = {(e.ns, e.index): e for e in ends}
    by_index: dict[int, list[Veth]] = {}
    for e in ends:
        by_index.setdefault(e.index, []).append(e)
    resolved: dict[tuple[int, int], int] = {}  # (namespace, nsid) -> the namespace it names
    peer_of: dict[tuple[int, int], tuple[int, int] | None] = {}
    for e in ends:
        if e.nsid is None:
            same = by_key.get((e.ns, e.link))
            peer_of[(e.ns, e.index)] = (e.ns, e.link) if same is not None and same.link == e.index else None
            continue
        cands = [c for c in by_index.get(e.link, []) if c.ns != e.ns and c.link == e.index and c.nsid is not None]
        if len(cands) > 1:
            known = resolved.get((e.ns, e.nsid))
            if known is None:
                known = next((c.ns for c in cands if nsids.id(e.ns, c.ns) == e.nsid), None)
                if known is not None:
                    resolved[(e.ns, e.nsid)] = known
            cands = [c for c in cands if c.ns == known]
        peer_of[(e.ns, e.index)] = (cands[0].ns, cands[0].index) if len(cands) == 1 else None
    return peer_of
