"""rtnetlink messages packed and parsed with `struct`: layouts, request builders, dump parsers.

Every number on the wire comes from pyroute2's definitions, read by name at import (a misspelt
or vanished name fails there): the layouts of the headers and bodies from its message classes'
`header` and `fields`, attribute numbers from their `nla_map` tables, flags and message types
from its modules. tests/unit/test_live_netlink.py holds every message builder byte for byte
against pyroute2's own encoder and feeds pyroute2-encoded answers to the parsers.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pyroute2.netlink import NLA_F_NESTED, NLA_F_NET_BYTEORDER, nla_header, nlmsg, rtnl
from pyroute2.netlink.rtnl import rt_proto, rt_scope, rt_type
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, IFA_F_PERMANENT, ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
from pyroute2.netlink.rtnl.rtmsg import RTNH_F_ONLINK, rtmsg

from topograph.live.kernel import KernelError


def layout(fields: Sequence[tuple[str, str]]) -> struct.Struct:
    """The packed, native-order layout of a pyroute2 `header` or `fields` list."""
    return struct.Struct("=" + "".join(fmt for _, fmt in fields))


def attribute_numbers(cls: Any) -> dict[str, int]:
    """Attribute numbers by name in a pyroute2 class's nla_map: listed in order, or each with its number
    (pyroute2 decides by the first entry, as here)."""
    table = cls.nla_map
    if isinstance(table[0][0], int):
        return {entry[1]: entry[0] for entry in table}
    return {entry[0]: number for number, entry in enumerate(table)}


_IFLA = attribute_numbers(ifinfmsg)
_INFO = attribute_numbers(ifinfmsg.ifinfo)
_VETH = attribute_numbers(ifinfmsg.ifinfo.veth_data)
_IFA = attribute_numbers(ifaddrmsg)
_RTA = attribute_numbers(rtmsg)
_NETNSA = attribute_numbers(nsidmsg)

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU = _IFLA["IFLA_ADDRESS"], _IFLA["IFLA_IFNAME"], _IFLA["IFLA_MTU"]
IFLA_MASTER, IFLA_LINKINFO, IFLA_IFALIAS = _IFLA["IFLA_MASTER"], _IFLA["IFLA_LINKINFO"], _IFLA["IFLA_IFALIAS"]
IFLA_NET_NS_FD, IFLA_EXT_MASK = _IFLA["IFLA_NET_NS_FD"], _IFLA["IFLA_EXT_MASK"]
IFLA_LINK, IFLA_LINK_NETNSID = _IFLA["IFLA_LINK"], _IFLA["IFLA_LINK_NETNSID"]
NETNSA_NSID, NETNSA_FD = _NETNSA["NETNSA_NSID"], _NETNSA["NETNSA_FD"]
IFLA_INFO_KIND, IFLA_INFO_DATA = _INFO["IFLA_INFO_KIND"], _INFO["IFLA_INFO_DATA"]
VETH_INFO_PEER = _VETH["VETH_INFO_PEER"]
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = _IFA["IFA_ADDRESS"], _IFA["IFA_LOCAL"], _IFA["IFA_FLAGS"]
RTA_DST, RTA_OIF, RTA_GATEWAY = _RTA["RTA_DST"], _RTA["RTA_OIF"], _RTA["RTA_GATEWAY"]
RTA_PRIORITY, RTA_TABLE = _RTA["RTA_PRIORITY"], _RTA["RTA_TABLE"]
RTPROT_BOOT, RTPROT_KERNEL, RTN_UNICAST = rt_proto["boot"], rt_proto["kernel"], rt_type["unicast"]
#: the message types of the requests built here (nlsocket.Socket.request(RTM_NEWLINK, link_up(index)))
RTM_NEWLINK, RTM_DELLINK = rtnl.RTM_NEWLINK, rtnl.RTM_DELLINK
RTM_NEWADDR, RTM_DELADDR = rtnl.RTM_NEWADDR, rtnl.RTM_DELADDR
RTM_NEWROUTE, RTM_DELROUTE = rtnl.RTM_NEWROUTE, rtnl.RTM_DELROUTE
RTM_GETNSID = rtnl.RTM_GETNSID
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = rt_scope["universe"], rt_scope["link"]
# linux/rtnetlink.h; pyroute2 0.9.7 has no name for these two (it writes 254 and 1 << 3 as bare numbers)
RT_TABLE_MAIN = 254
RTEXT_FILTER_SKIP_STATS = 1 << 3

_HDR = layout(nlmsg.header)
_IFI = layout(ifinfmsg.fields)
_IFAM = layout(ifaddrmsg.fields)
_RTM = layout(rtmsg.fields)
_RTGEN = layout(nsidmsg.fields)
_I32 = struct.Struct("=i")
_NLA = layout(nla_header.header)
_U32 = struct.Struct("=I")
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
