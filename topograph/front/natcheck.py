"""Checks of the NAT forms that name an address of their own: a port forward's `address` and an SNAT's `to`.

Both are legal for any address, and the kernel does what the rule says; what it says is seldom meant when
the address is not the node's own:

- a port forward on an address the node does not have matches packets the node *routes* to that address
  (the nat prerouting hook sees transit traffic too), so it hijacks connections passing through;
- an SNAT to an address the node does not have sends packets whose replies nobody answers ARP/ND for
  (the kernel answers only for its own addresses), unless a route elsewhere brings them back.
"""

from __future__ import annotations

from topograph.front.diagnostics import Report, Where
from topograph.front.gaps import Gaps
from topograph.model import Node, Snat, Topology, Written


def _field(w: Written, key: str) -> Where | None:
    return None if w.where is None else Where(w.where.source, (*w.where.path, key))


def _owns(node: Node, address: object) -> bool:
    return any(a.ip == address for a in node.addresses)


def check_nat_addresses(topology: Topology, report: Report, gaps: Gaps) -> None:
    if gaps.addresses:
        return  # a dropped part may have held the address
    for node in topology.nodes:
        for f in node.port_forwards:
            at = _field(f, "address")
            if f.address is not None and not _owns(node, f.address) and at is not None:
                owner = topology.owner_of(f.address)
                whose = f", which is {owner.node}'s" if owner is not None else ""
                report.warning("TG520", at, f"port forward {f.proto}/{f.port} on {node.name} matches {f.address}"
                               f"{whose}, not one of {node.name}'s addresses: {node.name} will forward to "
                               f"{f.target} every {f.proto}/{f.port} connection it routes to {f.address}",
                               hint=f"name one of {node.name}'s own addresses, or leave 'address' out")
        for m in node.nat:
            if not isinstance(m, Snat) or _owns(node, m.to):
                continue
            at = _field(m, "to")
            if at is None:
                continue
            owner = topology.owner_of(m.to)
            who = f"{owner.node} has it" if owner is not None else "no node has it"
            report.warning("TG521", at, f"snat on {node.name} translates {m.source} to {m.to}, which is not one of "
                           f"{node.name}'s addresses ({who}): the replies go to {m.to}, and {node.name} does not "
                           f"answer ARP/ND for it",
                           hint=f"translate to an address of {node.name}, e.g. the out-interface's")
