"""A lab's services (`run:`) live: start one detached, stop its process group, and tell how each one is.

A service runs under a tiny supervisor, a shell (plan.setup_ops.SUPERVISOR), chosen over a Python
wrapper because the compiled script starts the very same command line without topograph installed:

    setsid -f sh -c 'echo $$ > "$2.pid"; TOPOGRAPH_SERVICE="$2" sh -c "$1"; echo $? > "$2.rc"' sh CMD BASE

`setsid -f` gives it a session of its own (so its pid is its process group, and it is never the child
of topograph or of the script: nothing waits for it, no zombie is left), stdin is /dev/null, and
stdout and stderr are appended to BASE.log. The supervisor writes its own pid to BASE.pid, runs CMD
with sh marked with TOPOGRAPH_SERVICE=BASE (live/marked.py), and writes CMD's exit code to BASE.rc when
CMD ends by itself.

A pid from BASE.pid is taken for the service only while that process's command line ends with
BASE (the supervisor's last argument: a path of this lab's own) and, where apply recorded it, its
start time (/proc/PID/stat) is the recorded one: a pid the kernel gave to another process since is
never taken for the service, never signalled. A service is running while any process of its group
lives (not a zombie): killing the supervisor alone leaves CMD running in the group, and it is still
found and stopped. A command that puts itself in another session (a daemon that forks away) leaves the
group but keeps the marker: when CMD has ended with code 0 and processes with the service's marker live, the
service is running, daemonized (its oldest marked process is its pid). When CMD failed (or its supervisor was
killed) and marked processes live, the service is exited (stopped) with a leftover: apply stops what is left
before it starts the service again, so that it never runs twice.
Stopping sends SIGTERM to the group and to every process with the marker, then SIGKILL to what is left
after a short wait. Foreground programs (nginx -g 'daemon off;', sshd -D) are still watched better: their
exit code is recorded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from topograph.live import marked
from topograph.live.changes import Change
from topograph.live.describe import where
from topograph.live.kernel import KernelError, Namespaces
from topograph.plan import Plan, StartService, StopService
from topograph.plan.setup_ops import ServiceFiles

ServiceState = Literal["running", "exited", "stopped", "missing"]

#: How long a stop waits after SIGTERM before SIGKILL, and after SIGKILL; how long a start waits for the pid.
TERM_WAIT = 2.0
KILL_WAIT = 1.0
PID_WAIT = 5.0
#: After an apply started services: how long it watches them before it says which ended at once.
SETTLE = 0.3
READY_WAIT = 5.0


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    state: str  # R, S, Z...
    pgrp: int
    start: int  # clock ticks after boot


def proc(pid: int) -> Proc | None:
    """The process `pid` from /proc/PID/stat, or None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = text[text.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
    return Proc(pid, rest[0], int(rest[2]), int(rest[19]))


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def group_pids(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            p = proc(int(entry.name))
            if p is not None and p.pgrp == pgid and p.state != "Z":
                found.append(p.pid)
    return found


@dataclass(frozen=True, slots=True)
class Observed:
    """How one service is: running (its supervisor's `pid`; `daemonized`: its supervisor is gone, and `pid` is
    the oldest process with its marker), exited (`code`), stopped (gone without a code: killed with its
    supervisor), or missing (never started here, or its files are gone)."""

    node: str
    name: str
    state: ServiceState
    log: str
    pid: int | None = None
    start: int | None = None
    code: int | None = None
    cmd: str | None = None  # the command it runs, from its supervisor's command line (or the record)
    daemonized: bool = False
    #: exited or stopped, yet a process with its marker lives on (the oldest): what its command left running
    leftover: int | None = None

    def describe(self) -> str:
        but = f", but pid {self.leftover} it started still runs" if self.leftover is not None else ""
        match self.state:
            case "running":
                return f"running (daemonized: pid {self.pid})" if self.daemonized else f"running (pid {self.pid})"
            case "exited":
                return f"exited with code {self.code}{but}"
            case "stopped":
                return f"not running (ended without an exit code: killed?){but}"
            case "missing":
                return "not started"

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "name": self.name, "state": self.state, "pid": self.pid, "code": self.code,
                "log": self.log, "cmd": self.cmd, "daemonized": self.daemonized, "leftover": self.leftover}


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def supervisor(files: ServiceFiles, start: int | None = None) -> Proc | None:
    """The service's supervisor, when its pid file names one that is still it (module docstring); the
    process need not live any more if its group does (None: none of either)."""
    pid = _read_int(files.pid_file)
    if pid is None or pid <= 1:
        return None
    p = proc(pid)
    if p is not None and p.state != "Z":
        args = _cmdline(pid)
        if not args or args[-1] != files.base or (start is not None and p.start != start):
            return None  # another process has this pid now
        return p
    # the supervisor is gone; its group (CMD) may live on: a pid stays taken while its group exists
    return Proc(pid, "gone", pid, start or 0) if group_pids(pid) else None


def daemon(files: ServiceFiles) -> Proc | None:
    """The oldest live process with the service's marker (live/marked.py), if any."""
    found = [p for pid in marked.pids(files.base, marked.netns_inode(files.netns))
             if (p := proc(pid)) is not None and p.state != "Z"]
    return min(found, key=lambda p: (p.start, p.pid), default=None)


def observe_service(files: ServiceFiles, start: int | None = None, cmd: str | None = None) -> Observed:
    """How the service is (`start`: its supervisor's recorded start time; `cmd`: its recorded command)."""
    sup = supervisor(files, start)
    if sup is not None:
        args = _cmdline(sup.pid)
        return Observed(files.node, files.name, "running", files.log, sup.pid, sup.start,
                        cmd=args[-2] if len(args) >= 2 else cmd)
    code = _read_int(files.rc_file)
    started = code is not None or os.path.exists(files.pid_file)
    d = daemon(files) if started else None
    if code == 0 and d is not None:  # CMD forked away and ended: what it left runs on
        return Observed(files.node, files.name, "running", files.log, d.pid, cmd=cmd, daemonized=True)
    left = d.pid if d is not None else None  # CMD failed, or its supervisor was killed, yet left a process
    if code is not None:
        return Observed(files.node, files.name, "exited", files.log, code=code, leftover=left)
    if started:
        return Observed(files.node, files.name, "stopped", files.log, leftover=left)
    return Observed(files.node, files.name, "missing", files.log)


def _files(key: str, info: dict[str, Any]) -> StopService:
    node, _, name = key.partition("/")
    return StopService(node, info.get("netns"), name, str(info.get("dir", "")))


def observe_lab(plan: Plan, recorded: dict[str, dict[str, Any]]) -> dict[str, Observed]:
    """Each service of `plan` and of the record (`recorded`: Record.services), by NODE/NAME."""
    out: dict[str, Observed] = {}
    for op in plan.operations:
        if isinstance(op, StartService):
            info = recorded.get(op.key)
            out[op.key] = observe_service(op, _start(info), _cmd(info))
    for key, info in recorded.items():
        if key not in out:
            out[key] = observe_service(_files(key, info), _start(info), _cmd(info))
    return out


def _start(info: dict[str, Any] | None) -> int | None:
    value = info.get("start") if info else None
    return value if isinstance(value, int) else None


def _cmd(info: dict[str, Any] | None) -> str | None:
    value = info.get("cmd") if info else None
    return value if isinstance(value, str) else None


def changes(plan: Plan, seen: dict[str, Observed], recorded: dict[str, dict[str, Any]],
            fresh: set[str]) -> tuple[int, list[Change]]:
    """(services up to date, changes): a service that does not run is started again, one whose command
    changed is stopped and started, one the file no longer has is stopped (`fresh`: namespaces about to be made)."""
    up_to_date = 0
    out: list[Change] = []
    planned: set[str] = set()
    for op in plan.operations:
        if not isinstance(op, StartService):
            continue
        planned.add(op.key)
        s = seen.get(op.key)
        at = f"{op.node}: service {op.name}"
        if op.netns in fresh or s is None or s.state == "missing":
            out.append(Change("missing", f"{at} ({op.cmd})", op=op))
        elif s.state != "running":  # what it left running is stopped first: started again, it would run twice
            out.append(Change("missing", f"{at}: {s.describe()}; see {s.log}", op=op,
                              removal=StopService(op.node, op.netns, op.name, op.dir) if s.leftover else None))
        elif s.cmd is not None and s.cmd != op.cmd:
            out.append(Change("drifted", f"{at} runs {s.cmd!r}; the file says {op.cmd!r}", op=op,
                              removal=StopService(op.node, op.netns, op.name, op.dir)))
        else:
            up_to_date += 1
    for key, info in sorted(recorded.items()):
        s = seen.get(key)
        if key not in planned and s is not None and s.state == "running":
            gone = _files(key, info)
            out.append(Change("extra", f"{gone.node}: service {gone.name} (no longer in the file)", removal=gone))
    return up_to_date, out


def stops(plan: Plan | None, recorded: dict[str, dict[str, Any]]) -> list[StopService]:
    """What destroy runs first: stop every service of the record, and of `plan` (a lab its compiled script made)."""
    ops = {key: _files(key, info) for key, info in recorded.items()}
    for op in plan.operations if plan is not None else ():
        if isinstance(op, StartService) and op.key not in ops:
            ops[op.key] = StopService(op.node, op.netns, op.name, op.dir)
    return list(reversed(ops.values()))


# -- acting ----------------------------------------------------------------------------------------

def start(op: StartService) -> Observed:
    """Start the service detached (module docstring); its supervisor once its pid file names it."""
    os.makedirs(op.node_dir, mode=0o755, exist_ok=True)
    for stale in (op.pid_file, op.rc_file):
        Path(stale).unlink(missing_ok=True)
    argv = list(op.argv) if op.netns is None else ["ip", "netns", "exec", op.netns, *op.argv]
    with open(op.log, "ab") as log:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=op.node_dir,
                              check=False)
    if done.returncode != 0:
        raise KernelError(errno.EIO, f"cannot start service {op.name} in {where(op.netns)} "
                                     f"(exit {done.returncode}); see {op.log}")
    deadline = time.monotonic() + PID_WAIT
    while time.monotonic() < deadline:
        sup = supervisor(op)
        if sup is not None:
            return Observed(op.node, op.name, "running", op.log, sup.pid, sup.start, cmd=op.cmd)
        if _read_int(op.rc_file) is not None:  # over before its pid was read (daemonized, maybe)
            return observe_service(op, cmd=op.cmd)
        time.sleep(0.01)
    raise KernelError(errno.ETIMEDOUT, f"service {op.name} in {where(op.netns)} wrote no pid file within "
                                       f"{PID_WAIT:g} s; see {op.log}")


