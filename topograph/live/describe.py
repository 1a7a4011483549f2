"""One line of plain words per plan operation, for progress, dry runs, status and failure messages."""

from __future__ import annotations

from typing import assert_never

from topograph.live.firewall import ForeignRule
from topograph.plan import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    DeleteAddress,
    DeleteIptables,
    DeleteIptablesRule,
    DeleteLink,
    DeleteNetem,
    DeleteNetns,
    DeleteNftables,
    DeleteRoute,
    EnslavePort,
    LinkDown,
    LinkUp,
    LoadIptables,
    LoadNftables,
    LoopbackUp,
    MarkLink,
    MarkNetns,
    Operation,
    ReleasePort,
    RestoreIptables,
    RestoreNftables,
    RestoreSysctls,
    SetMac,
    SetMtu,
    SetNetem,
    SetSysctls,
    StartService,
    StopService,
)


def where(netns: str | None) -> str:
    return netns if netns is not None else "root namespace"


def describe(op: Operation) -> str:
    """e.g. 'red (ns tg1-red): add address 192.168.15.1/24 to veth-red'. One `match` over every kind."""
    if isinstance(op, CreateVeth):
        return (f"{op.a.node}/{op.b.node}: create veth {op.a.ifname} ({where(op.a.netns)}) "
                f"<-> {op.b.ifname} ({where(op.b.netns)})")
    return f"{op.node} ({where(op.netns)}): {_what(op)}"


def _route(op: AddRoute | DeleteRoute) -> str:
    via = f" via {op.via}" if op.via is not None else ""
    dev = f" dev {op.dev}" if op.dev is not None else ""
    metric = f" metric {op.metric}" if op.metric is not None else ""
    onlink = " onlink" if isinstance(op, AddRoute) and op.onlink else ""
    return f"{op.to}{via}{dev}{metric}{onlink}"


def _what(op: Operation) -> str:
    match op:
        case CreateVeth():
            return f"create veth {op.a.ifname} <-> {op.b.ifname}"
        case CreateNetns():
            return "create namespace"
        case MarkNetns():
            return f"mark the namespace as the lab's ({op.ifname} alias {op.alias})"
        case MarkLink():
            return f"mark {op.ifname} as the lab's (alias {op.alias})"
        case LoopbackUp() | LinkUp():
            return f"set {op.ifname} up"
        case LinkDown():
            return f"set {op.ifname} down"
        case ReleasePort():
            return f"take {op.ifname} out of its bridge"
        case SetSysctls():
            return "set sysctls " + ", ".join(f"{s.key}={s.value}" for s in op.values)
        case CreateBridge():
            return f"create bridge {op.ifname}"
        case CreateStandIn():
            return f"create {op.ifname} (a port-less bridge standing in for an existing interface)"
        case SetMac():
            return f"set {op.ifname} MAC {op.mac}"
        case SetMtu():
            return f"set {op.ifname} MTU {op.mtu}"
        case SetNetem():
            return f"set netem {op.netem.tc_words()} on {op.ifname}"
        case DeleteNetem():
            return f"remove the netem qdisc of {op.ifname}"
        case EnslavePort():
            return f"plug {op.ifname} into bridge {op.bridge}"
        case AddAddress():
            return f"add address {op.address} to {op.ifname}"
        case DeleteAddress():
            return f"delete address {op.address} from {op.ifname}"
        case AddRoute():
            return f"add route {_route(op)}"
        case DeleteRoute():
            return f"delete route {_route(op)}"
        case LoadNftables():
            return f"load nftables table inet {op.table}"
        case RestoreNftables():
            return f"put back nftables table inet {op.table} as it was"
        case DeleteNftables():
            return f"delete nftables table inet {op.table}"
        case LoadIptables():
            return f"load iptables chains {', '.join(op.loaded_chains)}"
        case RestoreIptables():
            what = "as they were" if op.lines is not None else "away (there were none)"
            return f"put back ipv{op.family} iptables chains {', '.join(op.chains)} {what}"
        case DeleteIptables():
            return f"delete iptables chains {', '.join(op.chains)}"
        case DeleteIptablesRule():
            return f"take away {ForeignRule(op.family, op.table, op.line).describe()}"
        case DeleteLink():
            return f"delete interface {op.ifname}" + (" if it carries the lab's mark" if op.mark else "")
        case DeleteNetns():
            return "delete namespace" + (" if it carries the lab's mark" if op.mark else "")
        case RestoreSysctls():
            return f"put back the sysctls saved in {op.path}"
        case StartService():
            return f"start service {op.name}: {op.cmd}"
        case StopService():
            return f"stop service {op.name}"
        case _:
            assert_never(op)
