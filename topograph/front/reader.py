"""Reading a topology file's bytes: regular files only, up to MAX_BYTES, never blocking on a pipe or device."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from topograph.front.diagnostics import Pos, Report

# Well above any real lab: a star of 10,000 namespaces (benchmarks/labs.py) is 1.1 MB of YAML in flow
# style and 1.3 MB in block style; one of 30,000 (3.5 MB, 4.0 MB) still fits. The limit is for the
# wrong file: checking YAML costs ~170 bytes of memory per byte of text, so /dev/zero or a 50 MB list
# ran for minutes into MemoryError. The worst 4 MiB known (a flow list of numbers) costs about 4x the
# memory and 2.6x the time of checking the 10,000-namespace star (python benchmarks/bench_check.py --limit).
MAX_BYTES = 4 * 1024 * 1024

_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def read(path: str | Path, report: Report, limit: int = MAX_BYTES) -> bytes | None:
    """The bytes of the regular file at `path`; anything else is a TG000 or TG004 diagnostic and None.

    The type and size are looked at before opening, so a FIFO is never opened (that blocks until a
    writer comes) and a device never sees an open; the file is opened non-blocking all the same, in
    case it is swapped for one in between, and read only up to one byte past `limit` in case it grows.
    """
    name = str(path)
    try:
        before = os.stat(path)
        if _refused(before, name, report, limit):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            if _refused(os.fstat(fd), name, report, limit):
                return None
            return read_bounded(fd, name, report, limit)
        finally:
            os.close(fd)
    except OSError as exc:
        report.error("TG000", Pos(name, 1, 1), f"cannot read the file: {exc.strerror or exc}",
                     hint="check the path and its permissions")
        return None


def read_bounded(fd: int, name: str, report: Report, limit: int = MAX_BYTES) -> bytes | None:
    """Everything `fd` gives until its end, or TG004 and None once it gives more than `limit` bytes."""
    chunks: list[bytes] = []
    total = 0
    while chunk := os.read(fd, min(1 << 20, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            _too_big(name, report, limit, None)
            return None
    return b"".join(chunks)


def read_stream(stream: BinaryIO, name: str, report: Report, limit: int = MAX_BYTES) -> bytes | None:
    """Everything a binary stream (standard input) gives, or TG004 and None once it gives more than `limit` bytes.

    A buffered stream's read(n) returns n bytes unless the stream ends first, so one read tells."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        _too_big(name, report, limit, None)
        return None
    return data


def _refused(st: os.stat_result, name: str, report: Report, limit: int) -> bool:
    kind = stat.S_IFMT(st.st_mode)
    if kind != stat.S_IFREG:
        what = _KINDS.get(kind, "not a regular file")
        report.error("TG000", Pos(name, 1, 1), f"cannot read the file: it is {what}, not a regular file",
                     hint="give the path of a topology file; save generated text to a file first")
        return True
    if st.st_size > limit:
        _too_big(name, report, limit, st.st_size)
        return True
    return False


def _too_big(name: str, report: Report, limit: int, size: int | None) -> None:
    what = f"is {size:,} bytes" if size is not None else f"has more than {limit:,} bytes"
    report.error("TG004", Pos(name, 1, 1), f"the file {what}; topograph reads topology files of up to {_size(limit)}",
                 hint="a lab of 10,000 namespaces is about 1 MiB of YAML; check that this is the topology file")


def _size(n: int) -> str:
    return f"{n // 2**20} MiB ({n:,} bytes)" if n % 2**20 == 0 else f"{n:,} bytes"
