"""Labs from networkx graphs and from the generators: the conventions, and labs that really work."""

from __future__ import annotations

import ipaddress

import networkx as nx
import pytest

import topograph
from benchmarks.labs import star as benchmark_star
from topograph import generators
from topograph.api.graph import to_document


def seed_graph() -> nx.Graph:
    """Two namespaces on a bridge of the host, as in the seed lab, with one expectation."""
    g = nx.Graph(name="pair-on-bridge", expect=[{"from": "red", "to": "blue"}])
    g.add_node("host", kind="host", forwarding=True)
    g.add_node("v-net-0", kind="bridge", node="host", address=ipaddress.ip_interface("192.168.15.5/24"))
    g.add_node("red", interfaces={"veth-red": "192.168.15.1/24"}, routes=[{"to": "default", "via": "192.168.15.5"}])
    g.add_node("blue", interfaces={"eth0": ipaddress.ip_interface("192.168.15.2/24")})
    g.add_edge("red", "v-net-0", ifnames={"red": "veth-red", "v-net-0": "veth-red-br"})
    g.add_edge("blue", "v-net-0")  # default names: eth0 in blue, v-net-0-1 on the bridge (its second edge)
    return g


def test_graph_conventions_become_the_document() -> None:
    doc = to_document(seed_graph())
    assert doc["lab"] == "pair-on-bridge"
    assert doc["nodes"]["host"] == {"kind": "host", "forwarding": True, "bridges": {"v-net-0": {"address": "192.168.15.5/24"}}}
    assert doc["nodes"]["blue"] == {"interfaces": {"eth0": "192.168.15.2/24"}}
    assert doc["links"] == [["red:veth-red", "v-net-0:veth-red-br"], ["blue:eth0", "v-net-0:v-net-0-1"]]
    assert doc["expect"] == [{"from": "red", "to": "blue"}]


def test_a_lab_from_a_graph_checks_and_reaches() -> None:
    lab = topograph.from_graph(seed_graph())
    assert lab.check().ok, lab.check().text()
    assert lab.name == "pair-on-bridge" and lab.source == "<graph pair-on-bridge>"
    assert lab.reach().reaches("red", "blue")
    assert lab.trace("blue", "red").ok
    # red has a default route (via the host, which has none to 10.9.9.9), blue none
    assert [(str(t.disposition), t.result.node) for t in (lab.trace("blue", "10.9.9.9"), lab.trace("red", "10.9.9.9"))] \
        == [("NO_ROUTE", "blue"), ("NO_ROUTE", "host")]


def test_parallel_edges_of_a_multigraph_are_parallel_links() -> None:
    g = nx.MultiGraph(lab="twice")
    g.add_node("a", interfaces={"eth0": "10.0.0.1/30", "eth1": "10.0.1.1/30"})
    g.add_node("b", interfaces={"eth0": "10.0.0.2/30", "eth1": "10.0.1.2/30"})
    g.add_edge("a", "b")
    g.add_edge("a", "b")
    lab = topograph.from_graph(g)
    assert to_document(g)["links"] == [["a:eth0", "b:eth0"], ["a:eth1", "b:eth1"]]
    assert lab.check().ok and lab.reach(every_address=True).failing() == []

def test_a_graph_error_is_a_diagnostic_with_its_path() -> None:
    g = seed_graph()
    g.nodes["red"]["routes"] = [{"to": "default", "via": "10.9.9.9"}]
    result = topograph.from_graph(g, name="broken").check()
    (d,) = result.errors
    assert d.code == "TG300" and d.pos.file == "<graph broken>" and d.path.startswith("nodes.red.routes[0]")


@pytest.mark.parametrize(("change", "message"), [
    (lambda g: g.add_node("br9", kind="bridge"), "bridge vertex br9: it has no node= attribute"),
    (lambda g: g.add_node("br9", kind="bridge", node="nowhere"), "node='nowhere' is not a node of the graph"),
    (lambda g: g.add_node("br9", kind="bridge", node="host", routes=[]), "unknown attribute 'routes'"),
    (lambda g: g.add_edge("red", "blue", ifnames="eth9"), "ifnames= must be a dict"),
    (lambda g: g.add_node("red", note=object()), "vertex red.note: a object cannot be written"),
])
def test_a_graph_that_is_no_document_is_a_lab_error(change: object, message: str) -> None:
    g = seed_graph()
    change(g)  # type: ignore[operator]
    with pytest.raises(topograph.LabError, match=message.replace(".", r"\.").replace("(", r"\(")):
        topograph.from_graph(g)


def test_benchmarks_use_the_public_star() -> None:
    assert benchmark_star is generators.star_yaml
    lab = generators.star(3)
    assert lab.text == generators.star_yaml(3)
    assert lab.nodes == ("host", "ns0", "ns1", "ns2") and lab.reach().failing() == []


@pytest.mark.parametrize(("lab", "nodes"), [
    (lambda: generators.chain(2), 2),
    (lambda: generators.chain(6), 6),
    (lambda: generators.ring(3), 3),
    (lambda: generators.ring(8), 8),
    (lambda: generators.leaf_spine(), 2 + 4 + 4),
    (lambda: generators.leaf_spine(3, 2, 3), 3 + 2 + 6),
    (lambda: generators.leaf_spine(1, 1, 0), 2),
    (lambda: generators.fat_tree(2), 1 + 2 + 2 + 2),
    (lambda: generators.fat_tree(4), 4 + 8 + 8 + 16),
])
def test_generated_labs_check_and_every_node_reaches_every_other(lab: object, nodes: int) -> None:
    made: topograph.Lab = lab()  # type: ignore[operator]
    result = made.check()
    assert result.ok and not result.warnings, result.text()
    assert len(made.nodes) == nodes
    assert made.reach().failing() == []
    assert len(made.topology.expectations) == (2 if nodes > 2 or made.name == "chain" else 0)


def test_generated_routes_are_what_makes_them_reach() -> None:
    lab = generators.ring(5, expect=False)
    assert not lab.topology.expectations
    cut = "\n".join(line for line in lab.text.splitlines() if "via" not in line and "routes:" not in line) + "\n"
    broken = topograph.from_text(cut, "<cut>")
    assert broken.check().ok
    assert ("r0", "r2", "NO_ROUTE") in [(s, t, str(d)) for s, t, d in broken.reach().failing()]


def test_a_ring_takes_the_short_way_round() -> None:
    assert generators.ring(6).trace("r0", "r5").path == ("r0", "r5")
    assert generators.ring(6).trace("r0", "r2").path == ("r0", "r1", "r2")
    assert generators.fat_tree(4).trace("h0-0-0", "h3-1-1").path == ("h0-0-0", "e0-0", "a0-0", "c0", "a3-0", "e3-1", "h3-1-1")


@pytest.mark.parametrize(("make", "message"), [
    (lambda: generators.chain(1), "chain: needs at least 2"),
    (lambda: generators.ring(2), "ring: needs at least 3"),
    (lambda: generators.fat_tree(3), "k must be even"),
    (lambda: generators.leaf_spine(0), "spines: needs at least 1"),
    (lambda: generators.star(0), "star: needs at least 1"),
])
def test_generator_arguments_are_checked(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]
