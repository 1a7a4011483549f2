"""Addresses as the file writes them: IPv4/IPv6 interface addresses, prefixes, gateways and MACs, read
with the kernel's rules (what it refuses, what it accepts and then never answers) and a diagnostic each."""

from __future__ import annotations

import ipaddress
import re

from topograph.front.diagnostics import PathKey, Report, Where
from topograph.front.loader import Source
from topograph.front.quoting import quote
from topograph.model import LOOPBACK, IPAddress, IPInterface, IPNetwork

_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")


_DEFAULT = ipaddress.IPv4Network("0.0.0.0/0")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # IPv4-mapped IPv6 addresses (RFC 4291 2.5.5.2)
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# dotted quad without leading zeros and a prefix length of 0..32: exactly the IPv4 CIDR text that
# ipaddress accepts in its most common spelling; anything else goes to ipaddress itself
_V4_CIDR = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}/(3[0-2]|[12][0-9]|[0-9])")


def _ip_interface(text: str) -> IPInterface:
    """`ipaddress.ip_interface(text)`, with IPv4 CIDR text split by one regular expression (a big
    lab has tens of thousands of addresses; ipaddress parses each octet in Python)."""
    m = _V4_CIDR.fullmatch(text)
    if m is None:
        return ipaddress.ip_interface(text)
    a, b, c, d, prefix = (int(g) for g in m.groups())
    return ipaddress.IPv4Interface(((a << 24) | (b << 16) | (c << 8) | d, prefix))


def _is_network_or_broadcast(ip: int, prefixlen: int) -> bool:
    """An IPv4 address whose host bits are all 0 or all 1 (integer arithmetic: big labs have many addresses)."""
    host_bits = (1 << (32 - prefixlen)) - 1
    return ip & host_bits in (0, host_bits)


def mac_problem(mac: str) -> str | None:
    """Why the kernel refuses `mac` for a veth end or bridge (is_valid_ether_addr), or None."""
    if not _MAC.fullmatch(mac):
        return "is not of the form 02:00:00:00:00:01"
    if int(mac[:2], 16) & 1:
        return "is a multicast address"
    if not int(mac.replace(":", ""), 16):
        return "is all zeros, which the kernel refuses for an interface"
    return None


def without_zone(text: str) -> tuple[str, str] | None:
    """(the text without its zone id, the zone) for an IPv6 address or prefix written with one: fe80::1%eth0/64.

    Python's ipaddress accepts zone ids, but netlink has no field for them: `apply` would add fe80::1/64 and
    then look for fe80::1%eth0 forever. An address belongs to the interface it is written under, and a route
    names its interface with 'dev'.
    """
    address, sep, rest = text.partition("%")
    if not sep or ":" not in address:
        return None
    zone, slash, length = rest.partition("/")
    return address + slash + length, zone


def as_ipv4(value: IPAddress | IPNetwork | IPInterface) -> str | None:
    """The IPv4 spelling of an IPv4-mapped IPv6 address or prefix (::ffff:10.0.0.1 -> 10.0.0.1), else None."""
    if value.version != 6:
        return None
    if isinstance(value, ipaddress.IPv6Network):
        if not value.subnet_of(_MAPPED):
            return None
        v4 = value.network_address.ipv4_mapped
        return f"{v4}/{value.prefixlen - 96}"
    ip = value.ip if isinstance(value, ipaddress.IPv6Interface) else value
    v4 = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    if v4 is None:
        return None
    if isinstance(value, ipaddress.IPv6Interface):
        return f"{v4}/{value.network.prefixlen - 96}" if value.network.prefixlen > 96 else f"{v4}/24"
    return str(v4)

_ZONE_DEV = " and name the interface with 'dev: {zone}'"


