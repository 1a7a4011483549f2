"""Link impairments in a converge: a planned netem missing or different, and netem the file does not set.

Kept apart from live/converge.py, which calls `netem_state` for each SetNetem of the plan and adds
`extra_netems` to its changes: a root netem qdisc on one of the lab's interfaces (a veth end, a bridge
or a stand-in it creates) where the file sets none is removed (DeleteNetem).
"""

from __future__ import annotations

from topograph.live.changes import Change, State
from topograph.live.describe import where
from topograph.live.observe import Live, NsState
from topograph.plan import CreateBridge, CreateStandIn, CreateVeth, DeleteNetem, Plan, SetNetem


def netem_state(op: SetNetem, st: NsState) -> State | None:
    """None when the interface's root qdisc is the planned netem; 'missing' when it has none, else 'drifted'."""
    kind, netem = st.qdiscs.get(op.ifname, ("", None))
    if kind != "netem":
        return "missing"
    return None if netem is not None and netem.same_as(op.netem) else "drifted"


def lab_interfaces(plan: Plan) -> list[tuple[str, str | None, str]]:
    """(node, netns, ifname) of every interface the plan creates (loopback aside)."""
    out: list[tuple[str, str | None, str]] = []
    for op in plan.operations:
        if isinstance(op, CreateVeth):
            out += [(e.node, e.netns, e.ifname) for e in (op.a, op.b)]
        elif isinstance(op, CreateBridge | CreateStandIn):
            out.append((op.node, op.netns, op.ifname))
    return out


def extra_netems(plan: Plan, live: Live, fresh_ns: set[str], recreated: set[tuple[str | None, str]]) -> list[Change]:
    """Netem on an interface of the lab's that the file sets none on."""
    said = {(op.netns, op.ifname) for op in plan.operations if isinstance(op, SetNetem)}
    out: list[Change] = []
    for node, netns, ifname in lab_interfaces(plan):
        st = live.namespaces.get(netns)
        if st is None or netns in fresh_ns or (netns, ifname) in recreated or (netns, ifname) in said:
            continue
        kind, netem = st.qdiscs.get(ifname, ("", None))
        if kind == "netem":
            words = "(options not read)" if netem is None else netem.tc_words() or "(no impairment)"
            out.append(Change("extra", f"{where(netns)}: netem {words} on {ifname} "
                                       "(the file sets none)", op=DeleteNetem(node, netns, ifname)))
    return out
