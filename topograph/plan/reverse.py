"""The teardown plan: the setup plan's exact reverse, minus what goes away by itself.

Each setup operation maps to the operation that undoes it, taken in reverse order. Whatever lives
inside a namespace the plan deletes (its interfaces, addresses, routes, sysctls, rules) needs no
undo of its own: deleting the namespace removes it. So a sandbox teardown is the namespaces'
deletion, last created first; a real-mode teardown also deletes the host's nftables table (or
iptables chains) and the links topograph made in the root namespace, and puts back the root
namespace's saved sysctls. Every undo tolerates an object that is already gone, so a teardown
works on a half-built lab, on an absent one, and twice in a row.

A namespace or root interface is named by the user, so one of that name may be someone else's
(the setup stops on it, and says to run the teardown first). So what deletes it is the undo of
its *mark* (MarkNetns, MarkLink), not of its creation: the deletion carries the mark and happens
only when the object carries it too. The nftables table, iptables chains and sysctl file need no
mark: their names are made from the lab's own (naming), and the setup refuses to start when one
exists.
"""

from __future__ import annotations

from dataclasses import replace
from typing import assert_never

from topograph.plan.build import Plan
from topograph.plan.ops import Operation
from topograph.plan.setup_ops import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    EnslavePort,
    LinkUp,
    LoadIptables,
    LoadNftables,
    LoopbackUp,
    MarkLink,
    MarkNetns,
    SetMac,
    SetMtu,
    SetNetem,
    SetSysctls,
    StartService,
)
from topograph.plan.undo_ops import (
    DeleteAddress,
    DeleteIptables,
    DeleteIptablesRule,
    DeleteLink,
    DeleteNetem,
    DeleteNetns,
    DeleteNftables,
    DeleteRoute,
    LinkDown,
    ReleasePort,
    RestoreIptables,
    RestoreNftables,
    RestoreSysctls,
    StopService,
)


def undo(op: Operation) -> Operation | None:
    """The operation that undoes `op` in the root namespace, or None when deleting its namespace does.

    One `match` over every kind, so a new kind that is not placed here fails mypy.
    """
    match op:
        case StartService():  # deleting a namespace stops nothing that runs in it
            return StopService(op.node, op.netns, op.name, op.dir)
        case MarkNetns():
            return DeleteNetns(op.node, op.netns, mark=op.alias)
        case CreateNetns() | CreateVeth() | CreateBridge() | CreateStandIn():
            return None  # deleted as the undo of its mark, only when it carries it (module docstring)
        case MarkLink() if op.netns is None:
            return DeleteLink(op.node, None, op.ifname, mark=op.alias)
        case LoadNftables() if op.netns is None:
            return DeleteNftables(op.node, None, op.table)
        case LoadIptables() if op.netns is None:
            # the filter chains only where the node has filters: a NAT-only teardown stays as it was
            return DeleteIptables(op.node, None, op.pre_chain, op.post_chain, op.families,
                                  op.filter_chains if op.filters else (), op.local_chain)
        case SetSysctls() if op.netns is None and op.save_to is not None:
            return RestoreSysctls(op.node, None, op.save_to)
        case (MarkLink() | LoadNftables() | LoadIptables() | SetSysctls() | LoopbackUp() | SetMac() | SetMtu()
              | SetNetem() | EnslavePort() | AddAddress() | LinkUp() | AddRoute()):
            return None  # in a namespace of the plan's own, or on links that are deleted
        case (LinkDown() | ReleasePort() | DeleteAddress() | DeleteRoute() | RestoreNftables() | RestoreIptables()
              | DeleteIptablesRule() | DeleteNftables() | DeleteIptables() | DeleteLink() | DeleteNetns()
              | RestoreSysctls() | StopService() | DeleteNetem()):
            return None  # not in a setup plan
        case _:
            assert_never(op)


def reverse(setup: Plan) -> Plan:
    """The teardown plan of `setup` (see the module docstring)."""
    if setup.teardown:
        raise ValueError("reverse() takes a setup plan")
    ops = [u for op in reversed(setup.operations) if (u := undo(op)) is not None]
    return replace(setup, operations=tuple(ops), notes=(), teardown=True)
