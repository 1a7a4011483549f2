"""The Python API against the command line: the same diagnostics, matrix, traces, diagram and script."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import topograph
from tests.conftest import ROOT, SAMPLES
from topograph.cli import main

SEED = ROOT / "samples" / "06-port-forward.yml"
ERRORS = ROOT / "tests" / "golden" / "errors"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_import_topograph_stays_light_until_the_api_is_used() -> None:
    code = ("import sys, topograph; a = 'topograph.api' in sys.modules; topograph.Lab; "
            "print(a, 'topograph.api' in sys.modules, topograph.__version__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert done.stdout.split() == ["False", "True", topograph.__version__]


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        topograph.nope  # noqa: B018


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_every_sample_checks_as_the_cli_does(sample: Path) -> None:
    lab = topograph.load(sample)
    code, _, err = cli("check", str(sample))
    assert lab.check().ok == (code == 0)
    assert err.startswith(lab.check().text())  # then, for a clean file, the CLI's "lab 'x' is valid: ..." line
    assert len(lab.check()) == (0 if "is valid" in err else len(err.splitlines()) - err.count("\n  hint:") - 1)


def test_broken_file_gives_the_cli_diagnostics_with_positions() -> None:
    path = ERRORS / "multi-seed-first-try.yml"
    result = topograph.load(path).check()
    assert not result.ok
    assert result.codes == ("TG300", "TG202", "TG010", "TG302")
    assert result.text() == cli("check", str(path))[2]
    assert all(d.pos.file == str(path) and d.pos.line > 0 for d in result)
    with pytest.raises(topograph.LabError, match="does not check") as info:
        topograph.load(path).topology  # noqa: B018
    assert [d.code for d in info.value.diagnostics] == ["TG300", "TG202", "TG010", "TG302"]


def test_expectations_are_held_only_when_asked() -> None:
    lab = topograph.load(ERRORS / "TG410-expectation-violated.yml")
    assert lab.check().codes == ("TG410", "TG410")
    assert lab.check(expectations=False).ok
    assert lab.check().codes == ("TG410", "TG410")  # asking without them did not drop them, nor add twice
    with pytest.raises(topograph.LabError, match="an expectation is broken"):
        lab.compile()
    assert lab.compile(expectations=False).startswith("#!/usr/bin/env bash")
    with pytest.raises(topograph.LabError, match="an expectation is broken"):
        lab.up(sandbox="tgx-")


@pytest.mark.parametrize("name", ["TG000-directory.yml", "does-not-exist.yml"])
def test_unreadable_file_is_a_lab_error_with_its_position(name: str) -> None:
    with pytest.raises(topograph.LabError, match=r"TG000") as info:
        topograph.load(ERRORS / name)
    assert info.value.diagnostics[0].pos.line == 1


def test_from_text_names_its_source() -> None:
    lab = topograph.from_text("lab: t\nnodes:\n  a: {interfaces: {lo: 10.0.0.1/33}}\n", "<mine>")
    (d,) = lab.check()
    assert (d.pos.file, d.pos.line, d.code) == ("<mine>", 3, "TG200")
    assert str(d.pos).startswith("<mine>:3:")


def test_reach_is_the_cli_matrix() -> None:
    lab = topograph.load(SEED)
    reach = lab.reach()
    assert reach.table() == cli("reach", str(SEED))[1]
    assert reach.reaches("red", "blue") and reach.reaches("lan", "host:80")
    assert str(reach.disposition("lan", "blue")) == "NO_ROUTE"
    assert ("lan", "blue", reach.disposition("lan", "blue")) in reach.failing()
    assert reach.targets == ("red", "blue", "host", "lan", "internet", "host:80")
    with pytest.raises(topograph.LabError, match="no target 'nope'"):
        reach.verdict("red", "nope")
    down = lab.reach(failures=["host"])
    assert str(down.disposition("red", "blue")) == "NEIGHBOR_UNREACHABLE"  # their bridge is in the host, which is down
    assert down.table() == cli("reach", str(SEED), "--fail", "host")[1].partition("\n")[2]
    with pytest.raises(topograph.LabError, match="failures"):
        lab.reach(failures=["nowhere"])


@pytest.mark.parametrize(("src", "dst", "tcp"), [("red", "blue", None), ("lan", "host:80", None), ("red", "lan", None),
                                                 ("blue", "198.51.100.8", None), ("lan", "blue", 80), ("red", "host:80", 80)])
def test_trace_is_the_cli_trace(src: str, dst: str, tcp: int | None) -> None:
    result = topograph.load(SEED).trace(src, dst, tcp=tcp)
    code, out, _ = cli("trace", str(SEED), src, dst, *(["--tcp", str(tcp)] if tcp else []))
    assert result.text() == out == str(result)
    assert result.ok == (code == 0)
    assert result.path[0] == src


@pytest.mark.parametrize(("src", "dst", "tcp", "message"), [
    ("nobody", "blue", None, "source 'nobody' is not a node"),
    ("red", "nobody", None, "destination 'nobody' is not a node"),
    ("red", "host:81", None, "no usable tcp port forward on port 81"),
    ("red", "host:80", 81, "names another"),
    ("red", "blue", 70000, "not in 1-65535"),
])
def test_trace_questions_it_cannot_answer(src: str, dst: str, tcp: int | None, message: str) -> None:
    with pytest.raises(topograph.LabError, match=message):
        topograph.load(SEED).trace(src, dst, tcp=tcp)


def test_render_is_the_cli_diagram(tmp_path: Path) -> None:
    lab = topograph.load(SEED)
    assert lab.dot() == cli("render", str(SEED), "--dot")[1]
    assert lab.render("dot").decode() == lab.dot()
    traced = lab.dot(trace=("lan", "host:80"))
    assert traced == cli("render", str(SEED), "--dot", "--trace", "lan", "host:80")[1] != lab.dot()
    out = tmp_path / "seed.svg"
    svg = lab.render("svg", output=out)
    assert b"<svg" in svg and out.read_bytes() == svg
    with pytest.raises(topograph.LabError, match="not one of"):
        lab.render("gif")  # type: ignore[arg-type]


@pytest.mark.parametrize("teardown", [False, True])
def test_compile_is_the_cli_script(teardown: bool) -> None:
    lab = topograph.load(SEED)
    flags = ["--teardown"] if teardown else []
    assert lab.compile(sandbox="t1-", teardown=teardown) == cli("compile", str(SEED), "--sandbox", "t1-", *flags)[1]
    assert lab.compile(firewall="iptables") == cli("compile", str(SEED), "--firewall", "iptables")[1]
    with pytest.raises(topograph.LabError, match="sandbox prefix 'a b'"):
        lab.compile(sandbox="a b")


def test_up_refuses_a_bad_sandbox_before_anything() -> None:
    with pytest.raises(topograph.LabError, match="sandbox prefix"):
        topograph.load(SEED).up(sandbox="-bad")


def test_the_plugin_is_an_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"topograph": "topograph.pytest_plugin"}
    import topograph.pytest_plugin as plugin

    assert callable(plugin.topograph_lab) and callable(plugin.topograph_live)
    assert plugin.unique_prefix() != plugin.unique_prefix()
