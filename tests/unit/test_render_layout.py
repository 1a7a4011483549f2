"""Diagram layout decisions: which way edges point, and when leaves are packed into a grid."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.labs import star
from tests.conftest import ROOT
from topograph.pipeline import check_file, check_text
from topograph.render.layout import GRID_MIN, HEAD, arrange, bridge_vertex, is_bridge_vertex, split_bridge_vertex


def test_uplinks_are_on_the_left_and_namespaces_on_the_right() -> None:
    c = check_file(ROOT / "samples" / "06-port-forward.yml")
    assert c.topology is not None
    layout = arrange(c.topology)
    assert layout.depth["lan"] == layout.depth["internet"] == 0
    assert layout.depth["host"] == 1
    assert layout.depth["host/v-net-0"] == 2
    assert layout.depth["red"] == layout.depth["blue"] == 3
    for edge in layout.edges:  # every edge points away from the uplinks
        assert layout.depth[edge.tail.vertex] <= layout.depth[edge.head.vertex], edge


def test_bridge_ports_end_on_the_bridge_and_the_bridge_hangs_off_its_holder() -> None:
    c = check_file(ROOT / "samples" / "06-port-forward.yml")
    assert c.topology is not None
    ends = {(e.tail.ref(), e.head.ref()) for e in arrange(c.topology).edges}
    assert ("host:v-net-0", f"host/v-net-0:{HEAD}") in ends
    assert ("host/v-net-0:veth-red-br", "red:veth-red") in ends


def test_without_uplinks_or_gateways_the_first_node_leads() -> None:
    c = check_text("lab: p\nnodes:\n  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: 10.9.0.2/24}}\n"
                   "links:\n  - [b:e0, a:e0]\n", "p.yml")
    assert c.topology is not None
    layout = arrange(c.topology)
    assert layout.depth == {"a": 0, "b": 1}
    assert [(e.tail.vertex, e.head.vertex) for e in layout.edges] == [("a", "b")]


def test_small_segments_are_not_gridded_big_ones_are_roughly_square() -> None:
    small = check_text(star(GRID_MIN - 1), "s.yml")
    assert small.topology is not None
    assert arrange(small.topology).grids == ()
    big = check_text(star(1000), "b.yml")
    assert big.topology is not None
    (grid,) = arrange(big.topology).grids
    assert grid.bridge == "host/br0"
    assert len(grid.leaves) == 1000
    assert grid.leaves[:3] == ("ns0", "ns1", "ns2")  # file order, column by column
    assert 10 <= grid.columns <= 30
    assert sum(len(col) for col in grid.columns_of()) == 1000
    assert tuple(leaf for col in grid.columns_of() for leaf in col) == grid.leaves  # in order, none twice
    assert len(grid.columns_of()) <= grid.columns and all(len(col) == grid.rows for col in grid.columns_of()[:-1])


def test_gridded_leaves_are_computed_once_per_layout() -> None:
    c = check_text(star(GRID_MIN), "s.yml")
    assert c.topology is not None
    layout = arrange(c.topology)
    assert layout.gridded == frozenset(f"ns{i}" for i in range(GRID_MIN))
    assert layout.gridded is layout.gridded  # cached: a render asks for it several times


NAMES = st.text(st.characters(blacklist_characters="/"), min_size=1, max_size=15)  # '/' is never in a name


@given(NAMES, NAMES)
def test_a_bridge_vertex_splits_back_into_holder_and_bridge(node: str, bridge: str) -> None:
    vertex = bridge_vertex(node, bridge)
    assert is_bridge_vertex(vertex) and not is_bridge_vertex(node)
    assert split_bridge_vertex(vertex) == (node, bridge)
