"""What `topograph scan` read from the kernel, as plain frozen data (strings and numbers, no kernel objects).

scan/read.py fills it from netlink, /proc/sys, `nft -j` and iptables-save; scan/build.py turns it into a topology
document. Unit tests build it by hand, so everything after the reading runs without root.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ScanLink:
    """An interface of a namespace. `peer` is the other end of a veth pair when it lies in the scanned set:
    (node, interface name); `peer_outside` says it lies elsewhere (another namespace or unknown)."""

    index: int
    name: str
    kind: str  # "veth", "bridge", "" (loopback, physical), "dummy", ...
    up: bool = True
    mtu: int = 1500
    master: str | None = None  # the bridge this interface is a port of
    port_state: int | None = None  # a bridge port's STP state (3: forwarding)
    peer: tuple[str, str] | None = None
    peer_outside: bool = False


@dataclass(frozen=True, slots=True)
class ScanRoute:
    """A route as the kernel lists it: table, type (1: unicast) and protocol (2: kernel) decide what it is."""

    to: str  # "0.0.0.0/0", "10.0.0.0/24"
    via: str | None = None
    dev: str | None = None
    metric: int = 0
    onlink: bool = False
    table: int = 254
    kind: int = 1
    protocol: int = 3  # boot: added by hand or by a tool
    multipath: bool = False


@dataclass(frozen=True, slots=True)
class ScanNamespace:
    """One scanned namespace: its node name and everything read there."""

    node: str
    netns: str  # what the user named: a namespace name, "pid:PID", or "(root)"
    links: tuple[ScanLink, ...] = ()
    addresses: tuple[tuple[str, str], ...] = ()  # (ifname, "10.0.0.1/24"), in the kernel's order
    routes: tuple[ScanRoute, ...] = ()
    policy_rules: tuple[str, ...] = ()  # routing policy rules beyond the kernel's defaults, described
    sysctls: Mapping[str, int | None] = field(default_factory=dict)  # "net.ipv4.ip_forward" -> value (None: absent)
    rp_filter: Mapping[str, int] = field(default_factory=dict)  # ifname -> net.ipv4.conf.IFNAME.rp_filter
    nft: tuple[dict[str, Any], ...] | None = None  # `nft -j list ruleset`'s objects; None: nft not read
    iptables: tuple[str, str] = ("", "")  # iptables-save and ip6tables-save output (("", ""): none read)
    iptables_nft: bool = False  # `iptables` was read from iptables-nft's tables (not mapped again from `nft`)
    mark: str = ""  # the loopback's alias (topograph's lab mark, when the lab made it)
    problems: tuple[str, ...] = ()  # what could not be read


@dataclass(frozen=True, slots=True)
class Scan:
    """Every scanned namespace, in the order they were named."""

    namespaces: tuple[ScanNamespace, ...]
    lab: str = "scan"
