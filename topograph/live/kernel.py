"""Network namespaces by system call, in the calling thread: create, enter, leave, delete — no `ip`, no fork.

`ip netns add NAME` is unshare(CLONE_NEWNET) plus a bind mount of the new namespace on
/run/netns/NAME (the directory made a shared mount once); `ip netns del` is the unmount and unlink.
Doing the same in-process avoids one fork+exec per namespace (pyroute2's `netns.create` forks a
helper process each time), which is most of the cost of a thousand-namespace lab.

Only the calling thread changes namespace; `Namespaces.inside()` always returns to where it started.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from topograph.front.quoting import quote

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

RUN_DIR = Path("/var/run/netns")  # iproute2's (and pyroute2's NETNS_RUN_DIR): where `ip netns` keeps namespaces


class KernelError(OSError):
    """A system call or netlink request failed; `errno` and `strerror` say why."""


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise KernelError(err, f"{what}: {os.strerror(err)}")


_NETNS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def netns_path(name: str) -> Path:
    """/run/netns/NAME; a name that is not a plain file name there (e.g. from a record) is refused."""
    if not _NETNS_NAME.fullmatch(name) or len(name) > 255:
        raise KernelError(errno.EINVAL, f"{quote(name)} is not a namespace name")
    return RUN_DIR / name


def netns_exists(name: str) -> bool:
    return netns_path(name).exists()


def netns_mounted(name: str) -> bool:
    """Is /run/netns/NAME a namespace (a mount point), not a bare file left by a run killed while creating
    or deleting it (between the file and its mount, or between the unmount and the unlink)?"""
    return os.path.ismount(netns_path(name))


CAPABILITIES = ((12, "CAP_NET_ADMIN"), (21, "CAP_SYS_ADMIN"))  # what creating namespaces and interfaces takes


def missing_capabilities() -> list[str]:
    """The capabilities of CAPABILITIES this process lacks (all of them when /proc cannot say)."""
    try:
        with open("/proc/self/status") as f:
            caps = next((int(line.split()[1], 16) for line in f if line.startswith("CapEff:")), 0)
    except OSError:
        caps = 0
    return [name for bit, name in CAPABILITIES if not caps & (1 << bit)]


def list_netns() -> set[str]:
    try:
        return set(os.listdir(RUN_DIR))
    except FileNotFoundError:
        return set()


class Namespaces:
    """Namespace file descriptors of one run, and moving the calling thread between namespaces."""

    def __init__(self) -> None:
        self.origin = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.fds: dict[str, int] = {}
        self._shared = False

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        os.close(self.origin)

    def fd(self, name: str | None) -> int:
        """An open descriptor of namespace `name` (None: the namespace this run started in)."""
        if name is None:
            return self.origin
        fd = self.fds.get(name)
        if fd is None:
            try:
                fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise KernelError(errno.ENOENT, f"namespace {name} does not exist") from None
            self.fds[name] = fd
        return fd

    def _share_run_dir(self) -> None:
        # as iproute2 does: /run/netns must be a shared mount so namespaces mounted there show everywhere
        if self._shared:
            return
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        if _libc.mount(b"", bytes(RUN_DIR), b"none", MS_SHARED | MS_REC, None) != 0:
            _check(_libc.mount(bytes(RUN_DIR), bytes(RUN_DIR), b"none", MS_BIND | MS_REC, None),
                   f"bind-mount {RUN_DIR}")
            _check(_libc.mount(b"", bytes(RUN_DIR), b"none", MS_SHARED | MS_REC, None), f"share {RUN_DIR}")
        self._shared = True

    def create(self, name: str, while_inside: Callable[[], None] | None = None) -> int:
        """Create namespace `name` (it must not exist) and return its descriptor; the thread stays where it was.

        `while_inside` runs inside the new namespace before the thread comes back (e.g. to open a
        netlink socket there without entering it a second time).
        """
        self._share_run_dir()
        path = netns_path(name)
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        except FileExistsError:
            raise KernelError(errno.EEXIST, f"namespace {name} exists already") from None
        try:
            _check(_libc.unshare(CLONE_NEWNET), f"create namespace {name}")
            try:
                _check(_libc.mount(b"/proc/thread-self/ns/net", bytes(path), b"none", MS_BIND, None),
                       f"mount namespace {name}")
                fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                self.fds[name] = fd
                if while_inside is not None:
                    while_inside()
            finally:
                self.enter(None)
        except BaseException:
            made = self.fds.pop(name, None)
            if made is not None:
                os.close(made)
            _libc.umount2(bytes(path), MNT_DETACH)
            path.unlink(missing_ok=True)
            raise
        return fd

    def delete(self, name: str) -> bool:
        """Delete namespace `name` (and so everything inside it); False when it did not exist."""
        old = self.fds.pop(name, None)
        if old is not None:
            os.close(old)
        path = netns_path(name)
        if not path.exists():
            return False
        _libc.umount2(bytes(path), MNT_DETACH)  # fails harmlessly when the mount is gone already
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def enter(self, name: str | None) -> None:
        _check(_libc.setns(self.fd(name), CLONE_NEWNET), f"enter namespace {name or '(root)'}")

    @contextmanager
    def inside(self, name: str | None) -> Iterator[None]:
        """Run the block with the calling thread in namespace `name`, then come back (also on errors)."""
        if name is None:
            yield
            return
        self.enter(name)
        try:
            yield
        finally:
            self.enter(None)