def _wait_gone(pgid: int | None, base: str, netns_ino: int | None, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while (pgid is not None and group_pids(pgid)) or marked.pids(base, netns_ino):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def stop(op: StopService | StartService, start_time: int | None = None) -> bool:
    """Stop the service's process group and every process with its marker (SIGTERM, then SIGKILL), then remove
    its files; False when nothing ran."""
    sup = supervisor(op, start_time)
    netns_ino = marked.netns_inode(op.netns)
    stopped = False
    for sig, wait in ((signal.SIGTERM, TERM_WAIT), (signal.SIGKILL, KILL_WAIT)):
        hit = False
        if sup is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sup.pgrp, sig)
                hit = True
        hit = marked.send(op.base, netns_ino, sig) > 0 or hit
        if not hit:
            break
        stopped = True
        if _wait_gone(sup.pgrp if sup is not None else None, op.base, netns_ino, wait):
            break
    for path in (op.log, op.pid_file, op.rc_file):
        Path(path).unlink(missing_ok=True)
    for d in (op.node_dir, op.dir):
        with contextlib.suppress(OSError):  # another service's files are still there
            os.rmdir(d)
    return stopped


def _held(netns: str | None, ns: Namespaces) -> set[str]:
    """The ports something holds in `netns`: tcp/PORT listening, udp/PORT bound (/proc/thread-self/net)."""
    held: set[str] = set()
    with ns.inside(netns):
        for proto, wanted in (("tcp", "0A"), ("udp", "07")):
            for table in (proto, proto + "6"):
                try:
                    lines = Path(f"/proc/thread-self/net/{table}").read_text().splitlines()[1:]
                except OSError:
                    continue
                for line in lines:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == wanted:
                        held.add(f"{proto}/{int(fields[1].rpartition(':')[2], 16)}")
    return held


def ended(started: Iterable[Observed], ops: Mapping[str, StartService], ns: Namespaces) -> list[str]:
    """What apply says of the services it started: those that ended already, and those whose node's `listen:`
    ports nothing holds after READY_WAIT (it waits for them: a probe right after apply finds the service)."""
    out = [f"service {s.name} on {s.node} {s.describe()}: see {s.log}" for s in started if s.state != "running"]
    waiting = {key: ops[key] for s in started if s.state == "running" and (key := f"{s.node}/{s.name}") in ops}
    starts = {f"{s.node}/{s.name}": s.start for s in started}
    deadline = time.monotonic() + READY_WAIT
    time.sleep(SETTLE)
    while waiting:
        for key, op in list(waiting.items()):
            now = observe_service(op, starts.get(key))
            if now.state != "running":
                out.append(f"service {op.name} on {op.node} {now.describe()}: see {op.log}")
            elif set(op.ports) - _held(op.netns, ns):
                continue
            del waiting[key]
        if waiting and time.monotonic() >= deadline:
            out += [f"service {op.name} on {op.node} runs, but nothing listens on {', '.join(sorted(op.ports))} of "
                    f"{op.node}'s after {READY_WAIT:g} s: see {op.log}" for op in waiting.values()]
            break
        if waiting:
            time.sleep(0.05)
    return out
