"""A lock per lab (fcntl), so two apply/destroy runs never change the same lab at once."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from topograph.live.state import state_dir


class Busy(Exception):
    """Another topograph run holds the lab's lock."""


@contextmanager
def lab_lock(key: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock of lab `key`; wait up to `wait` seconds for another run, then raise Busy."""
    d = state_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise Busy(f"lab {key} is being changed by another topograph run (pid {holder}); "
                               "wait for it to finish, or pass --wait SECONDS") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
