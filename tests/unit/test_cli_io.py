"""The command line's input and output in real processes: files it refuses to read, output it cannot write."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from topograph.loader import MAX_DEPTH


def topograph(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "topograph", *args], capture_output=True, text=True,
                          timeout=120, check=False, **kwargs)  # type: ignore[call-overload]


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
    "status": [], "verify": [], "destroy": [], "exec": ["red", "--", "true"],
}
# root's user id without capabilities: file permissions hold for it as for anyone (as in test_apply_safety.py)
UNPRIVILEGED = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []


def test_every_command_that_takes_file_is_listed() -> None:
    from topograph.cli import COMMANDS as ALL

    assert sorted(COMMANDS) == sorted(set(ALL) - {"schema"})


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
    assert proc.returncode == 1 and proc.stdout == ""
