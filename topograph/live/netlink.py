"""rtnetlink messages packed and parsed with `struct`: layouts, request builders, dump parsers.

The numbers on the wire (message types, flags, attribute numbers, the layouts of headers and bodies)
are the kernel's ABI (linux/netlink.h, rtnetlink.h, if_link.h, if_addr.h, net_namespace.h, veth.h),
written here as numbers. pyroute2 is their reference: tests/unit/test_netlink_abi.py checks every
one by name against pyroute2's definitions (its modules' constants, its message classes' `header`,
`fields` and `nla_map` tables), and tests/unit/test_live_netlink.py holds every message builder byte
for byte against pyroute2's own encoder and feeds pyroute2-encoded answers to the parsers. They are
not read from pyroute2 at import because importing any part of it runs its package's `__init__`,
which loads the whole library (IPDB, NDB, asyncio, ...): that was the largest single import of the
live commands (benchmarks/README.md, "verify's fixed cost"), and `verify` on a small lab is mostly
its fixed cost.

Messages are packed here because pyroute2's generic encoder walks its message classes' field and
attribute tables in Python for every message, which costs more than the kernel work itself in a
lab of thousands of objects, while a message packed here is a few `struct` calls: tens of times
faster for the same bytes (benchmarks/bench_choices.py; figures in benchmarks/README.md).
The socket that sends them and reads and checks the answers is live/nlsocket.py's.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from topograph.live.kernel import KernelError

# -- linux/netlink.h ---------------------------------------------------------------------------------
NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP_INTR = 0x1, 0x2, 0x4, 0x10
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400  # new requests
NLM_F_DUMP = 0x300  # get requests: NLM_F_ROOT | NLM_F_MATCH
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_F_NESTED, NLA_F_NET_BYTEORDER = 1 << 15, 1 << 14

# -- linux/rtnetlink.h: message types ----------------------------------------------------------------
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
RTM_GETRULE = 34
RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
RTM_NEWNSID, RTM_GETNSID = 88, 90
TC_H_ROOT = 0xFFFFFFFF  # linux/pkt_sched.h

# -- attribute numbers -------------------------------------------------------------------------------
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK = 1, 3, 4, 5  # linux/if_link.h
IFLA_MASTER, IFLA_LINKINFO, IFLA_IFALIAS = 10, 18, 20
IFLA_NET_NS_FD, IFLA_EXT_MASK, IFLA_LINK_NETNSID = 28, 29, 37
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1  # linux/veth.h
NETNSA_NSID, NETNSA_FD = 1, 3  # linux/net_namespace.h
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8  # linux/if_addr.h
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15

# -- values ------------------------------------------------------------------------------------------
IFF_UP = 0x1  # linux/if.h
IFA_F_NODAD, IFA_F_PERMANENT = 0x02, 0x80
RTNH_F_ONLINK = 0x4
RTPROT_KERNEL, RTPROT_BOOT = 2, 3
RTN_UNICAST = 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RT_TABLE_MAIN = 254
RTEXT_FILTER_SKIP_STATS = 1 << 3

# -- layouts (native byte order, as the kernel's structs) --------------------------------------------
_HDR = struct.Struct("=IHHII")  # struct nlmsghdr: length, type, flags, sequence number, port id
ERRMSG = struct.Struct("=i")  # struct nlmsgerr: the negative errno (the request's header follows)
_IFI = struct.Struct("=BxHiII")  # struct ifinfomsg: family, type, index, flags, change
_IFAM = struct.Struct("=BBBBI")  # struct ifaddrmsg: family, prefix length, flags, scope, index
_RTM = struct.Struct("=BBBBBBBBI")  # struct rtmsg: family, dst/src length, tos, table, protocol, scope, type, flags
_RTGEN = struct.Struct("=B3x")  # struct rtgenmsg, padded as the kernel reads it for RTM_*NSID
_NLA = struct.Struct("=HH")  # struct nlattr: length, type
_I32 = struct.Struct("=i")
_U32 = struct.Struct("=I")
IFINFOMSG_SIZE, RTMSG_SIZE = _IFI.size, _RTM.size  # the fixed parts before a link's or a route's attributes
_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF


def truncated(where: str, what: str) -> KernelError:
    return KernelError(errno.EPROTO, f"truncated answer from the kernel in {where}: {what}")


def attr(kind: int, data: bytes) -> bytes:
    size = _NLA.size + len(data)
    return _NLA.pack(size, kind) + data + b"\0" * (-size % 4)


def attr_str(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value))


def parse_attrs(data: bytes | memoryview, offset: int = 0) -> dict[int, bytes]:
    """Attributes from `offset` on, by type (nested and byte-order flags cleared); the last one of a type wins.

    An attribute that claims more bytes than there are raises struct.error, as a short fixed part does.
    """
    found: dict[int, bytes] = {}
    end = len(data)
    while offset + _NLA.size <= end:
        size, kind = _NLA.unpack_from(data, offset)
        if size < _NLA.size or offset + size > end:
            raise struct.error(f"attribute of {size} bytes at offset {offset} of {end}")
        found[kind & _TYPE_MASK] = bytes(data[offset + _NLA.size:offset + size])
        offset += (size + 3) & ~3
    return found


def text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode(errors="replace")


def u32(raw: bytes) -> int:
    return int(_U32.unpack_from(raw)[0])


def message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    """One whole netlink message: header (port id 0: the kernel fills in ours) and body."""
    return _HDR.pack(_HDR.size + len(body), kind, flags, seq, 0) + body


# -- message bodies --------------------------------------------------------------------------------

def link_body(index: int, *, flags: int = 0, change: int = 0, attrs: bytes = b"") -> bytes:
    return _IFI.pack(socket.AF_UNSPEC, 0, index, flags, change) + attrs


def link_up(index: int) -> bytes:
    return link_body(index, flags=IFF_UP, change=IFF_UP)


def link_down(index: int) -> bytes:
    return link_body(index, flags=0, change=IFF_UP)


def link_mtu(index: int, mtu: int) -> bytes:
    return link_body(index, attrs=attr_u32(IFLA_MTU, mtu))


def link_mac(index: int, mac: bytes) -> bytes:
    return link_body(index, attrs=attr(IFLA_ADDRESS, mac))


def link_master(index: int, master: int) -> bytes:
    return link_body(index, attrs=attr_u32(IFLA_MASTER, master))


def link_alias(index: int, alias: str) -> bytes:
    return link_body(index, attrs=attr_str(IFLA_IFALIAS, alias))


def link_named(name: str) -> bytes:
    """Interface `name`, by name rather than by index."""
    return link_body(0, attrs=attr_str(IFLA_IFNAME, name))


def link_by_name(name: str) -> bytes:
    """The body of a RTM_GETLINK for one interface by name (without statistics)."""
    return link_body(0, attrs=attr_str(IFLA_IFNAME, name) + attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS))


def link_dump() -> bytes:
    # without statistics: they are most of a link's dump and nobody here reads them
    return link_body(0, attrs=attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS))


def new_link(index: int, name: str, kind: str, *, data: bytes = b"") -> bytes:
    """A link of `kind` named `name`; index 0 lets the kernel choose it."""
    info = attr_str(IFLA_INFO_KIND, kind) + (attr(IFLA_INFO_DATA, data) if data else b"")
    return link_body(index, attrs=attr_str(IFLA_IFNAME, name) + attr(IFLA_LINKINFO, info))


def veth_peer(index: int, name: str, netns_fd: int | None) -> bytes:
    attrs = attr_str(IFLA_IFNAME, name)
    if netns_fd is not None:
        attrs += attr_u32(IFLA_NET_NS_FD, netns_fd)
    return attr(VETH_INFO_PEER, link_body(index, attrs=attrs))


def addr_body(index: int, family: int, prefixlen: int, packed: bytes, *, nodad: bool) -> bytes:
    flags = IFA_F_PERMANENT | (IFA_F_NODAD if nodad else 0)
    attrs = attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed) if family == socket.AF_INET else attr(IFA_ADDRESS, packed)
    return _IFAM.pack(family, prefixlen, flags & 0xFF, 0, index) + attrs + attr_u32(IFA_FLAGS, flags)


def addr_dump() -> bytes:
    return _IFAM.pack(0, 0, 0, 0, 0)


def route_body(family: int, dst_len: int, dst: bytes | None, gateway: bytes | None, oif: int | None,
               metric: int | None, *, onlink: bool = False) -> bytes:
    """RTM_NEWROUTE/RTM_DELROUTE in the main table; `onlink`: RTNH_F_ONLINK in rtm_flags (`ip route ... onlink`)."""
    scope = RT_SCOPE_UNIVERSE if gateway is not None or oif is None else RT_SCOPE_LINK
    attrs = attr_u32(RTA_TABLE, RT_TABLE_MAIN)
    if dst is not None and dst_len:
        attrs += attr(RTA_DST, dst)
    if gateway is not None:
        attrs += attr(RTA_GATEWAY, gateway)
    if oif is not None:
        attrs += attr_u32(RTA_OIF, oif)
    if metric is not None:
        attrs += attr_u32(RTA_PRIORITY, metric)
    flags = RTNH_F_ONLINK if onlink else 0
    return _RTM.pack(family, dst_len, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, flags) + attrs


def route_dump() -> bytes:
    return _RTM.pack(0, 0, 0, 0, 0, 0, 0, 0, 0)


def nsid_of(netns_fd: int) -> bytes:
    """The body of a RTM_GETNSID: the id the asking socket's namespace gives the namespace open as `netns_fd`."""
    return _RTGEN.pack(socket.AF_UNSPEC) + attr_u32(NETNSA_FD, netns_fd)


