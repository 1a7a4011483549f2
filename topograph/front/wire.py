"""What flows are made of, apart from the model: addresses, protocols, the loopback's name.

A module of its own so that the prober and a verify from its remembered prediction (topograph.live.verify_cache)
need not import topograph.model, whose dataclasses take a large share of that verify's start-up to make
(`python -X importtime`; benchmarks/README.md, "verify from its remembered prediction"); topograph.model gives
the same names.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK = "lo"


class Proto(StrEnum):
    ICMP = "icmp"  # ICMPv6 for an IPv6 flow or rule
    TCP = "tcp"
    UDP = "udp"
