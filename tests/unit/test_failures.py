"""What-if failures: names resolve to the elements the file names, copies are failed (never the model itself),
an unused link's failure changes nothing, and the seed lab's single points of failure are the ones it has."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from topograph.pipeline import Checked, check_file, check_text
from topograph.sim.classes import fast_matrix
from topograph.sim.failures import UnknownElement, every_single_failure, resolve_failure, single_failures, with_failures
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
    f = resolve_failure(T, spec)
    assert (f.kind, set(f.interfaces)) == (kind, down)


@pytest.mark.parametrize(("spec", "hint"), [("hots", "did you mean 'host'?"), ("red:veth-rde", "did you mean"),
                                            ("red--blue", "write NODE, NODE:IFNAME")])
def test_an_unknown_element_is_an_error_that_says_what_is_close(spec: str, hint: str) -> None:
    with pytest.raises(UnknownElement, match=hint):
        resolve_failure(T, spec)


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


def _with_held_expectations(seed: int) -> Checked:
    """A random lab with an expectation for every cell of its matrix, each as the intact lab predicts it."""
    text = generate(seed)
    c = check_text(text, "lab.yml")
    assert c.topology is not None
    m = fast_matrix(Network(c.topology, graph=c.graph))
    lines = ["expect:"]
    for s in m.sources:
        for j, t in enumerate(m.targets):
            to = f"'{t.name}'" if t.port is not None else t.name
            if t.port is not None and t.proto != "tcp":
                continue
            lines.append(f"  - {{from: {s}, to: {to}, reach: {str(m.verdict(s, j).ok).lower()}}}")
    out = check_text(text + "\n".join(lines) + "\n", "lab.yml")
    assert out.ok, [d.render() for d in out.report][:3]
    return out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_the_pruned_sweep_finds_what_every_failed_matrix_says(seed: int) -> None:
    # the sweep walks only the flows a failure can touch; the yardstick is the whole matrix of every failed copy
    c = _with_held_expectations(seed)
    t = c.topology
    assert t is not None
    found = {f.failure.name: sorted(str(v.expectation) for v in f.broken) for f in single_failures(t, c.graph)}
    assert found == {f.failure.name: sorted(str(v.expectation) for v in f.broken)
                     for f in single_failures(t, c.graph, prune=False)}
    expected: dict[str, list[str]] = {}
    for f in every_single_failure(t):
        failed = with_failures(t, [f])
        m = fast_matrix(Network(failed, graph=c.graph), targets(failed))
        column = {x.name: j for j, x in enumerate(m.targets)}
        broken = []
        for e in t.expectations:
            name = e.dst if e.forward else e.dst_node
            owner = t.owner_of(m.targets[column[str(name)]].address)
            if f.kind == "node" and f.name in (e.src, e.dst_node, owner.node if owner else None):
                continue
            if m.verdict(e.src, column[str(name)]).ok != e.reach:
                broken.append(str(e))
        if broken:
            expected[f.name] = sorted(broken)
    assert found == expected
