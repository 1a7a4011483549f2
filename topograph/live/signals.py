"""Signal handlers that never interrupt one another, so that their order is the order the kernel delivered.

Python's `signal.signal` installs its C-level handler with an empty `sa_mask`. When two signals are
pending at once (SIGINT, then SIGTERM 2 ms later, while the process waits for a core), the kernel sets
up the first one's handler frame and, before returning to user space, the second's on top of it: the
second signal's handler runs first and writes its byte to the wakeup fd first, so the first signal
looked like the second (measured: INT then TERM exited 143). `hold_each_other` adds every signal of
the group to each one's `sa_mask`: a handler runs to its end before the kernel delivers the next, and
the handlers (and the wakeup fd's bytes) follow the kernel's delivery order.

The kernel keeps no arrival order between two standard signals that are both pending before either is
delivered: it delivers the lower-numbered first (SIGINT before SIGTERM). A signal sent after the first
one was delivered always comes second.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterable


class _Sigaction(ctypes.Structure):
    """glibc's struct sigaction (Linux): the handler, sa_mask (a 1024-bit sigset_t), sa_flags, sa_restorer."""

    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * (1024 // (8 * ctypes.sizeof(ctypes.c_ulong)))),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _call(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def hold_each_other(signums: Iterable[int]) -> None:
    """Add every signal of `signums` to the `sa_mask` of each one's current handler (installed already)."""
    group = list(signums)
    for signum in group:
        action = _Sigaction()
        _call(_libc.sigaction(signum, None, ctypes.byref(action)), f"sigaction({signum})")
        for other in group:
            _call(_libc.sigaddset(ctypes.byref(action.mask), other), f"sigaddset({other})")
        _call(_libc.sigaction(signum, ctypes.byref(action), None), f"sigaction({signum})")


def held_with(signum: int) -> set[int]:
    """The signals blocked while `signum`'s handler runs (its sa_mask), among 1-64."""
    action = _Sigaction()
    _call(_libc.sigaction(signum, None, ctypes.byref(action)), f"sigaction({signum})")
    return {s for s in range(1, 65) if _libc.sigismember(ctypes.byref(action.mask), s) == 1}
