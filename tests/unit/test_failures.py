"""What-if failures: names resolve to the elements the file names, copies are failed (never the model itself),
an unused link's failure changes nothing, and the seed lab's single points of failure are the ones it has."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from topograph.pipeline import check_file, check_text
from topograph.sim.classes import fast_matrix
from topograph.sim.failures import UnknownElement, every_single_failure, resolve, single_failures, with_failures
from topograph.sim.labgen import generate
from topograph.sim.matrix import reference_matrix, targets
from topograph.sim.network import Network

SEED = check_file(ROOT / "samples" / "06-port-forward.yml")
assert SEED.topology is not None
T = SEED.topology


@pytest.mark.parametrize(("spec", "kind", "down"), [
    ("blue", "node", {("blue", "lo"), ("blue", "veth-blue")}),
    ("v-net-0", "interface", {("host", "v-net-0")}),
    ("red:veth-red", "interface", {("red", "veth-red")}),
    ("v-net-0:veth-red-br", "interface", {("host", "veth-red-br")}),  # BRIDGE:PORT, as links: writes it
    ("red:veth-red--v-net-0:veth-red-br", "link", {("red", "veth-red"), ("host", "veth-red-br")}),
    ("v-net-0:veth-red-br--red:veth-red", "link", {("red", "veth-red"), ("host", "veth-red-br")}),  # either order
    ("host--lan", "link", {("host", "eth0"), ("lan", "eth0")}),  # nodes joined by exactly one link
    ("red--v-net-0", "link", {("red", "veth-red"), ("host", "veth-red-br")}),
])
def test_a_failure_names_what_the_file_names(spec: str, kind: str, down: set[tuple[str, str]]) -> None:
    f = resolve(T, spec)
    assert (f.kind, set(f.interfaces)) == (kind, down)


@pytest.mark.parametrize(("spec", "hint"), [("hots", "did you mean 'host'?"), ("red:veth-rde", "did you mean"),
                                            ("red--blue", "write NODE, NODE:IFNAME")])
def test_an_unknown_element_is_an_error_that_says_what_is_close(spec: str, hint: str) -> None:
    with pytest.raises(UnknownElement, match=hint):
        resolve(T, spec)


def test_failures_make_frozen_copies_and_leave_the_model_alone() -> None:
    failed = with_failures(T, ["blue", "host:eth0--lan:eth0"])
    assert all(i.up for n in T.nodes for i in n.interfaces)  # the original is untouched
    assert not any(i.up for i in failed.node("blue").interfaces)
    assert [i.up for i in failed.node("host").interfaces if i.name == "eth0"] == [False]
    assert not failed.node("lan").interface("eth0").up  # type: ignore[union-attr]
    assert failed.node("red") is T.node("red")  # untouched nodes are shared
    assert with_failures(T, []) is T


def test_a_failed_node_is_unreachable_and_reaches_nothing() -> None:
    net = Network(with_failures(T, ["blue"]), graph=SEED.graph)
    m = fast_matrix(net)
    cols = [t.name for t in m.targets]
    assert m.verdict("red", cols.index("blue")).disposition == "NEIGHBOR_UNREACHABLE"
    assert not any(m.verdict("blue", j).ok for j, t in enumerate(m.targets))
    assert m.differences(reference_matrix(net, m.targets)) == []  # the fast matrix still equals the walker


def test_single_points_of_failure_of_the_seed_lab() -> None:
    found = {f.failure.name: [str(v.expectation) for v in f.broken] for f in single_failures(T, SEED.graph)}
    assert found == {
        "red:veth-red--v-net-0:veth-red-br": ["red -> blue (icmp)"],
        "blue:veth-blue--v-net-0:veth-blue-br": ["red -> blue (icmp)", "blue -> lan (icmp)",
                                                 "blue -> 198.51.100.8 (icmp)", "lan -> 192.168.1.2 (tcp/80)"],
        "host:eth0--lan:eth0": ["blue -> lan (icmp)", "lan -> 192.168.1.2 (tcp/80)"],
        "host:wan0--internet:eth0": ["blue -> 198.51.100.8 (icmp)"],
        # a node's failure is not held against expectations from or to the node itself
        "blue": ["lan -> 192.168.1.2 (tcp/80)"],
        "host": ["red -> blue (icmp)", "blue -> lan (icmp)", "blue -> 198.51.100.8 (icmp)"],
    }
    broken = next(f for f in single_failures(T, SEED.graph) if f.failure.name == "host:wan0--internet:eth0").broken
    assert broken[0].result is not None and "host has no route to 198.51.100.8" in broken[0].result.reason


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6), pick=st.integers(min_value=0, max_value=10**6))
def test_an_unused_links_failure_changes_nothing(seed: int, pick: int) -> None:
    # a veth pair without addresses between two nodes of a random lab: up or down, the matrix is the same
    text = generate(seed) + "  - [n0:spare0, n1:spare0]\n"
    checked = check_text(text, "lab.yml")
    assert checked.ok and checked.topology is not None
    t = checked.topology
    cols = targets(t, every_address=True)
    intact = fast_matrix(Network(t, graph=checked.graph), cols)
    spare = ["n0:spare0--n1:spare0", "n0:spare0", "n1:spare0"][pick % 3]
    failed = fast_matrix(Network(with_failures(t, [spare]), graph=checked.graph), cols)
    assert failed.as_json() == intact.as_json()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6), pick=st.integers(min_value=0, max_value=10**6))
def test_the_fast_matrix_equals_the_walker_under_any_single_failure(seed: int, pick: int) -> None:
    checked = check_text(generate(seed), "lab.yml")
    assert checked.topology is not None
    options = every_single_failure(checked.topology)
    net = Network(with_failures(checked.topology, [options[pick % len(options)]]), graph=checked.graph)
    cols = targets(net.topology, every_address=True)
    assert fast_matrix(net, cols).differences(reference_matrix(net, cols)) == []
