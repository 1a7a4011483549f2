"""The DOT text of `topograph render`: golden per sample, determinism, and what a reviewer must find in it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.labs import star
from tests.conftest import ROOT, SAMPLES
from topograph.front import graph as tg
from topograph.model import LOOPBACK, Masquerade
from topograph.pipeline import Checked, check_file, check_text
from topograph.render import Options, style, to_dot
from topograph.render.layout import arrange, bridge_vertex

GOLDEN = ROOT / "tests" / "golden" / "render"


def _checked(path: Path) -> Checked:
    result = check_file(path)
    assert result.ok, f"{path.name} does not check:\n" + "\n".join(d.render() for d in result.report)
    return result


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_golden_dot(sample: Path, golden: Callable[[Path, str], None]) -> None:
    c = _checked(sample)
    assert c.topology is not None
    golden(GOLDEN / f"{sample.stem}.dot", to_dot(c.topology, c.graph))


def _boxes(dot: str) -> dict[str, str]:
    """Each box's DOT statement by vertex id (a node, or 'holder/bridge'); each is one line."""
    boxes = {}
    for line in dot.splitlines():
        m = re.match(r'\t+("?)([^"\s\[]+)\1 \[label=<', line)
        if m:
            boxes[m.group(2)] = line
    return boxes


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_every_interface_address_and_subnet_is_drawn(sample: Path) -> None:
    c = _checked(sample)
    assert c.topology is not None
    dot = to_dot(c.topology, c.graph)
    boxes = _boxes(dot)
    gridded_bridges = {grid.bridge for grid in arrange(c.topology).grids}  # their ports are named on the leaves
    for node in c.topology.nodes:
        assert f"<B><FONT POINT-SIZE=\"13\">{node.name}</FONT></B>" in dot, node.name
        for itf in node.interfaces:
            if itf.name == LOOPBACK and not itf.addresses:
                continue
            assert f'PORT="{itf.name}"' in dot, itf.label
            for a in itf.addresses:
                assert str(a) in dot, f"{itf.label} {a}"
            # in the box it belongs to, not just somewhere: a bridge port is a row of its bridge's box
            vertex = node.name if itf.bridge is None else bridge_vertex(node.name, itf.bridge)
            if vertex in gridded_bridges:
                continue
            assert f'PORT="{itf.name}"' in boxes[vertex], f"{itf.label} not in the box of {vertex}"
            for a in itf.addresses:
                assert str(a) in boxes[vertex], f"{itf.label} {a} not in the box of {vertex}"
    for seg in tg.segments(c.topology):
        for net in seg.subnets:  # each segment's subnet is drawn once, in the subnet colour
            assert dot.count(f'COLOR="{style.SUBNET}">{net}<') == 1, f"{seg.name}: {net}"


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_gateways_nat_and_port_forwards_are_marked(sample: Path) -> None:
    c = _checked(sample)
    assert c.topology is not None
    dot = to_dot(c.topology, c.graph)
    gateways = [n for n in c.topology.nodes if n.forwarding]
    assert dot.count("⇄ gateway</B>") == len(gateways) + bool(gateways)  # + the legend's entry, if any gateway
    for node in c.topology.nodes:
        for m in node.nat:  # MASQUERADE SOURCE → OUT, or SNAT SOURCE [to DST] [out OUT] → ADDRESS
            assert str(m).replace(" ", "&#160;") in dot
            assert str(m).startswith(f"MASQUERADE {m.source} → {m.out}" if isinstance(m, Masquerade) else f"SNAT {m.source}")
        for pf in node.port_forwards:
            assert f"DNAT&#160;{pf.proto}/{pf.port}&#160;→&#160;{pf.target}" in dot
            assert f"{pf.proto}/{pf.port}&#160;forwarded&#160;by&#160;{node.name}" in dot


def test_title_names_the_lab_and_its_description() -> None:
    c = check_text("lab: demo\ndescription: two namespaces & a pipe, the host's \"lab\" <here>\nnodes:\n"
                   "  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: 10.9.0.2/24}}\n"
                   "links:\n  - [a:e0, b:e0]\n", "demo.yml")
    assert c.ok and c.topology is not None
    dot = to_dot(c.topology, c.graph)
    assert "<B>lab demo</B>" in dot
    # escaped for the HTML-like label, which graphviz parses as XML
    assert "two namespaces &amp; a pipe, the host&#x27;s &quot;lab&quot; &lt;here&gt;" in dot
    assert "<B>legend</B>" in dot


def _legend(dot: str) -> str:
    start = dot.index("<B>legend</B>")  # the legend is the last row of the graph label, which is one line
    return dot[start:dot.index("\n", start)]


