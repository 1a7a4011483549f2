"""The fast matrix equals the per-pair reference, cell for cell; expectations become TG410 diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, SAMPLES
from topograph.pipeline import check_file, check_text
from topograph.sim.classes import fast_matrix
from topograph.sim.expect import diagnostics, evaluate
from topograph.sim.labgen import generate
from topograph.sim.matrix import ITSELF, reference_matrix, targets
from topograph.sim.network import Network, SimOptions
from topograph.sim.trace import Disposition


def network(path: Path, options: SimOptions | None = None) -> Network:
    checked = check_file(path)
    assert checked.ok and checked.topology is not None
    return Network(checked.topology, options)


SEED = ROOT / "samples" / "06-port-forward.yml"
# labs where the kernel once disagreed with the model (kept for tests/live/test_differential.py)
REGRESSIONS = sorted((ROOT / "tests" / "golden" / "trace" / "regressions").glob("*.yml"))
# labs of the route forms of issue 13 (onlink, overlapping subnets, duplicate addresses; tests/live/test_route_forms.py)
FORMS = sorted((ROOT / "tests" / "golden" / "trace" / "forms").glob("*.yml"))


def test_there_are_regression_labs() -> None:
    assert REGRESSIONS


@pytest.mark.parametrize("sample", [*SAMPLES, *REGRESSIONS, *FORMS], ids=lambda p: p.stem)
@pytest.mark.parametrize("every", [False, True], ids=["primary", "every-address"])
def test_fast_matrix_equals_reference_on_samples(sample: Path, every: bool) -> None:
    net = network(sample)
    cols = (*targets(net.topology, every_address=every), *ITSELF)
    assert fast_matrix(net, cols).differences(reference_matrix(net, cols)) == []


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_expectation_holds(sample: Path) -> None:
    net = network(sample)
    assert diagnostics(net) == []
    assert all(v.holds for v in evaluate(net))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6), bridge_nf=st.booleans())
@example(seed=2116, bridge_nf=False)  # an IPv6 reply looping back through its target: hop limit, not a martian drop
@example(seed=1932, bridge_nf=False)  # labgen once drew the same IPv6 host address twice on a segment
def test_fast_matrix_equals_reference_on_random_labs(seed: int, bridge_nf: bool) -> None:
    checked = check_text(generate(seed), f"gen{seed}.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    net = Network(checked.topology, SimOptions(bridge_nf=bridge_nf))
    cols = (*targets(checked.topology, every_address=True), *ITSELF)
    assert fast_matrix(net, cols).differences(reference_matrix(net, cols)) == []


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_fast_matrix_equals_reference_on_random_labs_with_the_route_forms(seed: int) -> None:
    text = generate(seed, forms=True)
    checked = check_text(text, f"forms{seed}.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    net = Network(checked.topology)
    cols = targets(checked.topology, every_address=True)
    assert fast_matrix(net, cols).differences(reference_matrix(net, cols)) == []


def test_the_route_forms_leave_every_other_lab_as_it_was_and_appear() -> None:
    assert all(generate(seed) == generate(seed, forms=False) for seed in range(20))
    texts = [generate(seed, forms=True) for seed in range(40)]
    assert any("onlink: true" in t for t in texts)
    codes = {d.code for i, t in enumerate(texts) for d in check_text(t, f"f{i}.yml").report}
    assert "TG203" in codes


def test_generator_is_deterministic_and_valid() -> None:
    assert generate(7) == generate(7) != generate(8)
    for seed in range(40):
        assert check_text(generate(seed), "g.yml").ok, seed


def test_a_violated_expectation_is_an_error_at_its_line() -> None:
    text = SEED.read_text()
    text = text.replace("- {from: lan, to: blue, reach: false,", "- {from: lan, to: blue, reach: true,")
    checked = check_text(text, "seed.yml")
    assert checked.ok and checked.topology is not None
    found = diagnostics(Network(checked.topology))
    assert len(found) == 1
    d = found[0]
    assert d.code == "TG410" and d.is_error
    assert d.pos.line == next(i for i, line in enumerate(text.splitlines(), 1) if "from: lan, to: blue" in line)
    assert "lan has no route to 192.168.15.0/24 — add a route via 192.168.1.2" in d.message
    assert d.hint is not None and "topograph trace seed.yml lan 192.168.15.2" in d.hint


def test_an_unexpected_success_is_an_error_too() -> None:
    text = SEED.read_text()
    text = text.replace("- {from: red, to: blue}", "- {from: red, to: blue, reach: false}")
    checked = check_text(text, "seed.yml")
    assert checked.topology is not None
    (d,) = diagnostics(Network(checked.topology))
    assert d.message.startswith("expected red not to reach blue (192.168.15.2) (icmp), but it does")


def test_matrix_counts_and_table() -> None:
    net = network(SEED)
    m = fast_matrix(net)
    assert sum(m.counts().values()) == len(m) == len(m.sources) * len(m.targets)
    assert m.verdict("lan", [t.name for t in m.targets].index("host:80")).disposition is Disposition.DELIVERED
    table = m.table()
    assert table.splitlines()[0].split()[:3] == ["from", "\\", "to"]
    assert "hairpin = BRIDGE_HAIRPIN" in table  # blue reaching itself through host:80 (bridge netfilter)


def _bench_labs() -> object:
    import importlib.util
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_reach", ROOT / "benchmarks" / "bench_reach.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("lab", ["star_nat", "routed"])
def test_fast_matrix_equals_reference_on_the_benchmark_labs(lab: str) -> None:
    """Small versions of the benchmark's labs: many interchangeable hosts, routers, NAT and a port forward."""
    make = getattr(_bench_labs(), lab)
    checked = check_text(make(60), f"{lab}.yml")
    assert checked.ok and checked.topology is not None
    net = Network(checked.topology)
    assert fast_matrix(net).differences(reference_matrix(net)) == []


def test_every_node_reaches_itself_at_the_unspecified_address() -> None:
    """0.0.0.0 and :: are each node's own loopback, in both matrices (a node with lo down does not reach them)."""
    text = SEED.read_text().replace("  lan:   {kind: external, interfaces: {eth0: 192.168.1.3/24}}",
                                    "  lan:   {kind: external, interfaces: {eth0: 192.168.1.3/24, lo: {up: false}}}")
    checked = check_text(text, "seed.yml")
    assert checked.ok and checked.topology is not None
    net = Network(checked.topology)
    for m in (fast_matrix(net, ITSELF), reference_matrix(net, ITSELF)):
        for s in m.sources:
            want = (Disposition.LOOPBACK_DOWN if s == "lan" else Disposition.DELIVERED, s)
            assert [(m.verdict(s, i).disposition, m.verdict(s, i).node) for i in range(2)] == [want, want]
