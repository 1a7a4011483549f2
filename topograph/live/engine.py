"""apply, destroy and status of one lab: lock, read the record and the live state, diff, act, record."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from topograph import kernel_names
from topograph.live import root, services, state
from topograph.live.changes import Diff
from topograph.live.converge import diff, planned_macs
from topograph.live.describe import describe, where
from topograph.live.execute import Runner
from topograph.live.firewall import Tools
from topograph.live.journal import StepFailed
from topograph.live.kernel import Namespaces, list_netns, netns_exists
from topograph.live.lock import holder, lab_lock
from topograph.live.nlsocket import Sockets
from topograph.live.observe import Live, LiveLink, NsState, observe
from topograph.live.ownership import leftover_rules, marked, root_links
from topograph.plan import (
    CreateNetns,
    DeleteIptables,
    DeleteLink,
    DeleteNetns,
    DeleteNftables,
    LoadIptables,
    LoadNftables,
    MarkLink,
    MarkNetns,
    Operation,
    Plan,
    RestoreSysctls,
    StartService,
    StopService,
)


class Clash(Exception):
    """Objects in the way that are not this lab's, or uplinks the machine lacks; nothing was changed."""


@dataclass
class Outcome:
    diff: Diff
    applied: int = 0
    removed: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)  # the lab's by its mark, now in its record
    ended: list[str] = field(default_factory=list)  # services this run started that ended at once (not rolled back)


@contextmanager
def session() -> Iterator[tuple[Namespaces, Sockets]]:
    ns = Namespaces()
    socks = Sockets(ns)
    try:
        yield ns, socks
    finally:
        socks.close()
        ns.close()


def refuse_if_blocked(d: Diff) -> None:
    """Raise Clash when the diff has blockers (apply, and apply --dry-run, stop before any change)."""
    if d.blockers:
        raise Clash("; ".join(d.blockers))


def _look(plan: Plan, ns: Namespaces, socks: Sockets) -> tuple[state.Record | None, Live, Diff]:
    """The lab's record, the live state, and the difference between the live state and `plan`."""
    record = state.load_record(plan.lab, plan.prefix)
    live = observe(plan, record.namespaces if record else [], ns, socks, leftover_rules(plan, record))
    live.services = services.observe_lab(plan, record.services if record else {})
    return record, live, diff(plan, live, record)


def plan_diff(plan: Plan) -> Diff:
    """status / --dry-run: the difference between the live state and `plan`, changing nothing."""
    with session() as (ns, socks):
        d = _look(plan, ns, socks)[2]
    if d.cut_short:
        d.running = holder(state.lab_key(plan.lab, plan.prefix))
    return d


def service_states(plan: Plan) -> list[services.Observed]:
    """How each service of the lab is (status): those of `plan`, then any other its record names."""
    record = state.load_record(plan.lab, plan.prefix)
    return list(services.observe_lab(plan, record.services if record else {}).values())


def _note_rules(plan: Plan, live: Live, rec: state.Record) -> None:
    """Record the listings of rules an adopted lab has loaded already, so that status sees later edits."""
    for op in plan.operations:
        st = live.namespaces.get(op.netns) if isinstance(op, LoadNftables | LoadIptables) else None
        if st is None:
            continue
        if isinstance(op, LoadNftables) and (listing := st.nft.get(op.table)) is not None:
            rec.nft.setdefault(where(op.netns), listing)
        elif isinstance(op, LoadIptables) and (listing := st.iptables.get(op.pre_chain)) is not None:
            rec.iptables.setdefault(where(op.netns), listing)


