"""The code stays lint-clean (ruff), strictly typed (mypy --strict) and in small modules, as part of the test run."""

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


#: a module has one job; past this many lines it has two (the project's rule: no module over ~450 lines)
MAX_LINES = 450


def test_no_module_of_the_package_is_over_450_lines() -> None:
    long = {str(path.relative_to(ROOT)): n for path in sorted((ROOT / "topograph").rglob("*.py"))
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"
