"""`topograph render` on the command line: formats, --dot, and one-line errors that never write a file."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from topograph.cli import main
from topograph.render.output import RenderError, format_for

SEED = str(ROOT / "samples" / "06-port-forward.yml")
BAD = "lab: bad\nnodes:\n  a: {interfaces: {e0: 10.9.0.1/24}}\nlinks:\n  - [a:e0, nowhere:e0]\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["render", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception  # no traceback
    return result.exit_code, result.stdout, result.stderr


def test_dot_flag_prints_the_same_dot_as_a_dot_file(tmp_path: Path) -> None:
    code, out, _ = run(SEED, "--dot")
    assert code == 0 and out.startswith("digraph seed {")
    code, _, err = run(SEED, "-o", str(tmp_path / "seed.dot"))
    assert code == 0 and "wrote" in err
    assert (tmp_path / "seed.dot").read_text() == out


@pytest.mark.parametrize(("output", "fmt", "expected"), [
    ("lab.svg", None, "svg"), ("lab.PNG", None, "png"), ("lab.pdf", None, "pdf"), ("lab.gv", None, "dot"),
    ("lab.out", "png", "png"), ("lab.svg", "PDF", "pdf"),
])
def test_format_comes_from_format_option_else_extension(output: str, fmt: str | None, expected: str) -> None:
    assert format_for(output, fmt) == expected


@pytest.mark.parametrize(("output", "fmt"), [("lab.jpg", None), ("lab", None), ("lab.svg", "gif")])
def test_unknown_format_is_one_line_and_writes_nothing(tmp_path: Path, output: str, fmt: str | None) -> None:
    with pytest.raises(RenderError):
        format_for(output, fmt)
    args = [SEED, "-o", str(tmp_path / output)] + (["--format", fmt] if fmt else [])
    code, out, err = run(*args)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("topograph: ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("where", "why"), [("missing-dir/lab.svg", "missing-dir does not exist"),
                                           ("a-file/lab.svg", "a-file is not a directory"),
                                           (".", "it is a directory")])
def test_unwritable_output_is_one_line(tmp_path: Path, where: str, why: str) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    code, _, err = run(SEED, "-o", str(tmp_path / where), "--format", "svg")
    assert code == 1
    assert err.count("\n") == 1 and "cannot write" in err and "Traceback" not in err
    assert why in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_invalid_topology_gets_checks_diagnostics_and_nothing_is_drawn(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD)
    check = CliRunner().invoke(main, ["check", str(bad)])
    code, out, err = run(str(bad), "-o", str(tmp_path / "bad.svg"))
    assert code == check.exit_code == 1
    assert out == ""
    assert err == check.stderr
    assert "nowhere" in err
    assert not (tmp_path / "bad.svg").exists()


def test_unknown_format_is_rejected_with_dot_alone_too() -> None:
    code, out, err = run(SEED, "--dot", "--format", "gif")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "unknown format 'gif'" in err


def test_nothing_to_do_is_a_usage_error() -> None:
    code, _, err = run(SEED)
    assert code == 2 and "-o OUT" in err


def test_missing_graphviz_binary_is_one_line_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # a PATH without `dot`
    done = subprocess.run([sys.executable, "-m", "topograph", "render", SEED, "-o", str(tmp_path / "x.svg")],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "'dot' program was not found" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.svg").exists()
    # DOT needs no binary
    done = subprocess.run([sys.executable, "-m", "topograph", "render", SEED, "--dot"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0 and done.stdout.startswith("digraph")


# -- every output-file problem is one line: root hits some, an unprivileged user more --------------------

UNPRIVILEGED = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []


def _not_mine(path: Path, mode: int) -> None:
    """A folder or file this test's unprivileged process may not use (as root: owned by nobody)."""
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    path.chmod(mode)


def _not_mine_either(file: Path, folder: Path) -> None:
    """Their file in their read-only folder."""
    _not_mine(file, 0o644)
    _not_mine(folder, 0o755)


@pytest.mark.parametrize(("where", "setup"), [
    ("closed/lab.svg", lambda t: _not_mine(t / "closed", 0o700)),  # cannot even look inside: stat fails
    ("closed/sub/lab.svg", lambda t: _not_mine(t / "closed", 0o700)),
    ("read-only/lab.svg", lambda t: _not_mine(t / "read-only", 0o755)),
    ("read-only/theirs.svg", lambda t: _not_mine_either(t / "read-only" / "theirs.svg", t / "read-only")),
], ids=["closed-folder", "below-closed-folder", "read-only-folder", "their-file"])
def test_a_place_this_user_may_not_write_is_one_line(tmp_path: Path, where: str, setup: object) -> None:
    """`render -o /root/x.svg` as a user was a PermissionError traceback."""
    for name in ("closed", "read-only"):
        (tmp_path / name).mkdir()
    (tmp_path / "read-only" / "theirs.svg").write_text("<svg/>")
    tmp_path.chmod(0o755)
    setup(tmp_path)  # type: ignore[operator]
    proc = subprocess.run([*UNPRIVILEGED, sys.executable, "-m", "topograph", "render", SEED, "-o",
                           str(tmp_path / where)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.stderr == f"topograph: cannot write {tmp_path / where}: Permission denied\n"
    assert proc.returncode == 1 and proc.stdout == ""


_PARTS = ["dir", "missing", "a-file", "loop", "x" * 300, "to-dir", "to-file"]


def _tree(base: Path) -> dict[str, str]:
    """Every entry under `base`, symlinks not followed: its kind, a link's target."""
    out = {}
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            path = Path(folder, name)
            out[str(path.relative_to(base))] = f"-> {os.readlink(path)}" if path.is_symlink() else \
                "dir" if path.is_dir() else "file"
    return out


@given(st.lists(st.sampled_from(_PARTS), min_size=0, max_size=3), st.sampled_from(["lab.dot", "y" * 300 + ".dot", ""]))
@settings(max_examples=150, deadline=None)
def test_any_output_path_is_written_or_one_line(parts: list[str], last: str) -> None:
    """Paths through folders, files, missing names, names too long, a symlink loop and symlinks: the
    diagram is written where the path leads, or one line says why; nothing else changes."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "dir").mkdir()
        (base / "a-file").write_text("a file")
        (base / "loop").symlink_to("loop")
        (base / "to-dir").symlink_to("dir")
        (base / "to-file").symlink_to("a-file")
        output = str(base.joinpath(*parts, last) if last else base.joinpath(*parts))
        before = _tree(base)
        result = CliRunner().invoke(main, ["render", SEED, "-o", output, "--format", "dot"])
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        after = _tree(base)
        if result.exit_code == 0:
            written = Path(os.path.realpath(output))
            assert written.read_text().startswith("digraph seed {")
            before.pop(str(written.relative_to(os.path.realpath(base))), None)  # new, or replaced by a regular file
            after.pop(str(written.relative_to(os.path.realpath(base))))
        else:
            assert result.exit_code == 1 and result.stderr.count("\n") == 1
            assert result.stderr.startswith(f"topograph: cannot write {output}: ")
        assert after == before  # symlinks stay symlinks, no temporary file is left


def test_a_symlink_stays_and_its_target_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "real.dot").write_text("old")
    (tmp_path / "link.dot").symlink_to("real.dot")
    code, _, err = run(SEED, "-o", str(tmp_path / "link.dot"))
    assert code == 0, err
    assert (tmp_path / "link.dot").is_symlink() and (tmp_path / "real.dot").read_text().startswith("digraph seed {")


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    """Renaming over a special file replaced it: `-o /dev/stdout --format svg` as root replaced /dev/stdout."""
    fifo = tmp_path / "pipe.dot"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there: opening to write does not wait
    try:
        code, _, err = run(SEED, "-o", str(fifo))  # the DOT (9 kB) fits in the pipe's buffer
        got = os.read(reader, 1 << 20) if code == 0 else b""
    finally:
        os.close(reader)
    assert code == 0, err
    assert got.startswith(b"digraph seed {") and got.endswith(b"}\n")
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe.dot"]