def parse_nsid(payload: bytes) -> int:
    """The id of a RTM_NEWNSID answer (-1: none assigned)."""
    raw = parse_attrs(payload, _RTGEN.size).get(NETNSA_NSID)
    return _I32.unpack(raw)[0] if raw is not None else -1


# -- dumps -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LinkInfo:
    index: int
    name: str
    kind: str  # "veth", "bridge", "dummy", "" (loopback and other kinds without link info)
    up: bool
    mtu: int
    mac: str
    master: int
    alias: str
    peer: int = 0  # IFLA_LINK: a veth's peer's index (in its own namespace)
    peer_nsid: int | None = None  # IFLA_LINK_NETNSID: the peer's namespace's id here (None: this namespace)


@dataclass(frozen=True, slots=True)
class AddrInfo:
    index: int
    family: int
    prefixlen: int
    address: bytes
    scope: int
    permanent: bool = True  # IFA_F_PERMANENT: added by hand, not made by the kernel (IPv6 link-local, autoconf)


@dataclass(frozen=True, slots=True)
class RouteInfo:
    family: int
    dst_len: int
    dst: bytes
    gateway: bytes | None
    oif: int
    metric: int
    protocol: int
    scope: int
    kind: int
    onlink: bool = False  # RTNH_F_ONLINK in rtm_flags