def test_legend_keys_only_what_the_diagram_shows() -> None:
    everything = ["namespace", "host", "external", "bridge (switch)", "⇄ gateway", "veth link", "uplink (exists)",
                  "source NAT", "port forward", "subnet"]
    shown = {"01-veth-pair": ["namespace", "veth link", "subnet"],
             "02-bridge": ["namespace", "host", "bridge (switch)", "veth link", "subnet"],
             "04-outside-lan-nat": [e for e in everything if e != "port forward"],
             "06-port-forward": everything}
    for stem, expected in shown.items():
        c = _checked(ROOT / "samples" / f"{stem}.yml")
        assert c.topology is not None
        legend = _legend(to_dot(c.topology, c.graph))
        assert [entry for entry in everything if entry in legend] == expected, stem
        assert "10.0.0.0/24" not in legend  # the subnet entry is a placeholder, not an address of some lab
    c = check_text(star(40), "star.yml")  # every link goes into the grid: no veth line is drawn, so none is keyed
    assert c.topology is not None
    legend = _legend(to_dot(c.topology, c.graph))
    assert [entry for entry in everything if entry in legend] == ["namespace", "host", "bridge (switch)", "⇄ gateway",
                                                                  "subnet"]


def test_description_keeps_its_lines_wraps_long_ones_and_pads_the_legend() -> None:
    long_line = " ".join(["word"] * 40)  # 199 characters: two lines of at most 100
    c = check_text(f"lab: d\ndescription: |\n  first line\n  second line\n  {long_line}\nnodes:\n"
                   "  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: 10.9.0.2/24}}\n"
                   "links:\n  - [a:e0, b:e0]\n", "d.yml")
    assert c.ok and c.topology is not None
    dot = to_dot(c.topology, c.graph)
    assert 'first line<BR ALIGN="LEFT"/>second line<BR ALIGN="LEFT"/>word word' in dot
    lines = dot[dot.index("second line"):dot.index("<B>legend</B>")].split('<BR ALIGN="LEFT"/>')[1:-1]
    assert len(lines) == 2 and all(len(line) <= 100 for line in lines), lines
    # an empty cell widens the legend to the description, so graphviz does not stretch the legend's entries
    assert '<TD WIDTH="' in _legend(dot)
    short = check_text("lab: d\nnodes:\n  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: 10.9.0.2/24}}\n"
                       "links:\n  - [a:e0, b:e0]\n", "d.yml")
    assert short.ok and short.topology is not None
    assert '<TD WIDTH="' not in _legend(to_dot(short.topology, short.graph))


def test_routes_follow_the_option() -> None:
    c = _checked(ROOT / "samples" / "06-port-forward.yml")
    assert c.topology is not None
    shown = to_dot(c.topology, c.graph, Options(routes=True))
    hidden = to_dot(c.topology, c.graph, Options(routes=False))
    assert "default&#160;via&#160;203.0.113.1" in shown
    assert "via" not in hidden
    assert to_dot(c.topology, c.graph) == shown  # small labs show routes by default


def test_dot_is_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    sample = str(ROOT / "samples" / "06-port-forward.yml")
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-m", "topograph", "render", sample, "--dot"],
                              capture_output=True, env=env, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=1, max_value=60))
def test_star_draws_every_namespace_once_grid_or_not(n: int) -> None:
    c = check_text(star(n), "star.yml")
    assert c.ok and c.topology is not None
    dot = to_dot(c.topology, c.graph)
    for i in range(n):
        assert dot.count(f"\n\t\tns{i} [label=") + dot.count(f"\n\tns{i} [label=") == 1, f"ns{i}"
    assert to_dot(c.topology, c.graph) == dot


def test_interface_properties_restricted_and_ipv6_forwards_are_labelled() -> None:
    text = """lab: extras
nodes:
  gw:
    kind: host
    forwarding: true
    rp_filter: strict
    interfaces:
      up0: {address: [203.0.113.2/24], mtu: 1400}
      in0: {address: [10.5.0.1/24, "fd00:5::1/64"], mac: "02:00:00:00:00:01"}
    port_forwards:
      - {proto: udp, port: 53, to: "[fd00:5::10]:5353"}
      - {proto: tcp, port: 443, to: 10.5.0.10:8443, in: up0}
  srv: {interfaces: {eth0: {address: [10.5.0.10/24, "fd00:5::10/64"], up: false}}}
  isp: {kind: external, interfaces: {eth0: 203.0.113.1/24}}
links:
  - [gw:up0, isp:eth0]
  - [gw:in0, srv:eth0]
"""
    c = check_text(text, "extras.yml")
    assert c.ok and c.topology is not None
    dot = to_dot(c.topology, c.graph)
    for expected in ["mtu&#160;1400", "mac&#160;02:00:00:00:00:01", "DOWN", "rp_filter strict",
                     "DNAT&#160;udp/53&#160;→&#160;[fd00:5::10]:5353",
                     "DNAT&#160;tcp/443&#160;→&#160;10.5.0.10:8443&#160;(in&#160;up0)",
                     "udp/53&#160;forwarded&#160;by&#160;gw&#160;→&#160;:5353"]:
        assert expected in dot, expected
    assert 'style=dashed' in dot  # the uplink to the external node
