"""A lab up for real, in a sandbox: `with lab.up(sandbox="t1-") as live:` applies it, the block uses it, exit destroys it.

Every node, the host and external ones too, is a namespace named SANDBOX+NODE; nothing in this
machine's own namespace is touched. The lab is applied and destroyed by the same engine as
`topograph apply` and `topograph destroy` (its record lives in the state directory, so
`topograph status --sandbox SANDBOX FILE` sees it meanwhile). Leaving the block — normally, or by an
exception, or by Ctrl-C — kills the processes `popen` started (by PID) and destroys the lab; a
namespace of the lab still there afterwards is a LabError.
"""

from __future__ import annotations

import signal
import subprocess
from types import TracebackType
from typing import TYPE_CHECKING, Any

from topograph.api.results import LabError, Status, VerifyResult
from topograph.front.quoting import quote
from topograph.live import engine, state
from topograph.live.journal import StepFailed
from topograph.live.kernel import list_netns, missing_capabilities
from topograph.live.lock import Busy
from topograph.placement import Placement, place

if TYPE_CHECKING:
    from topograph.api.lab import Lab
    from topograph.plan import Plan

def privilege_problem() -> str | None:
    """Why this process cannot create namespaces (it lacks CAP_NET_ADMIN or CAP_SYS_ADMIN), or None."""
    missing = missing_capabilities()
    return f"bringing a lab up needs root ({' and '.join(missing)})" if missing else None


class LiveLab:
    """A lab applied in a sandbox: run commands in its nodes, verify it, compare it with its file; then destroy it.

    Made by `Lab.up(sandbox=...)`; entering the with-block applies the lab, leaving it destroys it.
    """

    def __init__(self, lab: Lab, plan: Plan, *, wait: float = 0.0) -> None:
        if plan.prefix is None:
            raise LabError("a LiveLab is only ever a sandbox: give sandbox=PREFIX")
        self.lab = lab
        self.plan = plan
        self.prefix: str = plan.prefix
        self.wait = wait
        self.placement: Placement = place(lab.topology, plan.prefix)
        self.applied = 0  # steps the apply ran
        self.removed: list[str] = []  # what destroy removed
        self._up = False
        self._processes: list[subprocess.Popen[Any]] = []

    # -- the with-block ---------------------------------------------------------------------------
    def __enter__(self) -> LiveLab:
        self.apply()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        left = self.destroy()
        if left and exc is None:
            raise LabError(f"lab {self.plan.lab} (sandbox {self.prefix}): namespaces left after destroy: {', '.join(left)}")

    def apply(self) -> None:
        """Create the lab (the with-block does this); LabError when it cannot, with nothing left behind."""
        problem = privilege_problem()
        if problem:
            raise LabError(problem)
        try:
            if state.load_record(self.plan.lab, self.prefix) is not None:
                raise LabError(f"lab {self.plan.lab} is up already in sandbox {self.prefix}; take another sandbox "
                               f"prefix, or remove it: topograph destroy --lab {self.plan.lab} --sandbox {self.prefix}")
        except state.StateError as exc:
            raise LabError(str(exc)) from exc
        try:
            outcome = engine.apply(self.plan, source=str(self.lab.path or self.lab.source), wait=self.wait)
        except engine.Clash as exc:
            raise LabError(f"lab {self.plan.lab} (sandbox {self.prefix}): {exc}; nothing was changed") from exc
        except Busy as exc:
            raise LabError(str(exc)) from exc
        except StepFailed as exc:  # rolled back by the engine; destroy removes whatever its record still names
            self._up = True
            self.destroy()
            if isinstance(exc.cause, KeyboardInterrupt):
                raise exc.cause from exc
            raise LabError(f"apply of lab {self.plan.lab} failed at {exc}; rolled back") from exc
        except BaseException:
            self._up = True  # interrupted outside the steps: remove what may have been made
            self.destroy()
            raise
        self._up = True
        self.applied = outcome.applied

    def destroy(self) -> list[str]:
        """Kill the processes `popen` started, remove the lab; return the lab's namespaces still there (none)."""
        for proc in self._processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self._processes.clear()
        if self._up:
            self.removed += engine.destroy(self.plan.lab, self.prefix, self.plan, wait=max(self.wait, 30.0))
            self._up = False
        return self.left()

    def left(self) -> list[str]:
        """The lab's namespaces that exist now (all of them while up, none after destroy)."""
        existing = list_netns()
        return [n for n in self.plan.namespaces if n in existing]

    # -- using it ---------------------------------------------------------------------------------
    def netns(self, node: str) -> str:
        """The namespace of `node` (SANDBOX+NODE)."""
        if node not in self.lab.nodes:
            raise LabError(f"lab {self.plan.lab} has no node {quote(node)}; its nodes: {', '.join(self.lab.nodes)}")
        ns = self.placement.netns(node)
        assert ns is not None  # sandbox mode: every node is a namespace
        return ns

    def _argv(self, node: str, argv: tuple[str, ...]) -> list[str]:
        if not argv:
            raise LabError("give the command to run, e.g. live.exec('red', 'ping', '-c1', '10.0.0.2')")
        if not self._up:
            raise LabError(f"lab {self.plan.lab} is not up (use it inside `with lab.up(...) as live:`)")
        return ["ip", "netns", "exec", self.netns(node), *argv]

    def exec(self, node: str, *argv: str, timeout: float | None = 60, check: bool = False,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `argv` in `node`'s namespace and wait: returncode, stdout and stderr as text.

        `check=True` raises subprocess.CalledProcessError on a non-zero exit, as subprocess.run does.
        """
        return subprocess.run(self._argv(node, argv), capture_output=True, text=True, timeout=timeout,
                              check=check, input=input, stdin=None if input is not None else subprocess.DEVNULL)

    def popen(self, node: str, *argv: str, **kwargs: Any) -> subprocess.Popen[Any]:
        """Start `argv` in `node`'s namespace in the background (a daemon under test); stopped by PID on destroy.

        `kwargs` go to subprocess.Popen (stdout=subprocess.PIPE, text=True, ...).
        """
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc: subprocess.Popen[Any] = subprocess.Popen(self._argv(node, argv), **kwargs)
        self._processes.append(proc)
        return proc

    def verify(self, *, all_pairs: bool = False) -> VerifyResult:
        """`topograph verify`: real pings and TCP connects for the file's expectations (or, `all_pairs`,
        every node to every node and port forward), each against the simulator's prediction."""
        from topograph.live import verify

        topology = self.lab.topology
        return VerifyResult(tuple(verify.run_probes(topology, self.placement, verify.probes(topology, all_pairs=all_pairs))))

    def status(self) -> Status:
        """`topograph status`: the live lab against its file (missing, drifted, extra objects)."""
        return Status(engine.plan_diff(self.plan))

    def __repr__(self) -> str:
        return f"<LiveLab {self.plan.lab} sandbox={self.prefix!r} {'up' if self._up else 'down'}>"

