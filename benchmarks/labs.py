"""Generated topologies for benchmarks: stars of N namespaces on one bridge in the host namespace."""

from __future__ import annotations

import ipaddress


def star(n: int, name: str = "star") -> str:
    """YAML text of N namespaces plugged into one bridge of the host, all in one subnet.

    The subnet grows with N (a /16 up to 65,000 namespaces; beyond that, a /8).
    """
    prefix = 16 if n < 65000 else 8
    net = ipaddress.ip_network(f"10.0.0.0/{prefix}")
    hosts = net.hosts()
    bridge_addr = next(hosts)
    lines = [f"lab: {name}", "nodes:", "  host:", "    kind: host", "    forwarding: true",
             f"    bridges: {{br0: {bridge_addr}/{prefix}}}"]
    links = []
    for i in range(n):
        lines.append(f"  ns{i}: {{interfaces: {{eth0: {next(hosts)}/{prefix}}}, "
                     f"routes: [{{to: default, via: {bridge_addr}}}]}}")
        links.append(f"  - [ns{i}:eth0, br0:p{i}]")
    return "\n".join([*lines, "links:", *links, ""])