def apply(plan: Plan, *, source: str = "", wait: float = 0.0,
          progress: Callable[[int], Callable[[int], None] | None] | None = None) -> Outcome:
    """Bring the lab to `plan`: create what is missing, fix what drifted, remove what is extra.

    Raises Clash before any change when an object in the way is not ours, and journal.StepFailed
    (after rolling back this run's changes) when a step fails or the run is interrupted.
    `progress(total)` may return a callback that is told about each finished step.
    """
    key = state.lab_key(plan.lab, plan.prefix)
    with lab_lock(key, wait=wait), session() as (ns, socks):
        record, live, d = _look(plan, ns, socks)
        refuse_if_blocked(d)
        outcome = Outcome(diff=d, adopted=d.adopted)
        if d.clean and not d.adopted:
            return outcome
        before = copy.deepcopy(record)  # what to put back if this run is rolled back
        rec = record or state.Record(lab=plan.lab, prefix=plan.prefix)
        rec.source, rec.firewall, rec.complete = source or rec.source, plan.firewall, False
        # the lab's own by its mark (e.g. made by its compiled script): recorded, then converged like the rest
        rec.add_namespaces(d.adopted_namespaces)
        rec.root_links = sorted(set(rec.root_links) | set(d.adopted_links))
        if d.adopted:
            _note_rules(plan, live, rec)
        if d.clean:
            root.RootShare.of_ops(plan.operations).note_in(rec)
            rec.complete = True
            state.save(rec)
            return outcome
        repair = d.repair
        # recorded before anything is created: a run killed at any point leaves a record naming it all
        rec.add_namespaces([op.netns for op in repair if isinstance(op, CreateNetns)])
        rec.root_links = sorted(set(rec.root_links) | set(root_links(repair)))
        root.RootShare.of_ops(plan.operations).note_in(rec)
        rec.macs |= planned_macs(plan)  # the old ones stay until the run is done: converge may still find them
        state.save(rec)
        runner = Runner(ns, socks,
                        progress=progress(len(repair)) if progress else None)
        step = ""  # the removal under way, for the message should it be cut short
        try:
            for r in d.before:  # journalled like the steps: rollback makes a deleted link again (live/remake.py)
                step = describe(r)
                runner.run(r)
            runner.execute(repair)
            for r in d.after:
                step = describe(r)
                runner.run(r)
                outcome.removed.append(step)
                if isinstance(r, DeleteNetns):
                    rec.namespaces = [n for n in rec.namespaces if n != r.netns]
            for kept, done in ((rec.nft, runner.nft), (rec.iptables, runner.iptables), (rec.rules, runner.rules)):
                for at, text in done.items():
                    if text is None:
                        kept.pop(at, None)
                    else:
                        kept[at] = text
            rec.macs = planned_macs(plan)
            _note_services(plan, rec, runner.services)
            rec.complete = True
            state.save(rec)
        except BaseException as exc:
            # a removal cut short is a failure of the run as well: the steps taken are undone too
            failed = exc if isinstance(exc, StepFailed) else runner.failed(step, len(repair), exc)
            # what rollback could not delete stays on record, so that destroy still finds it
            left = set(before.namespaces if before else ()) | {n for n in rec.namespaces if netns_exists(n)}
            rec.namespaces = sorted(left)
            if before is None and not rec.namespaces:
                state.remove(rec)
            elif before is not None and rec.namespaces == before.namespaces:
                state.save(before)
            else:
                state.save(rec)
            if failed is exc:
                raise
            raise failed from exc
        outcome.applied = len(repair)
        started = {op.key: op for op in repair if isinstance(op, StartService)}
        outcome.ended = services.ended([s for s in runner.services.values() if s is not None], started, ns)
        return outcome


def _note_services(plan: Plan, rec: state.Record, done: dict[str, services.Observed | None]) -> None:
    """Record the services this run started (their pid and start time) and forget those it stopped."""
    ops = {op.key: op for op in plan.operations if isinstance(op, StartService)}
    for key, s in done.items():
        op = ops.get(key)
        if s is None or op is None:
            rec.services.pop(key, None)
        else:
            rec.services[key] = {"netns": op.netns, "dir": op.dir, "cmd": op.cmd, "pid": s.pid, "start": s.start}


