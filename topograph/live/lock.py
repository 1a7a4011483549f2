"""A lock per lab (fcntl), so two apply/destroy runs never change the same lab at once."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from topograph.live.state import path_of, state_file


class Busy(Exception):
    """Another topograph run holds the lab's lock."""


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def holder(key: str) -> int | None:
    """The pid of the process that holds lab `key`'s lock now (from /proc/locks), or None; takes no lock."""
    try:
        st = os.stat(state_file(key, "lock"))
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    mine = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        words = line.split()
        if len(words) > 5 and words[1] == "FLOCK" and words[5] == mine and words[4].isdigit():
            return int(words[4])
    return None


@contextmanager
def lab_lock(key: str, *, wait: float = 0.0, remove: bool = False) -> Iterator[None]:
    """Hold the lock of lab `key`; wait up to `wait` seconds for another run, then raise Busy.

    The lock file is deleted on the way out, still locked, when the lab has no record then (a
    destroy, or an apply that was blocked, failed or rolled back: the run left nothing behind), or
    when `remove` says so. A run that was waiting on a file deleted meanwhile notices (the path no
    longer names its file) and starts over.
    """
    lock_file = state_file(key, "lock")  # refuses a key that is not a lab's: never a file elsewhere
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    path = str(lock_file)
    deadline = time.monotonic() + wait
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if time.monotonic() >= deadline:
                raise Busy(f"lab {key} is being changed by another topograph run (pid {holder}); "
                           "wait for it to finish, or pass --wait SECONDS") from None
            time.sleep(0.05)
            continue
        if _same_file(fd, path):
            break
        os.close(fd)  # locked a file that destroy removed meanwhile: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        if remove or not path_of(key).exists():
            with suppress(FileNotFoundError):
                os.unlink(path)
        os.close(fd)  # closing releases the lock
