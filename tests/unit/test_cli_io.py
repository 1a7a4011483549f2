"""The command line's input and output in real processes: files it refuses to read, output it cannot write."""

from __future__ import annotations

import subprocess
import sys
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
