"""Route gateways the kernel refuses whatever the subnets say (TG307): `ip route add` fails with EINVAL or
EHOSTUNREACH, so a lab that `check` passed would fail and roll back at apply.

Measured on Linux 6.18 in a namespace with 10.1.0.1/24 and fd05::1/64 on a veth end d0 (the kernel's message
after each): via 0.0.0.0 "No such device"; 224.0.0.1, 255.255.255.255, 10.1.0.255 (the subnet's broadcast,
also `dev d1 onlink` out of another interface) "Nexthop has invalid gateway"; 127.0.0.1 `dev d0 onlink`
"Invalid argument"; via :: and ff02::1 "Invalid gateway address"; ::1 "Egress device can not be loopback
device for this route"; fd05::1 (the node's own) "Gateway can not be a local address"; fd09::9 `dev lo`
(fd09::1/64 on lo, onlink or not) "No route to host". The kernel takes 10.1.0.0 (a subnet's network
address), fd05:: (its anycast address), 127.0.0.2 without onlink, and an IPv4 gateway that is the node's own
address (TG502, a warning).
"""

from __future__ import annotations

import ipaddress

from topograph.front import filter_checks
from topograph.model import LOOPBACK, Node, Route

_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_NEIGHBOUR = "a gateway is a neighbour's unicast address on the link the route leaves by"


def refused_gateway(node: Node, route: Route, addresses_known: bool) -> tuple[str, str] | None:
    """(what is wrong with the gateway, hint) when the kernel refuses `route`'s gateway, else None.

    `addresses_known`: the node's interfaces all resolved (else the checks that need its subnets are skipped)."""
    via = route.via
    if via is None:
        return None
    if via.is_unspecified:
        return ("is the unspecified address, which the kernel refuses as a gateway",
                "leave 'via' out to route straight out of 'dev', or name the neighbour's address")
    if via.is_multicast:
        return "is a multicast address, which the kernel refuses as a gateway", _NEIGHBOUR
    if via == _LIMITED_BROADCAST:
        return "is the broadcast address, which the kernel refuses as a gateway", _NEIGHBOUR
    if via.version == 6 and via.is_loopback:
        return "is the loopback address, which the kernel refuses as an IPv6 gateway", _NEIGHBOUR
    if via.version == 4 and via.is_loopback and route.onlink and route.dev != LOOPBACK:
        return f"is a loopback address, which the kernel refuses as an onlink gateway out of {route.dev}", _NEIGHBOUR
    if not addresses_known:
        return None
    nets = filter_checks.connected(node)
    if via.version == 4:
        subnet = next((n for _, n in nets if n.version == 4 and n.prefixlen < 31 and via == n.broadcast_address), None)
        if subnet is not None:
            return f"is the broadcast address of {subnet}, which the kernel refuses as a gateway", _NEIGHBOUR
        return None
    if not route.onlink and any(via == a.ip for a in node.addresses):  # onlink: TG300 says it
        return f"is {node.name}'s own address, which the kernel refuses as an IPv6 gateway", _NEIGHBOUR
    out_of_lo = route.dev == LOOPBACK or (
        route.dev is None and any(via in n for i, n in nets if i.name == LOOPBACK)
        and not any(via in n for i, n in nets if i.name != LOOPBACK))
    if out_of_lo:
        return ("is reached out of lo, which the kernel refuses for an IPv6 gateway (no route to host)",
                "route out of a link's interface, or leave 'via' out to route into lo ('dev: lo' alone)")
    return None
