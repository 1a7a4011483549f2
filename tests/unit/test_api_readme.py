"""The README's Python API section shows what its code really prints (the part that needs no root)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT

SECTION = (ROOT / "README.md").read_text().partition("## Python API")[2]


def blocks(kind: str) -> list[str]:
    """The section's fenced blocks of one kind, in order."""
    return re.findall(rf"```{kind}\n(.*?)```", SECTION, re.S)


def test_the_section_has_its_examples() -> None:
    assert SECTION and len(blocks("python")) == 3 and len(blocks("text")) == 3


def test_the_first_example_prints_what_the_readme_shows() -> None:
    code, shown = blocks("python")[0], blocks("text")[0]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown
