"""The networkx graph: vertices and edges, and L2 segments for veth pairs and bridge domains."""

from __future__ import annotations

import networkx as nx
import pytest

from tests.conftest import SAMPLES
from topograph.front import graph as tg
from topograph.model import Topology
from topograph.pipeline import check_file, check_text

SEED = SAMPLES[0].parent / "06-port-forward.yml"


def seed_graph() -> nx.Graph:
    result = check_file(SEED)
    assert result.ok and result.graph is not None
    return result.graph


def seed_topology() -> Topology:
    result = check_file(SEED)
    assert result.ok and result.topology is not None
    return result.topology


def labels(seg: tg.Segment) -> list[str]:
    return [i.label for i in seg.interfaces]


def test_vertices_and_edges() -> None:
    g = seed_graph()
    assert g.graph["name"] == "seed"
    # 5 nodes own 14 interfaces; the 5 loopbacks are no vertices (no L2 edge can reach them)
    assert len(g) == 9 and ("red", "lo") not in g and ("host", "v-net-0") in g
    veths = sorted(str(d["link"]) for _, _, d in g.edges(data=True) if "link" in d)
    ports = sorted(sorted(map(str, e)) for e in g.edges if "link" not in g.edges[e])
    assert len(veths) == 4
    assert ports == [["('host', 'v-net-0')", "('host', 'veth-blue-br')"], ["('host', 'v-net-0')", "('host', 'veth-red-br')"]]


def test_segments_of_the_seed() -> None:
    segs = tg.segments(seed_topology())
    assert [labels(s) for s in segs] == [
        ["blue:veth-blue", "host:v-net-0", "host:veth-blue-br", "host:veth-red-br", "red:veth-red"],
        ["host:eth0", "lan:eth0"],
        ["host:wan0", "internet:eth0"],
    ]
    bridge, pair, wan = segs
    assert pair.name == "host:eth0 <-> lan:eth0" and not pair.bridges
    assert bridge.name == "host:v-net-0" and [b.label for b in bridge.bridges] == ["host:v-net-0"]
    # bridge ports carry no L3: the bridge and the namespaces' ends do
    assert [i.label for i in bridge.addressed] == ["blue:veth-blue", "host:v-net-0", "red:veth-red"]
    assert [str(n) for n in bridge.subnets] == ["192.168.15.0/24"]
    assert [str(n) for n in wan.subnets] == ["203.0.113.0/24"]


def test_loopback_is_in_no_segment() -> None:
    segs = tg.segments(seed_topology())
    assert all(i.name != "lo" for s in segs for i in s.interfaces)


def test_a_bridge_without_ports_is_a_segment_of_its_own() -> None:
    result = check_text("nodes: {a: {bridges: {br: 10.0.0.1/24}}}\n", "x.yml")
    assert result.ok and result.graph is not None and result.topology is not None
    (seg,) = tg.segments(result.topology)
    assert labels(seg) == ["a:br"] and seg.name == "a:br"


def test_two_bridges_joined_by_a_veth_pair_are_one_segment() -> None:
    result = check_text(
        "nodes:\n  s1: {bridges: {br1: 10.0.0.1/24}}\n  s2: {bridges: {br2: 10.0.0.2/24}}\n"
        "  a: {interfaces: {e: 10.0.0.3/24}}\n"
        "links: [[br1:p-s2, br2:p-s1], [a:e, br1:pa], [s1:up, s2:down]]\n", "x.yml")
    assert result.graph is not None and result.topology is not None, [d.render() for d in result.report]
    segs = tg.segments(result.topology)
    joined = next(s for s in segs if s.bridges)
    assert sorted(b.label for b in joined.bridges) == ["s1:br1", "s2:br2"]
    assert joined.name == "s1:br1, s2:br2"
    assert labels(joined) == ["a:e", "s1:br1", "s1:p-s2", "s1:pa", "s2:br2", "s2:p-s1"]
    assert ["s1:up", "s2:down"] in [labels(s) for s in segs]  # a veth pair beside the bridges, not into them


def test_segments_are_deterministic() -> None:
    t1, t2 = seed_topology(), seed_topology()
    assert [labels(s) for s in tg.segments(t1)] == [labels(s) for s in tg.segments(t2)]


def test_link_of() -> None:
    g = seed_graph()
    link = tg.link_of(g, "host", "eth0")
    assert link is not None and str(link.b) == "lan:eth0" and link.external
    assert tg.link_of(g, "host", "v-net-0") is None


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_every_sample_interface_is_in_at_most_one_segment(sample: object) -> None:
    result = check_file(str(sample))
    assert result.graph is not None and result.topology is not None
    seen: list[str] = [i.label for s in tg.segments(result.topology) for i in s.interfaces]
    assert len(seen) == len(set(seen))
