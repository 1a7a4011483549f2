"""The teardown plan: the setup plan's exact reverse, minus what goes away by itself.

Each setup operation maps to the operation that undoes it, taken in reverse order. Whatever lives
inside a namespace the plan deletes (its interfaces, addresses, routes, sysctls, rules) needs no
undo of its own: deleting the namespace removes it. So a sandbox teardown is the namespaces'
deletion, last created first; a real-mode teardown also deletes the host's nftables table (or
iptables chains) and the links topograph made in the root namespace, and puts back the root
namespace's saved sysctls. Every undo tolerates an object that is already gone, so a teardown
works on a half-built lab, on an absent one, and twice in a row.
"""

from __future__ import annotations

from dataclasses import replace

from topograph.plan.build import Plan
from topograph.plan.ops import (
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    DeleteIptables,
    DeleteLink,
    DeleteNetns,
    DeleteNftables,
    LoadIptables,
    LoadNftables,
    Operation,
    RestoreSysctls,
    SetSysctls,
)


def undo(op: Operation) -> Operation | None:
    """The operation that undoes `op` in the root namespace, or None when deleting its namespace does."""
    if isinstance(op, CreateNetns):
        return DeleteNetns(op.node, op.netns)
    if isinstance(op, CreateVeth):
        root = next((e for e in (op.a, op.b) if e.netns is None), None)
        return DeleteLink(root.node, None, root.ifname) if root is not None else None
    if getattr(op, "netns", "") is not None:
        return None  # lives in a namespace of the plan's own
    if isinstance(op, CreateBridge | CreateStandIn):
        return DeleteLink(op.node, None, op.ifname)
    if isinstance(op, LoadNftables):
        return DeleteNftables(op.node, None, op.table)
    if isinstance(op, LoadIptables):
        return DeleteIptables(op.node, None, op.pre_chain, op.post_chain, op.families)
    if isinstance(op, SetSysctls) and op.save_to is not None:
        return RestoreSysctls(op.node, None, op.save_to)
    return None  # addresses, routes, MTU... on links that are deleted


def reverse(setup: Plan) -> Plan:
    """The teardown plan of `setup` (see the module docstring)."""
    if setup.teardown:
        raise ValueError("reverse() takes a setup plan")
    ops = [u for op in reversed(setup.operations) if (u := undo(op)) is not None]
    return replace(setup, operations=tuple(ops), notes=(), teardown=True)