class AddressReader:
    """Reads addresses for the resolver (front.resolve), reporting each problem where it was written."""

    def __init__(self, source: Source, report: Report) -> None:
        self.src = source
        self.report = report
        self._networks: dict[str, IPNetwork] = {}
        self._ips: dict[str, IPAddress] = {}

    def err(self, code: str, path: PathKey, message: str, hint: str | None = None, *, key: bool = False) -> None:
        self.report.error(code, Where(self.src, path, key), message, hint=hint)

    def address_path(self, path: PathKey, index: int) -> PathKey:
        """Where the index-th address of the interface at `path` was written, shorthands included."""
        for candidate in ((*path, "address", index), (*path, index), (*path, "address")):
            if candidate in self.src.values:
                return candidate
        return path

    def address(self, text: str, interface: PathKey, index: int) -> IPInterface | None:
        """The `index`-th address of the interface written at `interface`. Where exactly it was written
        (shorthands differ) is looked up only for a message: a big lab has tens of thousands of addresses."""
        if "/" not in text:
            self.err("TG200", self.address_path(interface, index), f"address {quote(text)} has no prefix length",
                     hint=f"write it in CIDR form, e.g. {text if _is_address(text) else '10.0.0.1'}/24")
            return None
        zoned = without_zone(text)
        if zoned is not None:
            self.err("TG208", self.address_path(interface, index),
                     f"address {quote(text)} has an IPv6 zone id ('%{zoned[1]}'), which an interface address cannot have",
                     hint=f"write {zoned[0]}: an address belongs to the interface it is written under")
            return None
        try:
            value = _ip_interface(text)
        except ValueError:
            self.err("TG200", self.address_path(interface, index),
                     f"address {quote(text)} is not a valid IPv4 or IPv6 address in CIDR form",
                     hint="write e.g. 192.168.15.1/24 or fd00:15::1/64")
            return None
        net = value.network
        if value.version == 6:
            if not self.ipv6_address_fits(value, text, self.address_path(interface, index),
                                          loopback=interface[-1] == LOOPBACK):
                return None
        elif not int(value):  # 0.0.0.0 (an int, not value.ip: big labs have tens of thousands of addresses)
            self.err("TG210", self.address_path(interface, index),
                     f"address {text} is the unspecified address, which no interface can have",
                     hint="the kernel takes 0.0.0.0 without an error and assigns nothing; "
                          "use a host address such as 192.168.15.1/24")
            return None
        if value.version == 4 and net.prefixlen < 31 and _is_network_or_broadcast(int(value), net.prefixlen):
            which = "network" if value.ip == net.network_address else "broadcast"
            self.err("TG206", self.address_path(interface, index), f"address {text} is the {which} address of {net}",
                     hint=f"use a host address such as {next(net.hosts())}/{net.prefixlen}")
            return None
        return value

    def ipv6_address_fits(self, value: ipaddress.IPv6Interface, text: str, path: PathKey, *, loopback: bool) -> bool:
        """False (reported) for an IPv6 interface address the kernel refuses or never answers on."""
        v4 = as_ipv4(value)
        if v4 is not None:
            self.err("TG209", path, f"address {text} is an IPv4-mapped IPv6 address, which the kernel does not answer",
                     hint=f"write the IPv4 address instead, e.g. {v4}")
            return False
        if value.ip.is_unspecified:
            self.err("TG210", path, f"address {text} is the unspecified address, which no interface can have",
                     hint="the kernel refuses ::; use a host address such as fd00:15::1/64")
            return False
        if value.ip.is_multicast:
            self.err("TG210", path, f"address {text} is a multicast address, which the kernel refuses on an interface",
                     hint="use a unicast address such as fd00:15::1/64")
            return False
        if value.ip.is_loopback and not loopback:
            self.err("TG210", path, f"address {text} is the loopback address, which the kernel allows only on 'lo'",
                     hint="use another address such as fd00:15::1/64, or leave ::1 to 'lo' (it has it already)")
            return False
        return True

    def refused(self, text: str, value: IPAddress | IPNetwork | None, path: PathKey, what: str, fix: str = "") -> bool:
        """True (reported) when `text` is an address or prefix with a zone id, or an IPv4-mapped one.

        `value` is what `text` parsed to (None: it did not parse, or has not been parsed yet); `fix` ends
        the zone id's hint (how else to name the interface).
        """
        zoned = without_zone(text)
        if zoned is not None:
            bare, zone = zoned
            self.err("TG208", path, f"{what} {quote(text)} has an IPv6 zone id ('%{zone}'), which topograph cannot configure",
                     hint=f"write {bare}" + (fix.format(zone=zone) if fix else " without the zone id"))
            return True
        v4 = as_ipv4(value) if value is not None else None
        if v4 is not None:
            self.err("TG209", path, f"{what} {text} is an IPv4-mapped IPv6 address, which the kernel does not route",
                     hint=f"write the IPv4 {'prefix' if '/' in text else 'address'} instead: {v4}")
            return True
        return False

    def network(self, text: str, path: PathKey, what: str) -> IPNetwork | None:
        if text == "default":
            return _DEFAULT
        known = self._networks.get(text)  # a big lab repeats a few destinations thousands of times
        if known is not None:
            return known
        if self.refused(text, None, path, what, _ZONE_DEV if what == "route destination" else ""):
            return None
        try:
            known = ipaddress.ip_network(text, strict=True)
        except ValueError:
            pass
        else:
            if self.refused(text, known, path, what):
                return None
            self._networks[text] = known
            return known
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            self.err("TG200", path, f"{what} {quote(text)} is not a valid prefix",
                     hint="write a network in CIDR form, e.g. 192.168.1.0/24, or 'default'")
            return None
        self.err("TG201", path, f"{what} {text} has host bits set", hint=f"did you mean {loose}?")
        return None

    def ip(self, text: str, path: PathKey, what: str) -> IPAddress | None:
        known = self._ips.get(text)  # gateways repeat: every namespace of a star names the same one
        if known is not None:
            return known
        if self.refused(text, None, path, what, _ZONE_DEV if what == "gateway" else ""):
            return None
        try:
            known = ipaddress.ip_address(text)
        except ValueError:
            hint = ("write a plain address without prefix length, e.g. 192.168.15.5" if "/" in text
                    else "write an IPv4 or IPv6 address, e.g. 192.168.15.5 or fd00:15::5")
            self.err("TG200", path, f"{what} {quote(text)} is not a valid IP address", hint=hint)
            return None
        if self.refused(text, known, path, what):
            return None
        self._ips[text] = known
        return known


def _is_address(text: str) -> bool:
    """Whether `text` is an IP address (so that the hint can say how to write it with its prefix length)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
