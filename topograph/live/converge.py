"""Compare the live state with the plan: what is up to date, missing, drifted, or extra — and what fixes it.

Pure functions over `observe.Live` (no kernel access), so every rule here is unit-tested on states
built by hand. The repair is expressed with the plan's own operations (one plan, two back ends):
each missing or drifted operation is run again, in plan order; removals (extra objects, and links
that must be recreated) are separate, explicit steps, plan operations too (DeleteLink, DeleteAddress...),
so that the same runner runs them and the same templates print them (apply --dry-run --commands).

What it finds is a `changes.Diff`; what may be removed, and what stops an apply before any change,
is live/ownership.py's.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import assert_never

from topograph.live import services
from topograph.live.changes import Change, Diff, Removal, State
from topograph.live.describe import describe, where
from topograph.live.hand_drift import foreign_rule_removals, node_namespaces, rp_filter_drift
from topograph.live.netem_drift import extra_netems, netem_state
from topograph.live.observe import Live, LiveLink, LiveRoute, NsState, ops_by_netns, route_key
from topograph.live.ownership import blockers, leftover_rules, marked, stale_text
from topograph.live.rule_drift import rules_drift
from topograph.live.state import Record
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
    Plan,
    ReleasePort,
    RestoreIptables,
    RestoreNftables,
    RestoreSysctls,
    SetLinkSysctls,
    SetMac,
    SetMtu,
    SetNetem,
    SetSysctls,
    StartService,
    StopService,
    namespaces,
)
from topograph.plan.firewall import loaded_text


def _netns_of(op: Operation) -> str | None:
    """Where `op` acts (the first end's namespace for a veth pair, which callers handle before asking)."""
    return namespaces(op)[0]


def _ifname(op: Operation) -> str | None:
    """The interface `op` is about, if it is about one."""
    match op:
        case (AddAddress() | CreateBridge() | CreateStandIn() | DeleteAddress() | DeleteLink() | EnslavePort()
              | LinkDown() | LinkUp() | LoopbackUp() | MarkLink() | MarkNetns() | ReleasePort() | SetMac() | SetMtu()
              | SetNetem() | DeleteNetem()):
            return op.ifname
        case _:
            return None


#: The MTU of a new veth end, port-less bridge or stand-in; a bridge with ports takes the smallest of theirs.
DEFAULT_MTU = 1500
LOOPBACK_MTU = 65536


def mac_key(netns: str | None, ifname: str) -> str:
    """How a lab's record names an interface whose MAC the file set (Record.macs)."""
    return f"{where(netns)} {ifname}"


def planned_macs(plan: Plan) -> dict[str, str]:
    """The MACs the file sets, as the record keeps them."""
    return {mac_key(op.netns, op.ifname): op.mac.lower() for op in plan.operations if isinstance(op, SetMac)}


def diff(plan: Plan, live: Live, record: Record | None) -> Diff:
    """Every difference between `live` and what `plan` builds; see the module docstring."""
    result = Diff(blockers=blockers(plan, live, record))
    if result.blockers:
        return result
    result.adopted_namespaces, result.adopted_links = marked(plan, live, record)
    recreated: set[tuple[str | None, str]] = set()  # links that will be (re)created: what depends on them is redone
    fresh_ns: set[str] = set()

    def ns_state(netns: str | None) -> NsState | None:
        return None if netns in fresh_ns else live.namespaces.get(netns)

    def add(state: State, op: Operation, removal: Removal | None = None) -> None:
        result.changes.append(Change(state, describe(op), op=op, removal=removal))

    said = _what_the_file_says(plan)
    macs = record.macs if record else {}
    downed: set[tuple[str | None, str]] = set()  # links set down: the kernel drops the routes over them

    def mac_left(netns: str | None, ifname: str, link: LiveLink) -> bool:
        """Does the link keep a MAC an earlier apply set and the file no longer sets?"""
        return (netns, ifname) not in said.macs and macs.get(mac_key(netns, ifname)) == link.mac.lower() != ""

    def reset(node: str, netns: str | None, ifname: str, link: LiveLink, kernel_mtu: int = DEFAULT_MTU) -> None:
        """What the file no longer says of a link of the lab's: the kernel's MTU, and down for `up: false`."""
        if (netns, ifname) not in said.mtus:
            ports = said.ports.get((netns, ifname), [])
            want = min((said.mtus.get((netns, p), DEFAULT_MTU) for p in ports), default=kernel_mtu)
            if link.mtu != want:
                result.changes.append(Change("drifted", f"{where(netns)}: {ifname} has MTU {link.mtu}; the file sets "
                                             f"none: the kernel's {want}", op=SetMtu(node, netns, ifname, want)))
        if (netns, ifname) not in said.ups and link.up:
            downed.add((netns, ifname))
            result.changes.append(Change("drifted", f"{where(netns)}: {ifname} is up; the file says up: false",
                                         op=LinkDown(node, netns, ifname)))

    for op in plan.operations:
        match op:
            case CreateNetns():
                if op.netns in live.namespaces:
                    result.up_to_date += 1
                    lo = live.namespaces[op.netns].links.get("lo")
                    if lo is not None:
                        reset(op.node, op.netns, "lo", lo, kernel_mtu=LOOPBACK_MTU)
                    continue
                fresh_ns.add(op.netns)
                if op.netns in live.stale:  # ours (else a clash): the bare file goes, then the namespace is made
                    result.changes.append(Change("drifted", stale_text(op.netns), removal=DeleteNetns(op.node, op.netns)))
                add("missing", op)
                continue
            case CreateVeth():
                sa, sb = ns_state(op.a.netns), ns_state(op.b.netns)
                la = sa.links.get(op.a.ifname) if sa else None
                lb = sb.links.get(op.b.ifname) if sb else None
                if la is not None and lb is not None and la.kind == lb.kind == "veth":
                    with_mac = [e for e, ln in ((op.a, la), (op.b, lb)) if mac_left(e.netns, e.ifname, ln)]
                    if not with_mac:
                        result.up_to_date += 1
                        reset(op.a.node, op.a.netns, op.a.ifname, la)
                        reset(op.b.node, op.b.netns, op.b.ifname, lb)
                        continue
                    # a veth end takes a MAC of the kernel's only when it is made: the pair is made again
                    recreated.update({(op.a.netns, op.a.ifname), (op.b.netns, op.b.ifname)})
                    e = with_mac[0]
                    result.changes.append(Change("drifted", _mac_text(e.netns, e.ifname),
                                                 removal=DeleteLink(e.node, e.netns, e.ifname)))
                    add("drifted", op)
                    continue
                recreated.update({(op.a.netns, op.a.ifname), (op.b.netns, op.b.ifname)})
                stale = [e for e, ln in ((op.a, la), (op.b, lb)) if ln is not None]
                for e in stale:
                    result.changes.append(Change("drifted", f"{where(e.netns)}: {e.ifname} is not the expected veth pair",
                                                 removal=DeleteLink(e.node, e.netns, e.ifname)))
                add("drifted" if stale else "missing", op)
                continue
            case CreateBridge() | CreateStandIn():
                netns, st = op.netns, ns_state(op.netns)
                if st is None or (netns, op.ifname) in recreated:
                    add("missing", op)
                    continue
                kind = op.LINK_KIND
                link = st.links.get(op.ifname)
                if link is not None and link.kind == kind and not mac_left(netns, op.ifname, link):
                    result.up_to_date += 1
                    reset(op.node, netns, op.ifname, link)
                    continue
                recreated.add((netns, op.ifname))
                if link is not None and link.kind == kind:  # made again, like a veth, for a MAC of the kernel's
                    result.changes.append(Change("drifted", _mac_text(netns, op.ifname),
                                                 removal=DeleteLink(op.node, netns, op.ifname)))
                    add("drifted", op)
                    continue
                removal = DeleteLink(op.node, netns, op.ifname) if link is not None else None
                add("drifted" if link is not None else "missing", op, removal)
                continue
            case StartService() | StopService():
                continue  # services.changes() judges them
            case (MarkNetns() | MarkLink() | LoopbackUp() | SetSysctls() | SetMac() | SetMtu() | SetNetem() | DeleteNetem()
                  | EnslavePort() | AddAddress() | LinkUp() | AddRoute() | LoadNftables() | LoadIptables() | LinkDown()
                  | ReleasePort() | DeleteAddress() | DeleteRoute() | RestoreNftables() | RestoreIptables() | DeleteIptablesRule()
                  | DeleteNftables() | DeleteIptables() | DeleteLink() | DeleteNetns() | RestoreSysctls()):
                netns = _netns_of(op)
                st = ns_state(netns)
                ifname = _ifname(op)
                if st is None or (ifname is not None and (netns, ifname) in recreated):
                    add("missing", op)
                    continue
                state = _op_state(op, st, recreated, record)
                if state is None:
                    result.up_to_date += 1
                elif state == "drifted" and isinstance(op, LoadNftables | LoadIptables) and record is not None \
                        and not _rules_changed(op, record):  # changed by hand: say which rules
                    got, loaded = ((st.nft.get(op.table), record.nft.get(where(netns))) if isinstance(op, LoadNftables)
                                   else (st.iptables.get(op.pre_chain), record.iptables.get(where(netns))))
                    result.changes.append(Change(state, describe(op) + rules_drift(loaded, got), op=op))
                else:
                    add(state, op)
            case _:
                assert_never(op)
    running, found = services.changes(plan, live.services, record.services if record else {}, fresh_ns)
    result.up_to_date += running
    result.changes += found
    result.changes += rp_filter_drift(plan, live, recreated, fresh_ns)
    result.changes += _extras(plan, live, record, fresh_ns, downed) + extra_netems(plan, live, fresh_ns, recreated)
    result.changes += foreign_rule_removals(plan, live, fresh_ns)
    for gone in leftover_rules(plan, record):
        st = ns_state(gone.netns)
        if isinstance(gone, DeleteNftables) and st is not None and st.nft.get(gone.table) is not None:
            result.changes.append(Change("extra", f"{where(gone.netns)}: nftables table inet {gone.table} "
                                         "(the file has no NAT, port forward or filter here any more)", op=gone))
        elif isinstance(gone, DeleteIptables) and st is not None and st.iptables.get(gone.pre_chain) is not None:
            result.changes.append(Change("extra", f"{where(gone.netns)}: iptables chains {', '.join(gone.chains)} "
                                         "(the file has no NAT, port forward or filter here any more)", op=gone))
    if record is not None and not record.complete:
        # an apply cut short: a value that is not yet what the plan says is a step it did not run
        result.cut_short = True
        result.changes = [replace(c, state="missing") if c.state == "drifted" and c.removal is None else c
                          for c in result.changes]
    return result


def _mac_text(netns: str | None, ifname: str) -> str:
    return (f"{where(netns)}: {ifname} keeps the MAC an earlier apply set, which the file no longer sets "
            "(made again, for one of the kernel's)")


@dataclass(frozen=True, slots=True)
class _Said:
    """What the plan sets on links, by (netns, ifname): MTUs, MACs, which are up, each bridge's ports."""

    mtus: dict[tuple[str | None, str], int]
    macs: set[tuple[str | None, str]]
    ups: set[tuple[str | None, str]]
    ports: dict[tuple[str | None, str], list[str]]


def _what_the_file_says(plan: Plan) -> _Said:
    said = _Said({}, set(), set(), {})
    for op in plan.operations:
        match op:
            case SetMtu():
                said.mtus[(op.netns, op.ifname)] = op.mtu
            case SetMac():
                said.macs.add((op.netns, op.ifname))
            case LoopbackUp() | LinkUp():
                said.ups.add((op.netns, op.ifname))
            case EnslavePort():
                said.ports.setdefault((op.netns, op.bridge), []).append(op.ifname)
            case (CreateNetns() | MarkNetns() | MarkLink() | SetSysctls() | CreateBridge() | CreateVeth() | CreateStandIn()
                  | AddAddress() | AddRoute() | LoadNftables() | LoadIptables() | LinkDown() | ReleasePort()
                  | DeleteAddress() | DeleteRoute() | RestoreNftables() | RestoreIptables() | DeleteIptablesRule()
                  | DeleteNftables() | DeleteIptables() | DeleteLink() | DeleteNetns() | RestoreSysctls()
                  | StartService() | StopService() | SetNetem() | DeleteNetem()):
                pass  # nothing said of a link's settings
            case _:
                assert_never(op)
    return said


def _op_state(op: Operation, st: NsState, recreated: set[tuple[str | None, str]],
              record: Record | None) -> State | None:
    """None when `op`'s effect is present in `st`; else whether it is missing or drifted."""
    netns = _netns_of(op)
    match op:
        case LoopbackUp() | LinkUp():
            link = st.links.get(op.ifname)
            return None if link is not None and link.up else ("drifted" if link is not None else "missing")
        case MarkNetns() | MarkLink():
            link = st.links.get(op.ifname)
            return None if link is not None and link.alias == op.alias else ("drifted" if link is not None else "missing")
        case SetSysctls():
            if isinstance(op, SetLinkSysctls) and any((netns, name) in recreated for name in op.ifnames):
                return "missing"  # values of a link about to be made again, which starts from `default`
            wrong = [s for s in op.values
                     if st.sysctls.get(s.key) != s.value and not (s.optional and st.sysctls.get(s.key) is None)]
            return "drifted" if wrong else None
        case SetMac():
            link = st.links.get(op.ifname)
            return None if link is not None and link.mac.lower() == op.mac.lower() else "drifted"
        case SetMtu():
            link = st.links.get(op.ifname)
            return None if link is not None and link.mtu == op.mtu else "drifted"
        case SetNetem():
            return netem_state(op, st)
        case EnslavePort():
            link = st.links.get(op.ifname)
            if (netns, op.bridge) in recreated:
                return "missing"
            return None if link is not None and link.master == op.bridge else "drifted"
        case AddAddress():
            return None if (op.ifname, str(op.address)) in st.addresses else "missing"
        case AddRoute():
            want = route_key(op)
            # present, and not over a link about to be recreated (its routes vanish with it)
            same = any(r.satisfies(want) and (netns, r.dev or "") not in recreated for r in st.routes)
            return None if same else "missing"
        case LoadNftables():
            if _rules_changed(op, record):
                return "drifted"
            got = st.nft.get(op.table)
            if got is None:
                return "missing"
            recorded = record.nft.get(where(netns)) if record else None
            return None if recorded is None or got == recorded else "drifted"
        case LoadIptables():
            if _rules_changed(op, record):
                return "drifted"
            listed = st.iptables.get(op.pre_chain)
            if listed is None:
                return "missing"
            recorded = record.iptables.get(where(netns)) if record else None
            return None if recorded is None or listed == recorded else "drifted"
        case (CreateNetns() | CreateVeth() | CreateBridge() | CreateStandIn()  # diff() judges these itself
              | LinkDown() | ReleasePort() | DeleteAddress() | DeleteRoute() | RestoreNftables() | RestoreIptables()
              | DeleteIptablesRule() | DeleteNftables() | DeleteIptables() | DeleteLink() | DeleteNetns()
              | RestoreSysctls() | StartService() | StopService() | DeleteNetem()):
            return None  # not in a setup plan (or judged elsewhere)
        case _:
            assert_never(op)


def _rules_changed(op: LoadNftables | LoadIptables, record: Record | None) -> bool:
    """Have the file's rules changed since they were loaded (as the record says)?"""
    loaded = record.rules.get(where(op.netns)) if record else None
    return loaded is not None and loaded != loaded_text(op)


def _is_kernel_address(ifname: str, address: str) -> bool:
    ip = ipaddress.ip_interface(address)
    return ifname == "lo" and ip.ip.is_loopback


def _extras(plan: Plan, live: Live, record: Record | None, fresh_ns: set[str],
            downed: set[tuple[str | None, str]]) -> list[Change]:
    """Owned objects the plan no longer has: namespaces, and links, addresses, routes inside ours."""
    out: list[Change] = []
    planned_ns = set(plan.namespaces)
    by_ns = ops_by_netns(plan)
    node_of = node_namespaces(plan)
    for name in sorted(set(record.namespaces) if record else set()):
        if name not in planned_ns and name in live.existing:
            what = stale_text(name) if name in live.stale else f"namespace {name} (no longer in the file)"
            # a node the file no longer has: named after its namespace, without the lab's sandbox prefix
            node = name.removeprefix(plan.prefix or "")
            out.append(Change("extra", what, removal=DeleteNetns(node, name)))
    for netns in plan.namespaces:
        st = live.namespaces.get(netns)
        if st is None or netns in fresh_ns:
            continue
        node = node_of.get(netns, netns)
        links: set[str] = {"lo"}
        addresses: set[tuple[str, str]] = set()
        routes: list[LiveRoute] = []
        for op in by_ns.get(netns, []):
            if isinstance(op, CreateVeth):
                links.update(e.ifname for e in (op.a, op.b) if e.netns == netns)
            elif _netns_of(op) != netns:
                continue
            elif isinstance(op, CreateBridge | CreateStandIn):
                links.add(op.ifname)
            elif isinstance(op, AddAddress):
                addresses.add((op.ifname, str(op.address)))
            elif isinstance(op, AddRoute):
                routes.append(route_key(op))
        for name, link in sorted(st.links.items()):
            if name not in links and link.kind in ("veth", "bridge", "dummy"):
                out.append(Change("extra", f"{netns}: {link.kind} {name}", removal=DeleteLink(node, netns, name)))
        for ifname, address in sorted(st.addresses):
            if (ifname, address) not in addresses and ifname in links and not _is_kernel_address(ifname, address):
                out.append(Change("extra", f"{netns}: address {address} on {ifname}",
                                  removal=DeleteAddress(node, netns, ifname, ipaddress.ip_interface(address))))
        for r in sorted(st.routes, key=str):
            if (not any(r.satisfies(w) for w in routes) and (r.dev is None or r.dev in links)
                    and (netns, r.dev) not in downed):  # the kernel drops routes over a link set down
                text = f"{r.to}" + (f" via {r.via}" if r.via else "") + (f" dev {r.dev}" if r.dev else "") \
                    + (" onlink" if r.onlink else "")
                gone = DeleteRoute(node, netns, ipaddress.ip_network(r.to), ipaddress.ip_address(r.via) if r.via else None,
                                   r.dev, r.metric)
                out.append(Change("extra", f"{netns}: route {text}", removal=gone))
    return out
