"""ICMP and ICMPv6 as verify's probes speak them: echo requests built, echo replies and errors read.

A raw ICMP socket in a namespace receives every echo reply and every ICMP error that reaches that
namespace. An error quotes the head of the packet it is about (the IP header, then at least 8 bytes
of what followed it), which names the probe it answers: an echo request by identifier and sequence
number, a TCP SYN or a UDP datagram by source port, destination address and destination port.
IPv4 raw sockets hand over the IP header too; IPv6 raw sockets start at the ICMPv6 header.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import secrets
import socket
import struct
from dataclasses import dataclass

from topograph.front.wire import Proto

ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
UNREACHABLE = {4: 3, 6: 1}
TIME_EXCEEDED = {4: 11, 6: 3}
MAGIC = b"topograph-probe!"
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1
_RAW_BUFFER = 1 << 20  # ICMP errors of many probes at once must not overflow the raw socket

_UNREACH_CODES = {4: {0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable",
                      3: "port unreachable", 9: "network prohibited", 10: "host prohibited",
                      13: "administratively prohibited"},
                  6: {0: "no route", 1: "administratively prohibited", 3: "address unreachable",
                      4: "port unreachable", 5: "source address failed policy", 6: "reject route"}}
_IP_PROTO = {1: Proto.ICMP, 58: Proto.ICMP, 6: Proto.TCP, 17: Proto.UDP}

#: What a probe's answer is keyed by: ("echo", identifier, sequence) or (proto, source port, destination, port).
Key = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Heard:
    """One ICMP packet about a probe: the probe's key and, for an error, what it says and who sent it."""

    key: Key
    error: str | None = None  # None: an echo reply


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(version: int, ident: int, seq: int) -> bytes:
    """An echo request carrying MAGIC; the kernel fills in an ICMPv6 checksum (it covers a pseudo-header)."""
    kind = ECHO_REQUEST[version]
    head = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    if version == 6:
        return head + MAGIC
    return struct.pack("!BBHHH", kind, 0, checksum(head + MAGIC), ident, seq) + MAGIC


def echo_key(ident: int, seq: int) -> Key:
    return ("echo", ident, seq)


def port_key(proto: Proto, sport: int, dst: str, dport: int) -> Key:
    return (proto, sport, dst, dport)


def parse(data: bytes, version: int, sender: str) -> Heard | None:
    """The probe an echo reply or an ICMP error is about — or None for a packet that is no probe's."""
    off = (data[0] & 0x0F) * 4 if version == 4 and data else 0
    if len(data) < off + 8:
        return None
    kind, code, _, ident, seq = struct.unpack_from("!BBHHH", data, off)
    if kind == ECHO_REPLY[version]:
        return Heard(echo_key(ident, seq)) if data[off + 8:off + 8 + len(MAGIC)] == MAGIC else None
    if kind == UNREACHABLE[version]:
        what = _UNREACH_CODES[version].get(code, f"destination unreachable (code {code})")
    elif kind == TIME_EXCEEDED[version]:
        what = "time exceeded"
    else:
        return None
    key = _quoted(data[off + 8:], version)
    return Heard(key, f"{what} (from {sender})") if key is not None else None


def _quoted(inner: bytes, version: int) -> Key | None:
    """The key of the packet an error quotes: its IP header, then the first 8 bytes after it."""
    if version == 4:
        if len(inner) < 20 or inner[0] >> 4 != 4:
            return None
        head, number, dst = (inner[0] & 0x0F) * 4, inner[9], str(ipaddress.IPv4Address(inner[16:20]))
    else:
        if len(inner) < 40 or inner[0] >> 4 != 6:
            return None
        head, number, dst = 40, inner[6], str(ipaddress.IPv6Address(inner[24:40]))
    proto = _IP_PROTO.get(number)
    if proto is None or len(inner) < head + 8 or (proto is Proto.ICMP and number != (1 if version == 4 else 58)):
        return None
    if proto is Proto.ICMP:
        kind, _, _, ident, seq = struct.unpack_from("!BBHHH", inner, head)
        return echo_key(ident, seq) if kind == ECHO_REQUEST[version] else None
    sport, dport = struct.unpack_from("!HH", inner, head)
    return port_key(proto, sport, dst, dport)


class Pinger:
    """The raw ICMP socket of one namespace and family (opened there by the caller), let through only echo replies
    and errors; echo identifiers and sequence numbers of its own."""

    def __init__(self, sock: socket.socket, version: int) -> None:
        if version == 4:
            wanted = (1 << ECHO_REPLY[4]) | (1 << UNREACHABLE[4]) | (1 << TIME_EXCEEDED[4])  # the filter names the types to drop
            sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", ~wanted & 0xFFFFFFFF))
        else:
            words = [0xFFFFFFFF] * 8
            for t in (UNREACHABLE[6], TIME_EXCEEDED[6], ECHO_REPLY[6]):
                words[t >> 5] &= ~(1 << (t & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *words))
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RAW_BUFFER)
        self.sock = sock
        self.version = version
        self.base = secrets.randbelow(0x10000)
        self.counter = itertools.count()

    def next_key(self) -> tuple[int, int]:
        n = next(self.counter)
        return (self.base + (n >> 16)) & 0xFFFF, n & 0xFFFF
