"""The code stays lint-clean (ruff) and strictly typed (mypy --strict), as part of the test run."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    if shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (pip install '.[test]' brings it)")
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    """The package, its tests and its benchmarks (the files pyproject.toml's [tool.mypy] names)."""
    pytest.importorskip("mypy", reason="mypy is not installed (pip install '.[test]' brings it)")
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr
