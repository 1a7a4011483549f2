"""The command line's input and output in real processes: files it refuses to read, output it cannot write."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topograph.front.loader import MAX_DEPTH


def topograph(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = subprocess.run(
        [sys.executable, "-m", "topograph", *args], capture_output=True, text=True, timeout=120, check=False, **kwargs)
    return done


# -- depth: libyaml's composer recursed in C until the stack overflowed (exit 139, no output) ------------

@pytest.mark.parametrize(("text", "col"), [
    ("[" * 50_000 + "]" * 50_000, MAX_DEPTH + 1),  # the list at level MAX_DEPTH + 1
    ("a: " + "{a: " * 50_000 + "1" + "}" * 50_000, 4 * (MAX_DEPTH - 1) + 1),  # the key `a` at that level
], ids=["lists", "mappings"])
def test_fifty_thousand_levels_are_a_diagnostic_not_a_segfault(tmp_path: Path, text: str, col: int) -> None:
    deep = tmp_path / "deep.yml"
    deep.write_text(text + "\n")
    proc = topograph("check", str(deep))
    assert proc.returncode == 1, proc.returncode  # -11 (SIGSEGV) before
    assert proc.stderr.splitlines()[0] == (f"{deep}:1:{col}: error[TG005]: the YAML document is nested more than "
                                          f"{MAX_DEPTH} levels deep")
    assert proc.stdout == ""


# -- FILE: missing, unreadable or not a regular file is TG000 at FILE:1:1, for every command --------------

# each command with FILE and what else it needs to get as far as reading FILE
COMMANDS = {
    "check": [], "compile": [], "render": ["--dot"], "trace": ["red", "blue"], "reach": [], "apply": [],
    "status": [], "verify": [], "destroy": [], "exec": ["red", "--", "true"], "capture": ["blue:veth-blue"],
    "logs": ["blue"],
    "review": ["-o", os.devnull, "--format", "html"],  # never written: FILE fails first
    "diff": [str(Path(__file__).resolve().parents[2] / "samples" / "06-port-forward.yml")],  # FILE is OLD
}
# commands whose exit 1 answers a question (trace: the flow is not delivered) say 2 for an error
ERROR_STATUS = {"trace": 2, "diff": 2}
# root's user id without capabilities: file permissions hold for it as for anyone (as in test_apply_safety.py)
UNPRIVILEGED = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []


def test_every_command_that_takes_file_is_listed() -> None:
    from topograph.cli import COMMANDS as ALL

    assert sorted(COMMANDS) == sorted(set(ALL) - {"schema", "list", "completion", "scan"})  # the commands without FILE


def _missing(tmp_path: Path) -> tuple[Path, str, str]:
    return tmp_path / "nope.yml", "No such file or directory", "check the path and its permissions"


def _unreadable(tmp_path: Path) -> tuple[Path, str, str]:
    path = tmp_path / "secret.yml"
    path.write_text(SEED.read_text())
    path.chmod(0)
    return path, "Permission denied", "check the path and its permissions"


def _fifo(tmp_path: Path) -> tuple[Path, str, str]:
    path = tmp_path / "pipe.yml"
    os.mkfifo(path)  # nobody ever writes: reading it blocked forever
    return path, "it is a named pipe (FIFO), not a regular file", NOT_REGULAR


def _device(tmp_path: Path) -> tuple[Path, str, str]:
    return Path("/dev/zero"), "it is a character device, not a regular file", NOT_REGULAR  # MemoryError after minutes


NOT_REGULAR = "give the path of a topology file; save generated text to a file first"
SEED = Path(__file__).resolve().parents[2] / "samples" / "06-port-forward.yml"


@pytest.mark.parametrize("make", [_missing, _unreadable, _fifo, _device], ids=["missing", "unreadable", "fifo", "device"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_file_that_cannot_be_read_is_tg000_for_every_command(tmp_path: Path, command: str, make: Callable[
        [Path], tuple[Path, str, str]]) -> None:
    path, reason, hint = make(tmp_path)
    proc = subprocess.run([*UNPRIVILEGED, sys.executable, "-m", "topograph", command, str(path), *COMMANDS[command]],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.stderr.splitlines() == [f"{path}:1:1: error[TG000]: cannot read the file: {reason}",
                                        f"  hint: {hint}", "1 error, 0 warnings"]
    assert proc.returncode == ERROR_STATUS.get(command, 1) and proc.stdout == ""


# -- standard output: all of it, or an error and exit != 0 ------------------------------------------------

PRINTS = {
    "compile": ["compile", str(SEED)], "render --dot": ["render", str(SEED), "--dot"], "reach": ["reach", str(SEED)],
    "schema": ["schema"], "check --json": ["check", "--json", str(SEED)],
}


def _env(unbuffered: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return {**env, "PYTHONUNBUFFERED": "1"} if unbuffered else env


@pytest.mark.parametrize("unbuffered", [True, False], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize("command", sorted(PRINTS))
def test_a_full_disk_is_one_line_and_exit_1(command: str, unbuffered: bool) -> None:
    with open("/dev/full", "wb") as full:  # every write fails with ENOSPC
        proc = subprocess.run([sys.executable, "-m", "topograph", *PRINTS[command]], stdout=full,
                              stderr=subprocess.PIPE, text=True, env=_env(unbuffered), timeout=120, check=False)
    assert proc.stderr == "topograph: cannot write to standard output: No space left on device\n"
    assert proc.returncode == 1


def _file_size_limit(limit: int) -> Callable[[], None]:
    def preexec() -> None:  # in the child: writes past `limit` bytes fail with EFBIG instead of killing it
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


@functools.cache
def _seed_script() -> bytes:
    return subprocess.run([sys.executable, "-m", "topograph", "compile", str(SEED)], capture_output=True,
                          timeout=120, check=True).stdout


@pytest.mark.parametrize("unbuffered", [True, False], ids=["unbuffered", "buffered"])
@given(limit=st.integers(0, 20_000))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_output_cut_short_is_an_error_never_exit_0(tmp_path: Path, unbuffered: bool, limit: int) -> None:
    """The file takes `limit` bytes and refuses the rest: the write is short, then fails. Unbuffered, the
    short write went unnoticed: a script cut mid-command, exit 0."""
    out = tmp_path / "setup.sh"
    with out.open("wb") as f:
        proc = subprocess.run([sys.executable, "-m", "topograph", "compile", str(SEED)], stdout=f,
                              stderr=subprocess.PIPE, text=True, env=_env(unbuffered), timeout=120, check=False,
                              preexec_fn=_file_size_limit(limit))
    whole = _seed_script()
    written = out.read_bytes()
    if len(whole) <= limit:
        assert (proc.returncode, proc.stderr, written) == (0, "", whole)
    else:
        assert proc.stderr == "topograph: cannot write to standard output: File too large\n"
        assert proc.returncode == 1 and written == whole[:limit]


@pytest.mark.parametrize("command", sorted(PRINTS))
def test_a_reader_that_went_away_ends_quietly_with_141(command: str) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `topograph ... | head` once head is gone
    try:
        proc = subprocess.run([sys.executable, "-m", "topograph", *PRINTS[command]], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, "")


def test_a_closed_stdout_is_an_error_when_there_is_output() -> None:
    proc = subprocess.run([sys.executable, "-m", "topograph", "schema"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=120, check=False,
                          preexec_fn=lambda: os.close(1))
    assert (proc.returncode, proc.stderr) == (1, "topograph: cannot write to standard output: Bad file descriptor\n")


def test_output_is_the_same_as_printed_in_process() -> None:
    """Holding the output changes nothing in it: the process prints what `main` prints in-process."""
    from click.testing import CliRunner

    from topograph.cli import main

    for args in PRINTS.values():
        proc = subprocess.run([sys.executable, "-m", "topograph", *args], capture_output=True, timeout=120, check=True)
        assert proc.stdout == CliRunner().invoke(main, args).stdout_bytes


@given(size=st.integers(0, 300_000))
@settings(max_examples=30, deadline=None)
def test_write_all_waits_on_a_non_blocking_pipe_and_writes_every_byte(size: int) -> None:
    """A descriptor made non-blocking by the parent fills up (EAGAIN) before a slow reader drains it."""
    import threading

    from topograph.cli.stdout import write_all

    data = os.urandom(size)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    got = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 4096):
            got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        write_all(write_end, data)
    finally:
        os.close(write_end)
        reader.join()
        os.close(read_end)
    assert bytes(got) == data
