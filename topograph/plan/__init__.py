"""The plan: a topology turned into ordered, typed operations (setup) and their reverse (teardown).

Both back ends consume it: `topograph compile` renders it to shell, `topograph apply` executes it
with pyroute2. Same file, same options → the same plan, operation for operation.
"""

from __future__ import annotations

from topograph.model import BRIDGE_NF_DEFAULT
from topograph.plan.build import FIREWALLS, Firewall, Plan, plan, sysctls
from topograph.plan.firewall import DnatRule, MasqueradeRule, iptables_restore, nft_ruleset
from topograph.plan.ops import (
    Operation,
    ResetOp,
    SetupOp,
    TeardownOp,
    namespaces,
)
from topograph.plan.reverse import reverse, undo
from topograph.plan.setup_ops import (
    SECTIONS,
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
    SetSysctls,
    Sysctl,
    VethEnd,
)
from topograph.plan.undo_ops import (
    DeleteAddress,
    DeleteIptables,
    DeleteIptablesRule,
    DeleteLink,
    DeleteNetns,
    DeleteNftables,
    DeleteRoute,
    LinkDown,
    ReleasePort,
    RestoreIptables,
    RestoreNftables,
    RestoreSysctls,
)

__all__ = [
    "BRIDGE_NF_DEFAULT",
    "FIREWALLS",
    "SECTIONS",
    "AddAddress",
    "AddRoute",
    "CreateBridge",
    "CreateNetns",
    "CreateStandIn",
    "CreateVeth",
    "DeleteAddress",
    "DeleteIptables",
    "DeleteIptablesRule",
    "DeleteLink",
    "DeleteNetns",
    "DeleteNftables",
    "DeleteRoute",
    "DnatRule",
    "EnslavePort",
    "Firewall",
    "LinkDown",
    "LinkUp",
    "LoadIptables",
    "LoadNftables",
    "LoopbackUp",
    "MarkLink",
    "MarkNetns",
    "MasqueradeRule",
    "Netns",
    "Operation",
    "Plan",
    "ReleasePort",
    "ResetOp",
    "RestoreIptables",
    "RestoreNftables",
    "RestoreSysctls",
    "SetLinkSysctls",
    "SetMac",
    "SetMtu",
    "SetSysctls",
    "SetupOp",
    "Sysctl",
    "TeardownOp",
    "VethEnd",
    "iptables_restore",
    "namespaces",
    "nft_ruleset",
    "plan",
    "reverse",
    "sysctls",
    "undo",
]
