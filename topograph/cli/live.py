"""What the live commands share: privileges, the --sandbox option, loading the plan, signals, progress."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from topograph.cli.common import abort
from topograph.front.quoting import quote

if TYPE_CHECKING:
    from topograph.model import Topology
    from topograph.plan import Plan

def privilege_problem() -> str | None:
    """Why this process cannot create namespaces and interfaces, or None."""
    from topograph.live.kernel import missing_capabilities  # not at the top: check and compile never need it

    missing = missing_capabilities()
    if missing:
        return f"topograph needs root privileges ({' and '.join(missing)}) to change network namespaces; try sudo"
    return None


def require_privileges() -> None:
    problem = privilege_problem()
    if problem:
        abort(problem)


wait_option = click.option("--wait", type=float, default=0.0, metavar="SECONDS", show_default=True,
                           help="wait this long for another run on the same lab to finish")


def load_plan(file: str, prefix: str | None, firewall: str | None = None, *,
              expectations: bool = False) -> tuple[Plan, Topology]:
    """The checked file's plan; without --firewall, the back end the lab was applied with (else nftables).

    `expectations`: a broken expectation stops here too, as in `check` (apply)."""
    from topograph.cli.common import load_or_exit
    from topograph.live import state
    from topograph.plan import plan

    checked = load_or_exit(file, expectations=expectations)
    assert checked.topology is not None
    if firewall is None:
        try:
            record = state.load_record(checked.topology.name, prefix)
        except state.StateError:
            record = None
        firewall = record.firewall if record is not None else "nftables"
    return plan(checked.topology, sandbox_prefix=prefix, firewall=firewall), checked.topology  # type: ignore[arg-type]


def mode(prefix: str | None) -> str:
    return "real mode" if prefix is None else f"sandbox {prefix}"


def elsewhere(lab: str, prefix: str | None) -> str | None:
    """When `lab` has no record in this mode but has one in another, a sentence that says so and how
    to name it, e.g. 'lab seed is not up in real mode; it is up in sandbox t1- (run with --sandbox t1-)'."""
    from topograph.live import state

    try:
        if state.load_record(lab, prefix) is not None:
            return None
    except state.StateError:
        return None
    others = [r.prefix for r in state.all_records() if r.lab == lab and r.prefix != prefix]
    if not others:
        return None
    how = "run without --sandbox" if others[0] is None else f"run with --sandbox {others[0]}"
    return f"lab {lab} is not up in {mode(prefix)}; it is up in {' and '.join(map(mode, others))} ({how})"


def node_namespace(topology: Topology, node: str, prefix: str | None, doing: str) -> str | None:
    """The namespace NODE of the lab lives in, for `exec` and `capture` to enter: a clear exit when the node is
    unknown, external, or its namespace is absent or stale; None for the host in real mode (this machine's own
    namespace, after a warning when the lab is up elsewhere). `doing`: what happens there, for that warning."""
    from topograph.live.kernel import netns_exists, netns_mounted
    from topograph.placement import place

    names = [n.name for n in topology.nodes]
    if node not in names:
        abort(f"lab {topology.name} has no node {quote(node)}; its nodes: {', '.join(names)}")
    placement = place(topology, prefix)
    hint = elsewhere(topology.name, prefix)
    if not placement.configures(node):
        abort(f"{node} is an external node, not a namespace of this lab "
              + (f"in real mode; {hint}" if hint else "(use --sandbox)"))
    require_privileges()
    netns = placement.netns(node)
    if netns is None:
        if hint:
            click.echo(f"topograph: warning: {hint}; {doing} in this machine's own namespace", err=True)
        return None
    if not netns_exists(netns):
        abort(hint or f"namespace {netns} does not exist; is the lab up? (topograph apply)")
    if not netns_mounted(netns):
        from topograph.live.ownership import stale_text

        abort(stale_text(netns))
    return netns


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM interrupt the block (the run rolls back); any signal after the first is only noted.

    Both signals go to one handler for the whole block, so that a second one (SIGTERM then SIGINT
    a millisecond later) can never raise again while the first one's rollback is starting: with
    Python's own SIGINT handler it raised KeyboardInterrupt there and the rollback was skipped.
    `Interrupted.signum` is the first signal's, for the exit status (exit_status()). The two handlers
    hold each other off (live/signals.py): else a second signal pending together with the first had its
    handler run first, and INT then TERM 2 ms apart exited 143 on a busy machine.
    """
    from topograph.live.journal import Interrupted
    from topograph.live.signals import hold_each_other

    seen = False
    # Python runs the handlers of signals that arrived together in the order of their numbers (SIGINT before
    # SIGTERM), not in the order they came; the wakeup fd gets one byte per signal as it comes, so the
    # handler reads which one was really first (TERM then INT 2 ms later: exit 143, not 130)
    arrived, wakeup = os.pipe()
    os.set_blocking(arrived, False)
    os.set_blocking(wakeup, False)

    def handler(signum: int, frame: object) -> None:
        nonlocal seen
        if not seen:
            seen = True
            try:
                order = os.read(arrived, 64)
            except BlockingIOError:
                order = b""
            raise Interrupted(order[0] if order else signum)

    old_wakeup = signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)
    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    hold_each_other(old)
    try:
        yield
    finally:
        signal.set_wakeup_fd(old_wakeup)
        os.close(arrived)
        os.close(wakeup)
        for sig, previous in old.items():
            # after a first signal the process is on its way out (128 + that signal): a second one, still
            # pending in Python or arriving now, must not raise KeyboardInterrupt in the messages or the
            # final write of the output (seen: TERM then INT 2 ms later, a traceback after the rollback)
            signal.signal(sig, signal.SIG_IGN if seen else previous)


def exit_status(exc: BaseException) -> int:
    """128 + the signal that interrupted the run (130 for SIGINT, 143 for SIGTERM), as shells report it."""
    from topograph.live.journal import Interrupted

    return 128 + (exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)


class Progress:
    """A progress bar on a terminal (stderr), nothing when piped."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, total: int) -> Callable[[int], None] | None:
        if total < 50 or not sys.stderr.isatty() or os.environ.get("CI"):
            return None
        self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
        self.bar.__enter__()
        return self.bar.update  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
