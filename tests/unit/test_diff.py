"""`topograph diff` and design_diff: model changes, changed cells with reasons from both sides, exit codes,
REV:path from git, and properties over random labs (a design against itself is empty; the changed cells are
exactly the cells where the two matrices differ)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, SAMPLES
from topograph.cli import main
from topograph.pipeline import Checked, check_file, check_text
from topograph.review.diff import ModelChange, design_diff, model_changes
from topograph.sim.classes import fast_matrix
from topograph.sim.failures import every_single_failure, with_failures
from topograph.sim.labgen import generate
from topograph.sim.matrix import targets
from topograph.sim.network import Network

GOLDEN = ROOT / "tests" / "golden" / "diff"
SEED = "samples/06-port-forward.yml"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def checked(text: str, name: str = "lab.yml") -> Checked:
    c = check_text(text, name)
    assert c.ok, [d.render() for d in c.report]
    return c


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_a_design_against_itself_is_empty(seed: int) -> None:
    c = checked(generate(seed))
    d = design_diff(c, checked(generate(seed)))
    assert (d.changes, d.cells, d.reachability_changed) == ((), (), False)


def _cells(c: Checked, fail: tuple[str, ...] = ()) -> dict[tuple[str, str], dict[str, str]]:
    assert c.topology is not None
    t = with_failures(c.topology, fail)
    m = fast_matrix(Network(t, graph=c.graph), targets(t)).as_json()["matrix"]
    return {(s, name): v for s, row in m.items() for name, v in row.items()}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6), pick=st.integers(min_value=0, max_value=10**6))
def test_the_changed_cells_are_where_the_matrices_differ(seed: int, pick: int) -> None:
    # a random lab against the same lab with one link or node down (through --fail), and against another lab
    old = checked(generate(seed))
    assert old.topology is not None
    failure = every_single_failure(old.topology)[pick % len(every_single_failure(old.topology))].name
    for new, fail in ((old, (failure,)), (checked(generate(seed + 1)), ())):
        d = design_diff(old, new, fail)
        before, after = _cells(old), _cells(new, fail)
        expected = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        found = [pair for c in d.cells for pair in c.pairs()]
        assert len(found) == len(set(found)) == d.changed_cells  # every changed cell once
        assert set(found) == expected
        for c in d.cells:  # the example's reasons are the verdicts of its cell, side by side
            s, t = c.example
            if c.was is not None:
                assert (str(c.was.disposition), c.was.node) == tuple(before[s, t].values())
            if c.now is not None:
                assert (str(c.now.disposition), c.now.node) == tuple(after[s, t].values())
            assert (c.was is None) == ((s, t) not in before) and (c.now is None) == ((s, t) not in after)
        assert d.reachability_changed == bool(expected)


def test_model_changes_name_each_kind_of_change() -> None:
    a = check_file(ROOT / "samples" / "04-outside-lan-nat.yml").topology
    b = check_file(ROOT / "samples" / "05-default-route.yml").topology
    assert a is not None and b is not None
    changes = model_changes(a, b)
    assert ModelChange("route", "removed", "blue: 192.168.1.0/24 via 192.168.15.5") in changes
    assert ModelChange("route", "added", "blue: default via 192.168.15.5") in changes
    assert ModelChange("node", "added", "internet") in changes
    assert ModelChange("link", "added", "host:wan0--internet:eth0") in changes
    assert ModelChange("nat", "added", "host: masquerade 192.168.15.0/24 out wan0") in changes
    assert ModelChange("address", "added", "host:wan0 203.0.113.2/24") in changes
    assert ModelChange("lab", "changed", "name", "natlan", "default") in changes
    assert model_changes(b, a)[0] == ModelChange("lab", "changed", "name", "default", "natlan")


def test_a_link_written_the_other_way_round_is_the_same_link() -> None:
    text = (ROOT / SEED).read_text()
    swapped = text.replace("[host:eth0, lan:eth0]", "[lan:eth0, host:eth0]")
    assert swapped != text
    d = design_diff(checked(text), checked(swapped))
    assert (d.changes, d.cells) == ((), ())


def test_an_address_change_and_its_effect(tmp_path: Path) -> None:
    text = (ROOT / SEED).read_text()
    new = tmp_path / "new.yml"
    new.write_text(text.replace("port_forwards:\n      - {proto: tcp, port: 80, to: 192.168.15.2:80}",
                                "port_forwards:\n      - {proto: tcp, port: 80, to: 192.168.15.1:80}"))
    code, out, _ = cli("diff", SEED, str(new))
    assert code == 1
    assert "port forward removed: host: tcp/80 -> 192.168.15.2:80" in out
    assert "  red -> host:80: ok -> hairpin at target" in out  # bridge netfilter (the default): lost in the bridge


@pytest.mark.parametrize(("name", "args"), [
    ("05-to-06.txt", ["samples/05-default-route.yml", SEED]),
    ("05-to-06.md", ["samples/05-default-route.yml", SEED, "--format", "md"]),
    ("seed-fail-blue.txt", [SEED, SEED, "--fail", "blue"]),
    ("seed-fail-uplink.json", [SEED, SEED, "--fail", "host:wan0--internet:eth0", "--json"]),
])
def test_golden_diffs(name: str, args: list[str], golden: Callable[[Path, str], None],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = cli("diff", *args)
    assert code == 1 and err == ""
    golden(GOLDEN / name, out)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_a_file_against_itself_exits_0(sample: Path) -> None:
    code, out, _ = cli("diff", str(sample), str(sample))
    assert code == 0 and out.splitlines()[1:] == ["design: unchanged", "reachability: unchanged"]
    code, out, _ = cli("diff", str(sample), str(sample), "--json")
    data = json.loads(out)
    assert code == 0 and data["changes"] == [] and data["reachability"] == {"changed": False, "cells": 0, "groups": []}


def test_errors_exit_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = str(ROOT / SEED)
    assert cli("diff", seed, seed, "--fail", "nope")[0] == 2
    bad = tmp_path / "bad.yml"
    bad.write_text("nodes:\n  red: {interfaces: {veth-red: 192.168.15.300/24}}\n")
    code, out, err = cli("diff", seed, str(bad))
    assert code == 2 and out == "" and "bad.yml:2:" in err
    code, out, err = cli("diff", str(tmp_path / "missing.yml"), seed)
    assert code == 2 and "TG000" in err
    monkeypatch.chdir(tmp_path)  # not a git repository (tmp_path is outside the repository)
    code, out, err = cli("diff", "HEAD:lab.yml", seed)
    assert (code, out) == (2, "")
    assert err == "topograph: HEAD:lab.yml is not a file, and this is not a git repository to read it from as REV:path\n"


def test_rev_path_reads_the_file_from_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    lab = tmp_path / "lab.yml"
    lab.write_text((ROOT / SEED).read_text())
    git("init", "-q")
    git("add", "lab.yml")
    git("commit", "-qm", "seed")
    lab.write_text(lab.read_text().replace("to: 192.168.15.2:80}", "to: 192.168.15.1:80}"))
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("diff", "HEAD:lab.yml", "lab.yml")
    assert code == 1, err
    assert out.splitlines()[:4] == ["HEAD:lab.yml -> lab.yml", "design: 2 changes",
                                    "  port forward removed: host: tcp/80 -> 192.168.15.2:80",
                                    "  port forward added: host: tcp/80 -> 192.168.15.1:80"]
    code, _, err = cli("diff", "HEAD:other.yml", "lab.yml")
    assert code == 2 and err == "topograph: HEAD:other.yml: path 'other.yml' does not exist in 'HEAD'\n"
    code, _, err = cli("diff", "HEAD:lab.yml", "HEAD:lab.yml")
    assert code == 0


@pytest.mark.parametrize("command", ["diff", "review"])
def test_a_revision_is_never_a_git_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    """`git show ARG` took an ARG starting with '-' as its option: `--output=FILE:x` wrote git's output to FILE."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    written = tmp_path / "pwn:x"
    arg = f"--output={written}"
    seed = str(ROOT / SEED)
    if command == "diff":
        code, out, err = cli("diff", "--", arg, seed)
    else:
        code, out, err = cli("review", seed, "--against", arg, "-o", str(tmp_path / "r.html"))
    assert not written.exists()
    assert code == (2 if command == "diff" else 1) and out == ""
    assert err == f"topograph: {arg}: not a file, and a REV:path cannot start with '-'\n"
