"""The matrix by classes: the compact JSON expands back to every cell, big labs read as a few lines, and
`topograph reach` summarises above its threshold while small labs keep their table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.bench_reach import star_nat
from benchmarks.labs import star
from tests.conftest import ROOT, SAMPLES
from topograph.cli import main
from topograph.pipeline import check_text
from topograph.sim.classes import fast_matrix
from topograph.sim.failures import every_single_failure, with_failures
from topograph.sim.labgen import generate
from topograph.sim.matrix import Matrix, targets
from topograph.sim.network import Network
from topograph.sim.summary import SUMMARY_ABOVE, expand, names, summarise

GOLDEN = ROOT / "tests" / "golden" / "reach"


def matrix_of(text: str, every: bool = False, fail: tuple[str, ...] = ()) -> Matrix:
    checked = check_text(text, "lab.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    t = with_failures(checked.topology, fail)
    return fast_matrix(Network(t, graph=checked.graph), targets(t, every_address=every))


def round_trip(m: Matrix) -> None:
    compact = json.loads(json.dumps(summarise(m).as_json()))
    assert expand(compact) == m.as_json()["matrix"]


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6), every=st.booleans(), pick=st.integers(0, 10**6))
def test_the_compact_json_expands_back_to_every_cell(seed: int, every: bool, pick: int) -> None:
    text = generate(seed)
    checked = check_text(text, "lab.yml")
    assert checked.topology is not None
    failures = [None, *every_single_failure(checked.topology)]
    f = failures[pick % len(failures)]
    round_trip(matrix_of(text, every, () if f is None else (f.name,)))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_the_compact_json_of_every_sample_expands_back(sample: Path) -> None:
    round_trip(matrix_of(sample.read_text(), every=True))


def test_a_star_is_one_class_of_sources_and_one_of_targets() -> None:
    s = summarise(matrix_of(star(300)))
    assert (len(s.source_classes), len(s.target_classes), len(s.blocks)) == (1, 1, 1)
    assert s.text("star").splitlines()[1] == "host, ns0 … ns299 (301) -> every target: ok"


def test_the_odd_cells_of_a_star_get_classes_of_their_own(golden: Callable[[Path, str], None]) -> None:
    m = matrix_of(star_nat(100))
    round_trip(m)
    golden(GOLDEN / "star-nat-100.txt", summarise(m).text("star-nat"))


def test_nodes_that_reach_only_themselves_are_one_block() -> None:
    nodes = "".join(f"  n{i}: {{interfaces: {{lo: 10.0.{i}.1/32}}}}\n" for i in range(50))
    text = f"lab: apart\nnodes:\n{nodes}links: []\n"
    s = summarise(matrix_of(text))
    assert len(s.blocks) == 1 and not s.blocks[0].exceptions
    assert s.text("apart").splitlines()[1] == "n0 … n49 (50) -> every target: no-route at source; itself: ok"


@pytest.mark.parametrize(("members", "shown"), [
    (["a"], "a"),
    (["red", "blue", "host"], "red, blue, host"),
    ([f"ns{i}" for i in range(10)], "ns0 … ns9 (10)"),
    (["host", *(f"ns{i}" for i in range(9)), "ns11", "ns12"], "host, ns0 … ns8, ns11, ns12 (12)"),
    ([f"h{i}" for i in range(0, 40, 2)], "h0, h2, h4, h6, and 16 more (20)"),
    (["n01", "n02", "n03", "x", "y", "z", "w"], "n01, n02, n03, x, and 3 more (7)"),  # leading zeros are not runs
])
def test_class_names(members: list[str], shown: str) -> None:
    assert names(members) == shown


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_reach_summarises_big_labs_and_prints_every_cell_with_full(tmp_path: Path) -> None:
    lab = tmp_path / "star.yml"
    lab.write_text(star(SUMMARY_ABOVE + 5))
    code, out, _ = cli("reach", str(lab))
    assert code == 0 and out.splitlines()[1:] == [f"host, ns0 … ns{SUMMARY_ABOVE + 4} ({SUMMARY_ABOVE + 6}) -> every target: ok"]
    code, out, _ = cli("reach", str(lab), "--full")
    assert code == 0 and out.startswith("from \\ to") and len(out.splitlines()) == SUMMARY_ABOVE + 6 + 3
    code, out, _ = cli("reach", str(lab), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["form"] == "classes" and len(data["blocks"]) == 1
    code, full, _ = cli("reach", str(lab), "--json", "--full")
    assert code == 0 and json.loads(full)["form"] == "cells" and expand(data) == json.loads(full)["matrix"]


def test_small_labs_keep_their_table_and_summarise_when_asked() -> None:
    seed = str(ROOT / "samples" / "06-port-forward.yml")
    assert cli("reach", seed)[1].startswith("from \\ to")
    code, out, _ = cli("reach", seed, "--summary")
    # red reaches blue through the host's port forward (bridge netfilter), blue reaching itself so is lost
    assert code == 0 and out.splitlines()[1:4] == ["red -> every target: ok",
                                                   "blue, host -> red, blue, host, lan, internet: ok",
                                                   "blue -> host:80: hairpin at target"]


def test_reach_with_failures() -> None:
    seed = str(ROOT / "samples" / "06-port-forward.yml")
    code, out, _ = cli("reach", seed, "--fail", "host:eth0--lan:eth0")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "down: host:eth0--lan:eth0"
    assert lines[5].split() == ["lan", "no-route", "no-route", "no-route", "ok", "no-route", "no-route"]
    code, out, _ = cli("reach", seed, "--fail", "host:eth0--lan:eth0", "--json")
    assert json.loads(out)["failures"] == ["host:eth0--lan:eth0"]
    code, out, err = cli("reach", seed, "--fail", "hots")
    assert (code, out) == (2, "")
    assert err == "topograph: --fail: 'hots' is not a node, bridge, interface or link of lab 'seed' (did you mean 'host'?)\n"

