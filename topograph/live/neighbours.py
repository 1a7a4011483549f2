"""Forgetting neighbour entries (ARP and NDP caches) in a lab's namespaces, over netlink, in-process.

Why verify needs it: the kernel's neighbour table is one for the whole machine — every namespace's
entries count against `net.ipv4.neigh.default.gc_thresh3` (1024 by default), and an entry is only
reclaimed once it is 5 s old. Probing every pair of a big flat segment creates one entry per pair
and side, so without help the table overflows ("neighbor table overflow!" in the kernel log) and
probes are dropped at their source. Verify therefore forgets the entries of a pair once its flows
are measured, and only in the lab's own namespaces: never in the root namespace (real mode's host).
Entries are a cache: the next packet resolves its neighbour again.
"""

from __future__ import annotations

import socket
import struct

from topograph.front.wire import IPAddress
from topograph.live.kernel import Namespaces
from topograph.live.netlink import NLM_F_REQUEST, RTM_DELNEIGH, RTM_GETNEIGH, attr, parse_attrs
from topograph.live.netlink import family as ip_family
from topograph.live.nlsocket import Sockets

_NDMSG = struct.Struct("=BxxxiHBB")
_HDR = struct.Struct("=IHHII")
NDA_DST = 1
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80


class Neighbours:
    """Netlink sockets and interface indexes of the lab's namespaces, to delete neighbour entries with."""

    def __init__(self, ns: Namespaces) -> None:
        self.sockets = Sockets(ns)
        self.indexes: dict[str, dict[str, int]] = {}

    def close(self) -> None:
        self.sockets.close()

    def _index(self, netns: str, ifname: str) -> int | None:
        names = self.indexes.get(netns)
        if names is None:
            names = self.indexes[netns] = {link.name: link.index for link in self.sockets(netns).links()}
        return names.get(ifname)

    def _send(self, netns: str, index: int, family: int, dst: bytes) -> None:
        sock = self.sockets(netns)
        body = _NDMSG.pack(family, index, 0, 0, 0) + attr(NDA_DST, dst)
        sock.seq += 1
        # no acknowledgement asked: an entry that is gone already is fine, and its error is read and dropped
        sock.sock.send(_HDR.pack(_HDR.size + len(body), RTM_DELNEIGH, NLM_F_REQUEST, sock.seq, 0) + body)
        while True:
            try:
                sock.sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return

    def forget(self, netns: str, ifname: str, address: IPAddress) -> None:
        """Delete `netns`'s entry for `address` on `ifname`, if there is one."""
        index = self._index(netns, ifname)
        if index is not None:
            self._send(netns, index, ip_family(address.version), address.packed)

    def flush(self, netns: str) -> None:
        """Delete every entry of `netns` that the kernel learnt (not the permanent or NOARP ones), as `ip neigh flush all`."""
        sock = self.sockets(netns)
        doomed = []
        for payload in sock.dump(RTM_GETNEIGH, _NDMSG.pack(0, 0, 0, 0, 0)):
            family, index, state, _, _ = _NDMSG.unpack_from(payload)
            dst = parse_attrs(payload, _NDMSG.size).get(NDA_DST)
            if dst is not None and not state & (NUD_NOARP | NUD_PERMANENT):
                doomed.append((index, family, dst))
        for index, family, dst in doomed:
            self._send(netns, index, family, dst)
