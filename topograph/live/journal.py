"""The journal of a run and its rollback, and what a failed run raises.

Objects inside a namespace created by the run need no undo of their own: rollback deletes the
namespace. Changes to a namespace that existed before (a converging re-apply, or the root namespace
in real mode) are undone one by one: before each, the runner (live/execute.py) journals the plan
operation that puts it back (delete this address, set that MTU back, put these sysctls back...), and
rollback runs the journal backwards with the same `run()`.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, field
from typing import assert_never

from topograph.live.describe import describe, where
from topograph.live.kernel import Namespaces, netns_exists
from topograph.live.nlsocket import Sockets
from topograph.plan import (
    DeleteIptables,
    DeleteLink,
    DeleteNetns,
    DeleteNftables,
    EnslavePort,
    LinkDown,
    LinkUp,
    LoadIptables,
    LoadNftables,
    LoopbackUp,
    Operation,
    ReleasePort,
    RestoreIptables,
    RestoreNftables,
    SetMac,
    SetMtu,
    namespaces,
)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM (`signum`), turned into an exception so that the run rolls back."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = int(signum)


@dataclass
class StepFailed(Exception):
    """A step failed (or the run was interrupted); what the rollback did is attached."""

    step: int
    total: int
    what: str
    cause: BaseException
    rolled_back: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if isinstance(self.cause, KeyboardInterrupt):
            why = "interrupted"
        elif isinstance(self.cause, OSError) and self.cause.strerror:
            why = self.cause.strerror
        else:
            why = str(self.cause)
        if self.step > self.total:
            return f"the end of the run, after step {self.total} of {self.total}: {why}"
        if self.step == 0:
            return f"{self.what} (a removal, besides the {self.total} steps): {why}"
        return f"step {self.step} of {self.total} ({self.what}): {why}"


class Journalled:
    """The journal of a run: before each change, the operation that undoes it; `rollback` runs them backwards.

    The base of `execute.Runner`, which sets these attributes and runs the operations.
    """

    ns: Namespaces
    socks: Sockets
    journal: list[Operation]  # what undoes each step so far, in order
    undoing: bool  # rolling back: what runs now is not journalled
    made: set[tuple[str | None, str]]  # links this run created (deleting them undoes the rest)

    def fresh(self, netns: str | None) -> bool:
        raise NotImplementedError

    def run(self, op: Operation) -> bool:
        raise NotImplementedError

    def _journal(self, undo: Operation) -> None:
        """Keep the operation that undoes a step, for rollback (which itself journals nothing)."""
        if not self.undoing:
            self.journal.append(undo)

    def _journalling(self, netns: str | None) -> bool:
        """Are changes in `netns` journalled one by one? Not in a namespace of this run's: deleting it undoes them."""
        return not self.undoing and not self.fresh(netns)

    def _journal_undo(self, op: LoopbackUp | LinkUp | LinkDown | SetMac | SetMtu | EnslavePort | ReleasePort) -> None:
        """Before changing a link in place, journal the operation that puts it back (one of the plan's own).

        Only in a namespace the run did not create, and on a link it did not create: deleting those
        undoes everything on them. The link's state before is read with one dump.
        """
        if not self._journalling(op.netns) or (op.netns, op.ifname) in self.made:
            return
        links = self.socks(op.netns).links()
        now = next((ln for ln in links if ln.name == op.ifname), None)
        if now is None:
            return  # the step itself will fail: nothing changed
        undo: Operation | None = None
        master = next((ln.name for ln in links if now.master and ln.index == now.master), None)
        match op:
            case LoopbackUp() | LinkUp():
                if not now.up:
                    undo = LinkDown(op.node, op.netns, op.ifname)
            case LinkDown():
                if now.up:
                    undo = LinkUp(op.node, op.netns, op.ifname)
            case SetMac():
                if now.mac.lower() != op.mac.lower():
                    undo = SetMac(op.node, op.netns, op.ifname, now.mac)
            case SetMtu():
                if now.mtu != op.mtu:
                    undo = SetMtu(op.node, op.netns, op.ifname, now.mtu)
            case EnslavePort():
                if master is None:
                    undo = ReleasePort(op.node, op.netns, op.ifname)
                elif master != op.bridge:
                    undo = EnslavePort(op.node, op.netns, op.ifname, master)
            case ReleasePort():
                if master is not None:
                    undo = EnslavePort(op.node, op.netns, op.ifname, master)
            case _:
                assert_never(op)
        if undo is not None:
            self._journal(undo)

    # -- rollback ------------------------------------------------------------------------------
    def rollback(self) -> tuple[list[str], list[str]]:
        """Run the journal's operations, last first, with SIGINT/SIGTERM held off; return (what was undone, problems)."""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        done: list[str] = []
        problems: list[str] = []
        self.undoing = True
        try:
            try:
                self.ns.enter(None)  # an interruption may have come while inside another namespace
            except OSError as exc:
                problems.append(f"cannot return to the root namespace: {exc}")
            for op in reversed(self.journal):
                if not isinstance(op, DeleteNetns) and self._namespace_gone(op):
                    continue  # and what was in it
                try:
                    if self.run(op):
                        done.append(_undone(op))
                except (OSError, subprocess.SubprocessError) as exc:
                    problems.append(f"undo, {describe(op)}: {exc}")
            self.journal.clear()
        finally:
            self.undoing = False
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return done, problems

    def _namespace_gone(self, op: Operation) -> bool:
        return any(n is not None and n not in self.ns.fds and not netns_exists(n) for n in namespaces(op))



def _undone(op: Operation) -> str:
    """What rollback says it did: 'deleted ...' for the objects the run had made (apply counts them)."""
    if isinstance(op, DeleteNetns):
        return f"deleted namespace {op.netns}"
    if isinstance(op, DeleteLink):
        return f"deleted interface {op.ifname} in {where(op.netns)}"
    return f"put back: {describe(op)}"


def nft_back(op: LoadNftables | DeleteNftables | RestoreNftables, before: str | None) -> DeleteNftables | RestoreNftables:
    """The operation that puts the lab's nftables table back to `before` (its listing; None: there was none)."""
    return DeleteNftables(op.node, op.netns, op.table) if before is None else RestoreNftables(op.node, op.netns,
                                                                                              op.table, before)


def chains_back(op: LoadIptables | DeleteIptables | RestoreIptables, family: int,
                 now: list[str] | None) -> RestoreIptables:
    """The operation that puts the lab's chains of `family` back to `now` (live.firewall.lab_lines; None: no chains)."""
    return RestoreIptables(op.node, op.netns, family, op.pre_chain, op.post_chain,
                           tuple(now) if now is not None else None, op.filter_chains)