def destroy(lab: str, prefix: str | None, plan: Plan | None = None, *, wait: float = 0.0,
            kernel: Tools | None = None) -> list[str]:
    """Remove everything the lab's record names (and nothing else); works on half-built labs and twice.

    The removal is a list of plan operations (`undo_record`), run by the same runner as apply's steps.

    In real mode the root namespace is put back as the record says (live/root.py), so the lab's
    name is enough; `plan`, when given, adds what a record of an older topograph does not name.
    A lab without a record (brought up by its compiled script) is found by `plan`: its namespaces
    and root interfaces that carry the lab's mark, and nothing else.
    """
    key = state.lab_key(lab, prefix)
    with lab_lock(key, wait=wait):  # the record goes, and so the lock file
        record = state.load_record(lab, prefix)
        removed: list[str] = []
        with session() as (ns, socks):
            if record is None and plan is not None:
                record = _adopt(plan, ns, socks)
            if record is None:
                return []
            runner = Runner(ns, socks, tools=kernel)
            for op in [*services.stops(plan, record.services), *undo_record(record, plan, list_netns())]:
                if runner.run(op):
                    removed.append(removed_text(op))
        state.remove(record)
        from topograph.live import verify_cache  # here: only destroy needs it

        verify_cache.forget(lab, prefix)
        return removed


def undo_record(record: state.Record, plan: Plan | None, existing: set[str]) -> list[Operation]:
    """What destroy runs: the reverse of what the record says the lab made (and nothing else).

    Its namespaces that exist, last made first; its interfaces in the root namespace, only where they
    carry the lab's mark; in real mode the root namespace's share put back (root.RootShare.undo; `plan`
    adds what a record of an older topograph does not name).
    """
    prefix = record.prefix or ""
    ops: list[Operation] = [DeleteNetns(name.removeprefix(prefix), name)
                            for name in reversed(record.namespaces) if name in existing]
    mark = kernel_names.mark(record.lab)
    ops += [DeleteLink("host", None, name, mark=mark) for name in reversed(record.root_links)]
    if record.prefix is None:
        share = root.RootShare.of_record(record)
        if plan is not None:
            share |= root.RootShare.of_ops(plan.operations)
        ops += share.undo(record.lab)
    return ops


def removed_text(op: Operation) -> str:
    """How destroy counts what it removed."""
    match op:
        case DeleteNetns():
            return f"namespace {op.netns}"
        case DeleteLink():
            return f"interface {op.ifname}"
        case DeleteNftables():
            return f"nftables table inet {op.table}"
        case DeleteIptables():
            return f"iptables chains {', '.join(op.chains)}"
        case RestoreSysctls():
            return f"sysctls saved in {op.path}"
        case StopService():
            return f"service {op.name} on {op.node}"
        case _:
            return describe(op)


def _adopt(plan: Plan, ns: Namespaces, socks: Sockets) -> state.Record | None:
    """A record of what of `plan` carries the lab's mark (a lab without a record: made by its compiled
    script), or None when nothing does. Reads only the loopbacks of the plan's namespaces and, in real
    mode, the root namespace's links: what destroy needs, not a whole observe()."""
    existing = list_netns()
    live = Live(existing=existing)
    for op in plan.operations:
        if isinstance(op, MarkNetns) and op.netns in existing:
            live.namespaces[op.netns] = NsState(links={ln.name: LiveLink(ln.name, ln.kind, alias=ln.alias)
                                                       for ln in socks(op.netns).links()})
    if any(isinstance(op, MarkLink) and op.netns is None for op in plan.operations):
        live.namespaces[None] = NsState(links={ln.name: LiveLink(ln.name, ln.kind, alias=ln.alias)
                                              for ln in socks(None).links()})
    namespaces, links = marked(plan, live, None)
    if not namespaces and not links:
        return None
    return state.Record(lab=plan.lab, prefix=plan.prefix, namespaces=namespaces, root_links=links)

