"""`topograph render` on the command line: formats, --dot, and one-line errors that never write a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

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
    assert err.count("\n") == 1 and err.startswith("topograph render: error: ")
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
