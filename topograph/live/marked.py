"""The processes of one service found by its marker, a daemon that left the service's process group too.

The supervisor runs a service's command with SERVICE_ENV=BASE in its environment (plan.setup_ops.SUPERVISOR;
BASE is the service's own path, /run/topograph/LAB[@PREFIX].services/NODE/NAME), and every process the command
forks inherits it, one that forks, calls setsid() and forks again (what nginx, sshd or dnsmasq do without their
foreground flag) as well. A process is the service's only while one entry of /proc/PID/environ is exactly
SERVICE_ENV=BASE: a prefix is not enough (service web is not web2, lab@t1- is not lab@t1-r), and nothing
without the marker is ever signalled. A program that clears its environment before it execs loses the marker.

Reading another process's environ needs root (the live commands have it; without it nothing is found). The walk
looks only at the processes in the service's network namespace (its /proc/PID/ns/net is the namespace's inode),
the namespace topograph runs in for a service of the host node in real mode, and at every process when the
namespace is gone. Measured on a busy 2-core test machine with ~90 processes (most of them kernel threads, whose
environ cannot be read): one walk takes 1.5-2.5 ms (the namespace check costs about what it saves there), less
than services.group_pids' walk over every /proc/PID/stat (about 6 ms), so a stop's polling and a status's look
cost nothing worth avoiding. The check keeps the walk to the service's own namespace, which is its point.
"""

from __future__ import annotations

import contextlib
import os
import signal

from topograph.live.kernel import netns_mounted, netns_path
from topograph.plan.setup_ops import SERVICE_ENV


def marker(base: str) -> bytes:
    """The environment entry that marks the processes of the service whose files are BASE.*"""
    return f"{SERVICE_ENV}={base}".encode()


def carries(environ: bytes, base: str) -> bool:
    """Does an environment block (/proc/PID/environ: NUL-terminated entries) hold exactly the service's marker?"""
    return marker(base) in environ.split(b"\0")


def netns_inode(netns: str | None) -> int | None:
    """The inode of namespace `netns` (None: the one topograph runs in), None when there is no such namespace."""
    try:
        if netns is None:
            return os.stat("/proc/thread-self/ns/net").st_ino
        if not netns_mounted(netns):
            return None
        return os.stat(netns_path(netns)).st_ino
    except OSError:  # a name that is no namespace name (KernelError), or gone meanwhile
        return None


def _environ(pid: int | str) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:  # gone, a kernel thread, or not ours to read
        return b""


def pids(base: str, netns_ino: int | None) -> list[int]:
    """The processes that carry the service's marker, in the namespace of inode `netns_ino` (None: in any)."""
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        if netns_ino is not None:
            try:
                if os.stat(f"/proc/{entry.name}/ns/net").st_ino != netns_ino:
                    continue
            except OSError:
                continue
        if carries(_environ(entry.name), base):
            found.append(int(entry.name))
    return found


def send(base: str, netns_ino: int | None, sig: signal.Signals) -> int:
    """Send `sig` to every process that carries the service's marker; how many got it.

    Each one is held by a pidfd and its marker read again before the signal: a pid that ended after the walk
    and went to another process is never signalled."""
    sent = 0
    for pid in pids(base, netns_ino):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if carries(_environ(pid), base):
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(fd, sig)
                    sent += 1
        finally:
            os.close(fd)
    return sent
