"""One line of plain words per plan operation, for progress, dry runs, status and failure messages."""

from __future__ import annotations

from topograph.plan import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    DeleteIptables,
    DeleteNftables,
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
    SetMac,
    SetMtu,
    SetSysctls,
)


def where(netns: str | None) -> str:
    return netns if netns is not None else "root namespace"


def describe(op: Operation) -> str:
    """e.g. 'red (ns tg1-red): add address 192.168.15.1/24 to veth-red'."""
    if isinstance(op, CreateVeth):
        return (f"{op.a.node}/{op.b.node}: create veth {op.a.ifname} ({where(op.a.netns)}) "
                f"<-> {op.b.ifname} ({where(op.b.netns)})")
    head = f"{op.node} ({where(getattr(op, 'netns', None))})"
    if isinstance(op, CreateNetns):
        return f"{head}: create namespace"
    if isinstance(op, MarkNetns):
        return f"{head}: mark the namespace as the lab's ({op.ifname} alias {op.alias})"
    if isinstance(op, MarkLink):
        return f"{head}: mark {op.ifname} as the lab's (alias {op.alias})"
    if isinstance(op, LoopbackUp | LinkUp):
        return f"{head}: set {op.ifname} up"
    if isinstance(op, LinkDown):
        return f"{head}: set {op.ifname} down"
    if isinstance(op, ReleasePort):
        return f"{head}: take {op.ifname} out of its bridge"
    if isinstance(op, DeleteNftables):
        return f"{head}: delete nftables table inet {op.table}"
    if isinstance(op, DeleteIptables):
        return f"{head}: delete iptables chains {op.pre_chain}, {op.post_chain}"
    if isinstance(op, SetSysctls):
        return f"{head}: set sysctls " + ", ".join(f"{s.key}={s.value}" for s in op.values)
    if isinstance(op, CreateBridge):
        return f"{head}: create bridge {op.ifname}"
    if isinstance(op, CreateStandIn):
        return f"{head}: create {op.ifname} (a port-less bridge standing in for an existing interface)"
    if isinstance(op, SetMac):
        return f"{head}: set {op.ifname} MAC {op.mac}"
    if isinstance(op, SetMtu):
        return f"{head}: set {op.ifname} MTU {op.mtu}"
    if isinstance(op, EnslavePort):
        return f"{head}: plug {op.ifname} into bridge {op.bridge}"
    if isinstance(op, AddAddress):
        return f"{head}: add address {op.address} to {op.ifname}"
    if isinstance(op, AddRoute):
        via = f" via {op.via}" if op.via is not None else ""
        dev = f" dev {op.dev}" if op.dev is not None else ""
        metric = f" metric {op.metric}" if op.metric is not None else ""
        return f"{head}: add route {op.to}{via}{dev}{metric}"
    if isinstance(op, LoadNftables):
        return f"{head}: load nftables table inet {op.table}"
    if isinstance(op, LoadIptables):
        return f"{head}: load iptables chains {op.pre_chain}, {op.post_chain}"
    return f"{head}: {op.KIND}"
