"""`topograph render --trace`: a flow's request and reply drawn over the diagram, and where and why it ends."""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.labs import star
from tests.conftest import ROOT
from topograph.cli import main
from topograph.cli.trace import resolve_flow
from topograph.pipeline import check_file, check_text
from topograph.render import Options, style, to_dot
from topograph.render.layout import arrange
from topograph.render.path import Overlay, overlay
from topograph.sim.forward import Walker
from topograph.sim.labgen import generate
from topograph.sim.matrix import targets
from topograph.sim.network import Network

GOLDEN = ROOT / "tests" / "golden" / "render"
SAMPLES = ROOT / "samples"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["render", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def traced(sample: str, src: str, dst: str, tcp: int | None = None) -> Overlay:
    c = check_file(SAMPLES / sample)
    assert c.topology is not None
    net = Network(c.topology, graph=c.graph)
    return overlay(c.topology, c.graph, Walker(net).run(resolve_flow(net, src, dst, tcp)))


@pytest.mark.parametrize(("sample", "args", "name"), [
    ("06-port-forward.yml", ["lan", "host:80"], "trace-06-lan-to-host-80"),  # delivered, through DNAT
    ("04-outside-lan-nat.yml", ["red", "lan"], "trace-04-red-to-lan"),  # NO_ROUTE at the source
])
def test_golden_trace_dot(sample: str, args: list[str], name: str, golden: Callable[[Path, str], None]) -> None:
    code, out, _ = run(str(SAMPLES / sample), "--dot", "--trace", *args)
    assert code == 0
    golden(GOLDEN / f"{name}.dot", out)


def _path_edges(dot: str, colour: str) -> list[str]:
    return [line.strip() for line in dot.splitlines() if " -> " in line and f"color=\"{colour}\"" in line]


def test_delivered_flow_through_nat_highlights_every_crossing_both_ways() -> None:
    _, dot, _ = run(str(SAMPLES / "06-port-forward.yml"), "--dot", "--trace", "lan", "host:80")
    edges = _path_edges(dot, style.REQUEST)
    # lan's uplink to the host, the host's attachment to its bridge v-net-0, the bridge's port to blue
    assert len(edges) == 3 and all("dir=both" in e for e in edges)
    assert any("host:eth0" in e and "lan:eth0" in e for e in edges)
    assert any('"host/v-net-0":"veth-blue-br"' in e and 'blue:"veth-blue"' in e for e in edges)
    assert not _path_edges(dot, style.REPLY)  # the reply retraces the request
    assert "✔ DELIVERED at blue" in dot
    assert re.search(r'"?blue"?:_head -> _verdict', dot)


def test_no_route_marks_the_source_and_crosses_nothing() -> None:
    o = traced("04-outside-lan-nat.yml", "red", "lan")
    assert o.request.crossings == () and o.request.boxes == ("red",) and o.reply is None
    _, dot, _ = run(str(SAMPLES / "04-outside-lan-nat.yml"), "--dot", "--trace", "red", "lan")
    assert "✖ NO_ROUTE at red" in dot and "red has no route to 192.168.1.0/24" in dot
    assert not _path_edges(dot, style.REQUEST)


def test_a_reply_that_takes_another_way_is_drawn_on_its_own() -> None:
    # sample 07: b2 has no route back to a-side addresses, so a1's ping reaches b2 and its reply is lost there
    o = traced("07-router-two-lans.yml", "a1", "b2")
    assert o.result.disposition == "REPLY_LOST" and o.reply is not None and not o.reply_retraces
    assert o.reply.boxes == ("b2",)
    _, dot, _ = run(str(SAMPLES / "07-router-two-lans.yml"), "--dot", "--trace", "a1", "b2")
    assert "✖ REPLY_LOST at b2" in dot
    assert len(_path_edges(dot, style.REQUEST)) >= 2


def test_reply_through_another_gateway_gets_its_own_edges(tmp_path: Path) -> None:
    # red sends via r1, far answers via r2: the request and reply cross different links
    lab = tmp_path / "asym.yml"
    lab.write_text("""lab: asym
nodes:
  red:
    interfaces: {e1: 10.0.1.1/24, e2: 10.0.2.1/24}
    routes: [{to: 10.0.9.0/24, via: 10.0.1.2}]
  r1:
    forwarding: true
    interfaces: {a: 10.0.1.2/24, b: 10.0.8.1/24}
    routes: [{to: 10.0.9.0/24, via: 10.0.8.2}]
  r2:
    forwarding: true
    interfaces: {a: 10.0.2.2/24, b: 10.0.7.1/24}
    routes: [{to: 10.0.1.0/24, via: 10.0.2.1}]
  far:
    interfaces: {e1: 10.0.8.2/24, e2: 10.0.7.2/24, lo: 10.0.9.1/32}
    routes: [{to: 10.0.1.0/24, via: 10.0.7.1}, {to: 10.0.2.0/24, via: 10.0.7.1}]
links:
  - [red:e1, r1:a]
  - [red:e2, r2:a]
  - [r1:b, far:e1]
  - [r2:b, far:e2]
""")
    code, dot, err = run(str(lab), "--dot", "--trace", "red", "10.0.9.1")
    assert code == 0, err
    request, reply = _path_edges(dot, style.REQUEST), _path_edges(dot, style.REPLY)
    assert len(request) == 2 and len(reply) == 2
    assert all("r1:" in e for e in request) and all("r2:" in e for e in reply)
    assert all("constraint=false" in e and "dashed" in e for e in reply)


@pytest.mark.parametrize(("args", "message"), [
    (["nobody", "blue"], "topograph: source 'nobody' is not a node of lab 'seed'"),
    (["red", "nobody"], "topograph: destination 'nobody' is not a node of lab 'seed'"),
    (["red", "host:81"], "topograph: host has no tcp port forward on port 81"),
])
def test_unknown_names_fail_like_trace(args: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "x.svg"
    code, stdout, err = run(str(SAMPLES / "06-port-forward.yml"), "-o", str(out), "--trace", *args)
    assert code == 2 and stdout == "" and not out.exists()
    assert err.splitlines()[0] == message


@pytest.mark.parametrize("proto", ["--tcp", "--udp"])
def test_a_port_needs_trace(proto: str) -> None:
    code, _, err = run(str(SAMPLES / "06-port-forward.yml"), "--dot", proto, "80")
    assert code == 2 and f"{proto} needs --trace SRC DST" in err


def test_a_udp_trace_marks_the_rule_that_rejected_it() -> None:
    lab = str(ROOT / "tests" / "golden" / "render" / "firewall.yml")
    code, dot, _ = run(lab, "--dot", "--trace", "lan", "192.168.1.2", "--udp", "1500")
    assert code == 0 and "FILTER_REJECTED at host" in dot
    assert "denied by host&#x27;s input chain, rule 4" in dot  # HTML-escaped in DOT
    code, dot, _ = run(lab, "--dot", "--trace", "lan", "192.168.1.2", "--udp", "999")  # no rule: the policy drops it
    assert code == 0 and "FILTER_DROPPED at host" in dot


def test_trace_dot_is_deterministic() -> None:
    first = run(str(SAMPLES / "07-router-two-lans.yml"), "--dot", "--trace", "a1", "b2")[1]
    assert first == run(str(SAMPLES / "07-router-two-lans.yml"), "--dot", "--trace", "a1", "b2")[1]


def test_a_path_into_a_grid_is_drawn_over_it(tmp_path: Path) -> None:
    lab = tmp_path / "star.yml"
    lab.write_text(star(20))
    code, dot, _ = run(str(lab), "--dot", "--trace", "ns3", "ns15")
    assert code == 0
    edges = _path_edges(dot, style.REQUEST)
    # the grid's links are not drawn one by one: the path's two are drawn over it, from the row leading to the grid
    assert len(edges) == 2 and all("constraint=false" in e and "dir=both" in e for e in edges)
    assert all(e.startswith('"host/br0":_grid:e -> ') for e in edges)
    drawn = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)
    assert drawn.stderr == b"", "graphviz finds every port the path names"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_paths_on_random_labs_are_drawn_edges_end_to_end(seed: int) -> None:
    """Every flow of a random lab: each crossing is one drawn edge, consecutive crossings meet at a box, the request
    starts at its source and, delivered, ends at the node that took it; the DOT with the path builds."""
    checked = check_text(generate(seed), f"gen{seed}.yml")
    assert checked.ok and checked.topology is not None
    t, g = checked.topology, checked.graph
    net = Network(t, graph=g)
    edges = arrange(t).edges
    walker = Walker(net)
    for src in net.nodes:
        for target in targets(t):
            result = walker.run(target.flow(src, net))
            o = overlay(t, g, result)
            legs = [(o.request, result.request)] + ([(o.reply, result.reply)] if o.reply and result.reply else [])
            for drawn, trace in legs:
                for c in drawn.crossings:
                    assert sum(1 for e in edges if e.link == c.link and c.same_edge(e.tail, e.head)) == 1, c
                for a, b in itertools.pairwise(drawn.crossings):
                    assert a.stop.vertex == b.start.vertex, (result.flow, a, b)
                if trace.disposition.ok and len({h.node for h in trace.hops}) > 1:
                    # the path is read from the trace's words (in IF, dev IF): a change to them must not go unseen
                    assert drawn.crossings, (result.flow, trace)
                if drawn.crossings:
                    assert drawn.crossings[0].start.vertex == trace.hops[0].node
                    if trace.disposition.ok:
                        assert drawn.crossings[-1].stop.vertex == trace.hops[-1].node
            assert o.end_node in drawn_boxes(o)
            assert "_verdict" in to_dot(t, g, Options(), o)


def drawn_boxes(o: Overlay) -> set[str]:
    return {*o.request.boxes, *(o.reply.boxes if o.reply else ())} | (
        {o.result.reply.hops[-1].node} if o.result.reply is not None and o.result.reply.hops else set())


def test_a_hairpin_crosses_the_host_bridge_attachment_both_ways(tmp_path: Path) -> None:
    # red -> host:80 is forwarded back onto the bridge to blue; blue's reply is bridged straight to red (NAT_NO_RETURN)
    # where the host's bridge netfilter is off
    lab = tmp_path / "seed.yml"
    lab.write_text((SAMPLES / "06-port-forward.yml").read_text().replace(
        "    forwarding: true", "    forwarding: true\n    bridge_netfilter: false", 1))
    _, dot, _ = run(str(lab), "--dot", "--trace", "red", "host:80")
    request = _path_edges(dot, style.REQUEST)
    attach = [e for e in request if e.startswith('host:"v-net-0":e -> "host/v-net-0":_head:w')]
    assert len(attach) == 1 and "dir=both" in attach[0]
    reply = _path_edges(dot, style.REPLY)
    assert len(reply) == 2 and not any("_head" in e for e in reply)  # the reply never reaches the host
    assert "✖ NAT_NO_RETURN at red" in dot