def parse_link(payload: bytes) -> LinkInfo:
    _, _, index, flags, _ = _IFI.unpack_from(payload)
    a = parse_attrs(payload, _IFI.size)
    kind = parse_attrs(a[IFLA_LINKINFO]).get(IFLA_INFO_KIND, b"") if IFLA_LINKINFO in a else b""
    mac = a.get(IFLA_ADDRESS, b"")
    return LinkInfo(index=index, name=text(a.get(IFLA_IFNAME, b"")), kind=text(kind), up=bool(flags & IFF_UP),
                    mtu=u32(a[IFLA_MTU]) if IFLA_MTU in a else 0, mac=":".join(f"{b:02x}" for b in mac),
                    master=u32(a[IFLA_MASTER]) if IFLA_MASTER in a else 0, alias=text(a.get(IFLA_IFALIAS, b"")),
                    peer=u32(a[IFLA_LINK]) if IFLA_LINK in a else 0,
                    peer_nsid=_I32.unpack(a[IFLA_LINK_NETNSID])[0] if IFLA_LINK_NETNSID in a else None)


def parse_addr(payload: bytes) -> AddrInfo:
    family, prefixlen, flags, scope, index = _IFAM.unpack_from(payload)
    a = parse_attrs(payload, _IFAM.size)
    flags = u32(a[IFA_FLAGS]) if IFA_FLAGS in a else flags
    return AddrInfo(index=index, family=family, prefixlen=prefixlen,
                    address=a.get(IFA_LOCAL) or a.get(IFA_ADDRESS, b""), scope=scope,
                    permanent=bool(flags & IFA_F_PERMANENT))


def parse_route(payload: bytes) -> RouteInfo:
    """A route; `kind` is its type in the main table, -1 in any other table."""
    family, dst_len, _, _, table, proto, scope, kind, flags = _RTM.unpack_from(payload)
    a = parse_attrs(payload, _RTM.size)
    return RouteInfo(family=family, dst_len=dst_len, dst=a.get(RTA_DST, b""), gateway=a.get(RTA_GATEWAY),
                     oif=u32(a[RTA_OIF]) if RTA_OIF in a else 0,
                     metric=u32(a[RTA_PRIORITY]) if RTA_PRIORITY in a else 0, protocol=proto, scope=scope,
                     kind=kind if (u32(a[RTA_TABLE]) if RTA_TABLE in a else table) == RT_TABLE_MAIN else -1,
                     onlink=bool(flags & RTNH_F_ONLINK))


def main_unicast(payload: bytes) -> bool:
    """A route of the main table and type unicast, from the fixed part only: the header's table byte is
    exact for tables below 256, so routes of the local table are skipped without parsing them."""
    return len(payload) >= _RTM.size and payload[4] == RT_TABLE_MAIN and payload[7] == RTN_UNICAST


T = TypeVar("T")


def parsed(parse: Callable[[bytes], T], payloads: list[bytes], where: str, what: str) -> list[T]:
    """Every payload through `parse`; one that is cut short raises KernelError (EPROTO)."""
    found: list[T] = []
    for payload in payloads:
        try:
            found.append(parse(payload))
        except struct.error:
            raise truncated(where, f"{what} of {len(payload)} bytes ends inside its fixed part or an attribute") from None
    return found


def messages(data: bytes, where: str) -> list[tuple[int, int, int, int, int]]:
    """(type, flags, sequence number, payload start, payload end) of every message of one datagram.

    A datagram that ends inside a message header, or a message longer than what is left of the
    datagram (or shorter than its own header), raises KernelError (EPROTO).
    """
    found: list[tuple[int, int, int, int, int]] = []
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < _HDR.size:
            raise truncated(where, f"{end - offset} bytes left at offset {offset}, less than a message header")
        size, kind, flags, seq, _ = _HDR.unpack_from(data, offset)
        if size < _HDR.size or offset + size > end:
            raise truncated(where, f"message of {size} bytes at offset {offset} of a {end}-byte datagram")
        found.append((kind, flags, seq, offset + _HDR.size, offset + size))
        offset += (size + 3) & ~3
    return found


def family(version: int) -> int:
    """The socket family of IP `version` (4 or 6): AF_INET or AF_INET6."""
    return socket.AF_INET if version == 4 else socket.AF_INET6
