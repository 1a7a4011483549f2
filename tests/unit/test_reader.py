"""Reading a topology file's bytes: regular files only, a size limit, and never blocking."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topograph.front.diagnostics import Pos, Report
from topograph.front.loader import load_file
from topograph.front.reader import MAX_BYTES, read, read_bounded

AROUND = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one(report: Report) -> tuple[str, str]:
    (d,) = report
    return d.code, d.message


@AROUND
@given(limit=st.integers(1, 5000), delta=st.integers(-3, 3))
def test_a_regular_file_is_read_up_to_the_limit_and_refused_above(tmp_path: Path, limit: int, delta: int) -> None:
    size = max(0, limit + delta)
    path = tmp_path / "lab.yml"
    data = os.urandom(size)
    path.write_bytes(data)
    report = Report()
    got = read(path, report, limit=limit)
    if size <= limit:
        assert got == data and not report.items
    else:
        assert got is None
        assert _one(report) == ("TG004", f"the file is {size:,} bytes; topograph reads topology files of up to "
                                         f"{limit:,} bytes")


@AROUND
@given(limit=st.integers(1, 5000), delta=st.integers(-3, 3))
def test_a_stream_that_gives_more_than_its_size_said_is_cut_at_the_limit(limit: int, delta: int) -> None:
    """A file that grows after stat (or a /proc file, whose size says 0) is read only to one byte past the limit."""
    size = max(0, limit + delta)
    r, w = os.pipe()  # a pipe: no size to look at; 5003 bytes fit in its buffer
    try:
        os.write(w, b"x" * size)
        os.close(w)
        report = Report()
        got = read_bounded(r, "lab.yml", report, limit=limit)
    finally:
        os.close(r)
    if size <= limit:
        assert got == b"x" * size and not report.items
    else:
        assert got is None and _one(report) == ("TG004", f"the file has more than {limit:,} bytes; topograph reads "
                                                          f"topology files of up to {limit:,} bytes")


@pytest.mark.parametrize("delta", [0, 1])
def test_the_real_limit(tmp_path: Path, delta: int) -> None:
    """At MAX_BYTES exactly the file is parsed (a comment as long as the limit allows); one byte more is refused."""
    head = "lab: big\nnodes: {r: {}}\n#"
    path = tmp_path / "big.yml"
    path.write_text(head + "x" * (MAX_BYTES - len(head) + delta))
    report = Report()
    source = load_file(path, report)
    if delta == 0:
        assert source is not None and source.data == {"lab": "big", "nodes": {"r": {}}} and not report.items
    else:
        assert source is None and _one(report)[0] == "TG004"
        assert "4 MiB (4,194,304 bytes)" in _one(report)[1]


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))


def _block(path: Path) -> None:
    try:
        os.mknod(path, 0o600 | stat.S_IFBLK, os.makedev(7, 200))  # a loop device number: never opened
    except PermissionError:
        pytest.skip("making a device node needs root")


@pytest.mark.parametrize(("make", "kind"), [
    (_fifo, "a named pipe (FIFO)"), (_socket, "a socket"), (_block, "a block device"), (Path.mkdir, "a directory"),
], ids=["fifo", "socket", "block-device", "directory"])
def test_what_is_not_a_regular_file_is_refused_without_opening_it(tmp_path: Path, make: object, kind: str) -> None:
    path = tmp_path / "lab.yml"
    make(path)  # type: ignore[operator]
    report = Report()
    assert read(path, report) is None  # a FIFO without a writer: an open would wait for one
    (d,) = report
    assert (d.code, d.pos) == ("TG000", Pos(str(path), 1, 1))
    assert d.message == f"cannot read the file: it is {kind}, not a regular file"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_character_devices_are_refused(device: str) -> None:
    report = Report()
    assert read(device, report) is None
    assert _one(report) == ("TG000", "cannot read the file: it is a character device, not a regular file")


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.yml").write_text("nodes: {}\n")
    (tmp_path / "link.yml").symlink_to("real.yml")
    assert read(tmp_path / "link.yml", Report()) == b"nodes: {}\n"
