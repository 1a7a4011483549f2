"""The plan's operations: plain, frozen, typed data that every back end (shell script, pyroute2) executes.

Conventions shared by all operations:

- `node` is the topology's node name (for messages and comments); `netns` is the kernel namespace
  the operation acts in, as given by `topograph.naming` — None means the root namespace (only the
  host node in real mode).
- Interface names are kernel names (never prefixed). Addresses and networks are `ipaddress` objects.
- `KIND` names the operation; the shell renderer has one jinja2 macro of that name per kind.
- `SECTION` groups operations under a commented heading in the script; a plan lists its operations
  section by section, in the order of `SECTIONS`.

The kinds live in two modules: plan/setup_ops.py (what a setup plan is made of, with `Netns`,
`SECTIONS` and `Sysctl`) and plan/undo_ops.py (what puts back or takes away: converge, rollback,
teardown). This module joins them into the `Operation` union.

Operations are msgspec Structs (frozen): typed records like frozen dataclasses, equal by type and
fields, hashable, but made in C, several times faster to create (benchmarks/bench_choices.py; figures
in benchmarks/README.md); a plan of a big lab has ~100,000 of them. KIND names the shell macro, not
the class (LinkUp and LoopbackUp share `link_up`): code tells kinds apart with `match`/isinstance.
"""

from __future__ import annotations

from typing import assert_never

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
    Netns,
    SetLinkSysctls,
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

SetupOp = (CreateNetns | MarkNetns | MarkLink | LoopbackUp
           | SetSysctls | SetLinkSysctls | CreateBridge | CreateVeth | CreateStandIn | SetMac | SetMtu
           | EnslavePort | AddAddress | LinkUp | SetNetem | AddRoute | LoadNftables | LoadIptables | StartService)
ResetOp = (LinkDown | ReleasePort | DeleteAddress | DeleteRoute | RestoreNftables | RestoreIptables
           | DeleteIptablesRule | DeleteNetem)
TeardownOp = StopService | DeleteNftables | DeleteIptables | DeleteLink | DeleteNetns | RestoreSysctls
Operation = SetupOp | ResetOp | TeardownOp


def namespaces(op: Operation) -> tuple[Netns, ...]:
    """Where `op` acts: its namespace, or both ends' for a veth pair (None: the root namespace).

    One `match` over every kind, so a new kind that is not placed here fails mypy.
    """
    match op:
        case CreateVeth():
            return (op.a.netns, op.b.netns)
        case (CreateNetns() | MarkNetns() | LoopbackUp() | SetSysctls() | CreateBridge() | CreateStandIn() | MarkLink()
              | SetMac() | SetMtu() | SetNetem() | DeleteNetem() | LinkDown() | ReleasePort() | DeleteAddress() | DeleteRoute()
              | RestoreNftables() | RestoreIptables() | DeleteIptablesRule()
              | EnslavePort() | AddAddress() | LinkUp() | AddRoute() | LoadNftables() | LoadIptables()
              | DeleteNftables() | DeleteIptables() | DeleteLink() | DeleteNetns() | RestoreSysctls()
              | StartService() | StopService()):
            return (op.netns,)
        case _:
            assert_never(op)
