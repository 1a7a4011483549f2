"""Drift made by hand in the lab's own namespaces that no operation of the plan names: an interface's
rp_filter raised over `default`'s, and rules in the built-in iptables chains. Part of `converge.diff`.
"""

from __future__ import annotations

from topograph.live.changes import Change
from topograph.live.describe import describe
from topograph.live.observe import Live, ops_by_netns
from topograph.plan import CreateBridge, CreateNetns, CreateStandIn, CreateVeth, DeleteIptablesRule, Plan, SetSysctls, Sysctl


def rp_filter_drift(plan: Plan, live: Live, recreated: set[tuple[str | None, str]],
                     fresh_ns: set[str]) -> list[Change]:
    """Interfaces of the lab's own namespaces whose rp_filter was changed by hand (the kernel uses the
    maximum of `all` and the interface's own value, so one raised value breaks flows through it).

    The plan sets `all` and `default`, and each interface the lab creates there takes `default`'s value
    (plan/build.py); interfaces the plan names itself (loopback) are checked with their SetSysctls op.
    """
    out: list[Change] = []
    own = set(plan.namespaces)
    by_ns = ops_by_netns(plan)
    for op in plan.operations:
        if not isinstance(op, SetSysctls) or op.netns not in own or op.netns in fresh_ns:
            continue
        st = live.namespaces.get(op.netns)
        want = next((s.value for s in op.values if s.path == ("net", "ipv4", "conf", "default", "rp_filter")), None)
        if st is None or want is None:
            continue
        named = {s.path[3] for s in op.values if s.path[:3] == ("net", "ipv4", "conf")}
        links: list[str] = []
        for o in by_ns.get(op.netns, []):
            if isinstance(o, CreateVeth):
                links += [e.ifname for e in (o.a, o.b) if e.netns == op.netns]
            elif isinstance(o, CreateBridge | CreateStandIn) and o.netns == op.netns:
                links.append(o.ifname)
        wrong = [name for name in links if name not in named and (op.netns, name) not in recreated
                 and st.link_rp_filter.get(name, want) not in (want, None)]
        if wrong:
            fix = SetSysctls(op.node, op.netns, tuple(Sysctl(("net", "ipv4", "conf", n, "rp_filter"), want) for n in wrong))
            out.append(Change("drifted", describe(fix), op=fix))
    return out


def node_namespaces(plan: Plan) -> dict[str, str]:
    """The node of each of the plan's own namespaces."""
    return {op.netns: op.node for op in plan.operations if isinstance(op, CreateNetns)}


def foreign_rule_removals(plan: Plan, live: Live, fresh_ns: set[str]) -> list[Change]:
    """Rules in the built-in iptables chains of the lab's own namespaces that the lab did not make (and
    policies other than ACCEPT): the lab owns those namespaces whole, so apply takes them away."""
    out: list[Change] = []
    node_of = node_namespaces(plan)
    for netns in plan.namespaces:
        st = live.namespaces.get(netns)
        if st is None or netns in fresh_ns:
            continue
        out += [Change("extra", f"{netns}: {rule.describe()}",
                       removal=DeleteIptablesRule(node_of.get(netns, netns), netns, rule.family, rule.table, rule.line))
                for rule in st.foreign_rules]
    return out
