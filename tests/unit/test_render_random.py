"""Property test: random tree-shaped labs (veth pairs and bridges, some big enough for a grid) always draw."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topograph.front import graph as tg
from topograph.pipeline import check_text
from topograph.render import Options, style, to_dot


@dataclass
class Lab:
    """A lab built up node by node; each new node hangs off an earlier one, so the file is always valid."""

    nodes: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # node -> interface -> addresses
    bridges: dict[str, str] = field(default_factory=dict)  # holder -> bridge name (one per holder)
    bridge_hosts: dict[str, int] = field(default_factory=dict)  # bridge -> next host number in its /24
    forwarding: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    nets: int = 0

    def yaml(self) -> str:
        lines = ["lab: random", "nodes:"]
        for name, itfs in self.nodes.items():
            lines.append(f"  {name}:" + ("" if itfs or name in self.forwarding else " {}"))
            if name in self.forwarding:
                lines.append("    forwarding: true")
            wired = {i: a for i, a in itfs.items() if i != self.bridges.get(name)}
            if wired:
                lines.append("    interfaces: {" + ", ".join(f"{i}: [{', '.join(a)}]" for i, a in wired.items()) + "}")
            if name in self.bridges:
                br = self.bridges[name]
                lines.append(f"    bridges: {{{br}: [{', '.join(itfs[br])}]}}")
        return "\n".join([*lines, "links:" if self.links else "links: []", *self.links, ""])


@st.composite
def labs(draw: st.DrawFn) -> str:
    lab = Lab()
    lab.nodes["n0"] = {}
    count = draw(st.integers(min_value=1, max_value=30))
    for i in range(1, count):
        me = f"n{i}"
        parent = f"n{draw(st.integers(min_value=0, max_value=i - 1))}"
        lab.nodes[me] = {}
        if draw(st.booleans()):  # through a bridge held by the parent
            if parent not in lab.bridges:
                lab.nets += 1
                br = f"br{lab.nets}"
                lab.bridges[parent] = br
                lab.bridge_hosts[br] = 2
                lab.nodes[parent][br] = [f"10.{lab.nets}.0.1/24"]
                lab.forwarding.add(parent)
            br = lab.bridges[parent]
            host = lab.bridge_hosts[br]
            lab.bridge_hosts[br] += 1
            net = int(br[2:])
            lab.nodes[me]["eth0"] = [f"10.{net}.0.{host}/24"]
            lab.links.append(f"  - [{me}:eth0, {br}:p{i}]")
        else:  # a veth pair of its own, in a /30
            lab.nets += 1
            lab.nodes[parent][f"v{i}"] = [f"10.{lab.nets}.0.1/30"]
            lab.nodes[me]["eth0"] = [f"10.{lab.nets}.0.2/30"]
            lab.links.append(f"  - [{parent}:v{i}, {me}:eth0]")
    return lab.yaml()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labs(), st.integers(min_value=2, max_value=8))
def test_random_labs_draw_every_node_address_and_subnet_once(text: str, grid_min: int) -> None:
    checked = check_text(text, "random.yml")
    assert checked.ok, "\n".join(d.render() for d in checked.report)
    assert checked.topology is not None
    options = Options(grid_min=grid_min)
    dot = to_dot(checked.topology, checked.graph, options)
    assert to_dot(checked.topology, checked.graph, options) == dot
    for node in checked.topology.nodes:
        assert dot.count(f"\n\t{node.name} [label=") + dot.count(f"\n\t\t{node.name} [label=") == 1, node.name
        for a in node.addresses:
            assert str(a) in dot
    for seg in tg.segments(checked.topology):
        for net in seg.subnets:
            assert dot.count(f'COLOR="{style.SUBNET}">{net}<') == 1, f"{seg.name}: {net}"
