"""Standard output held until the command is done, then written in one go: all of it, or an error and exit ≠ 0.

A command that prints as it goes leaves half its output behind when a write fails: on a full disk
`topograph compile lab.yml > setup.sh` left a script cut mid-command, and exited 0 when Python's
stdout was unbuffered (PYTHONUNBUFFERED=1 lets a short write pass unnoticed). Held output is
written by `release` with os.write until every byte is taken; a failure is one line
`topograph: cannot write to standard output: REASON` and exit 1.

A reader that went away (`topograph compile big.yml | head`) is not an error worth a message: the
process ends quietly with 141, the status a shell shows for a program killed by SIGPIPE, as `cat`
or `yes` would be in the same place (a script with `set -o pipefail` sees the same as for them).
"""

from __future__ import annotations

import io
import os
import select
import sys
from typing import TextIO

BROKEN_PIPE = 128 + 13  # 128 + SIGPIPE


class Held(io.TextIOWrapper):
    """Text for standard output, kept in memory; encoded as the real standard output would encode it."""

    def __init__(self, real: TextIO | None) -> None:
        super().__init__(io.BytesIO(), encoding=getattr(real, "encoding", None) or "utf-8",
                         errors=getattr(real, "errors", None) or "strict")
        self._real = real

    def isatty(self) -> bool:  # what is printed may depend on where it goes, not on being held
        return self._real is not None and self._real.isatty()

    def held(self) -> bytes:
        self.flush()
        buffer = self.buffer
        assert isinstance(buffer, io.BytesIO)
        return buffer.getvalue()


def hold() -> Held:
    """Put a Held stream in place of sys.stdout (the real one stays sys.__stdout__)."""
    held = Held(sys.stdout)
    sys.stdout = held
    return held


def release(held: Held, code: int) -> int:
    """Write what was held to file descriptor 1; the exit status to end with."""
    data = held.held()
    try:
        write_all(1, data)
    except BrokenPipeError:
        return BROKEN_PIPE
    except OSError as exc:
        print(f"topograph: cannot write to standard output: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return code


def write_all(fd: int, data: bytes) -> None:
    """Every byte of `data` to `fd`: a short write (a file reaching its size limit) writes the rest, or
    fails with the reason; a non-blocking descriptor inherited from the parent is waited on."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[written:]
