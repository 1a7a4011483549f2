"""What of the live machine is the lab's own, and what stands in the way of an apply.

Ownership decides what may be removed: only namespaces named in the lab's record, and objects
inside them. A namespace (or root interface) the plan wants that exists but is not in the record is
the lab's own when it carries the lab's mark (plan MarkNetns / MarkLink: the compiled setup script
leaves it, as apply does), and a clash otherwise (`blockers`).
"""

from __future__ import annotations

from collections.abc import Iterable

from topograph import kernel_names
from topograph.live.describe import where
from topograph.live.kernel import netns_path
from topograph.live.observe import Live
from topograph.live.state import Record
from topograph.plan import (
    CreateBridge,
    CreateStandIn,
    CreateVeth,
    DeleteIptables,
    DeleteNftables,
    LoadIptables,
    LoadNftables,
    MarkLink,
    MarkNetns,
    Operation,
    Plan,
)


def root_links(ops: Iterable[Operation]) -> list[str]:
    """The interfaces `ops` create in the root namespace, in order (real mode: the host's share of the lab)."""
    names: list[str] = []
    for op in ops:
        if isinstance(op, CreateBridge | CreateStandIn) and op.netns is None:
            names.append(op.ifname)
        elif isinstance(op, CreateVeth):
            names += [e.ifname for e in (op.a, op.b) if e.netns is None]
    return names


def _alias(live: Live, netns: str | None, ifname: str) -> str | None:
    st = live.namespaces.get(netns)
    link = st.links.get(ifname) if st is not None else None
    return link.alias if link is not None else None


def marked(plan: Plan, live: Live, record: Record | None) -> tuple[list[str], list[str]]:
    """(namespaces, root interfaces) of the plan that exist, carry the lab's mark and are not in its record.

    They are the lab's own: made by its compiled setup script, or by an apply whose record is gone.
    """
    owned = set(record.namespaces) if record else set()
    mine = set(record.root_links) if record else set()
    namespaces: list[str] = []
    links: list[str] = []
    for op in plan.operations:
        if isinstance(op, MarkNetns):
            if op.netns in live.existing and op.netns not in owned and _alias(live, op.netns, op.ifname) == op.alias:
                namespaces.append(op.netns)
        elif (isinstance(op, MarkLink) and op.netns is None and op.ifname not in mine
              and _alias(live, None, op.ifname) == op.alias):
            links.append(op.ifname)
    return namespaces, links


def leftover_rules(plan: Plan, record: Record | None) -> list[DeleteNftables | DeleteIptables]:
    """The lab's rule tables and chains the record names in a namespace of the plan whose node the file
    gives none of that back end any more (no NAT, no port forward, no filter, or the other back end): to delete."""
    if record is None:
        return []
    node_of: dict[str | None, str] = {}
    nft: set[str | None] = set()  # namespaces where the file loads an nftables table, or iptables chains
    iptables: set[str | None] = set()
    for op in plan.operations:
        if isinstance(op, CreateVeth):
            continue
        node_of.setdefault(op.netns, op.node)
        if isinstance(op, LoadNftables):
            nft.add(op.netns)
        elif isinstance(op, LoadIptables):
            iptables.add(op.netns)
    found: list[DeleteNftables | DeleteIptables] = []
    for netns, node in node_of.items():
        if where(netns) in record.nft and netns not in nft:
            found.append(DeleteNftables(node, netns, kernel_names.nft_table(plan.lab)))
        if where(netns) in record.iptables and netns not in iptables:
            found.append(DeleteIptables(node, netns, kernel_names.iptables_chain(plan.lab, "PRE"),
                                        kernel_names.iptables_chain(plan.lab, "POST"), (4, 6),
                                        kernel_names.iptables_filter_chains(plan.lab)))
    return found


def stale_text(netns: str) -> str:
    """How status names a namespace file left unmounted by a killed run."""
    return f"namespace file {netns_path(netns)} is left from a killed run; destroy or apply repairs it"


def clashes(plan: Plan, live: Live, record: Record | None) -> list[str]:
    """Existing objects the plan would create that this lab does not own (apply must stop before any change).

    Owned: named in the record, or carrying the lab's mark (`marked()`).
    """
    own_ns, own_links = marked(plan, live, record)
    owned = set(record.namespaces if record else ()) | set(own_ns)
    found = [f"namespace {n} exists already and is neither in lab {plan.lab}'s record nor marked as its own"
             + (" (a bare file, left by a killed run that was not this lab's)" if n in live.stale else "")
             for n in plan.namespaces if n in live.existing and n not in owned]
    root = live.namespaces.get(None)
    if root is not None:
        mine = set(record.root_links if record else ()) | set(own_links)
        found += [f"interface {n} exists already in the root namespace and is not topograph's"
                  for n in root_links(plan.operations) if n in root.links and n not in mine]
    return found


def absent_requirements(plan: Plan, live: Live) -> list[str]:
    """The host's interfaces the lab uses as they are (real mode: its uplinks) that this machine lacks."""
    if not plan.requires:
        return []
    root = live.namespaces.get(None)
    absent = [name for name in plan.requires if root is None or name not in root.links]
    return [f"the host has no interface {', '.join(absent)}, which the lab uses as it is"] if absent else []


def blockers(plan: Plan, live: Live, record: Record | None) -> list[str]:
    """Why apply must stop before any change: objects in the way that are not ours, or uplinks that are absent.

    The one check behind apply, apply --dry-run and status, so a dry run or a status never
    promises a run that apply then refuses.
    """
    return clashes(plan, live, record) + absent_requirements(plan, live)
