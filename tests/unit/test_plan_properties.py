"""Properties of the plan over generated labs: everything in the file is created once, nothing escapes the sandbox."""

from __future__ import annotations

import subprocess

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topograph import kernel_names
from topograph.compile import render_setup, render_teardown
from topograph.pipeline import check_text
from topograph.plan import (
    AddAddress,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    DeleteNetns,
    LinkUp,
    MarkNetns,
    SetMtu,
    plan,
    reverse,
)


@st.composite
def labs(draw: st.DrawFn) -> str:
    """A chain of namespaces joined by veth pairs, optionally a host with a bridge and an external node."""
    n = draw(st.integers(min_value=2, max_value=6))
    lines = ["lab: gen", "nodes:"]
    links = []
    for i in range(n):
        mtu = draw(st.sampled_from([None, 1400, 9000]))
        up = draw(st.booleans())
        left = f"10.{i}.0.2/30" if i > 0 else None
        right = f"10.{i + 1}.0.1/30" if i < n - 1 else None
        itfs = []
        if left:
            itfs.append(f"w{i}: {{address: {left}, up: {str(up).lower()}}}")
        if right:
            extra = f", mtu: {mtu}" if mtu else ""
            itfs.append(f"e{i}: {{address: {right}{extra}}}")
        fwd = str(draw(st.booleans())).lower()
        rpf = draw(st.sampled_from(["disabled", "loose", "strict"]))
        lines.append(f"  n{i}: {{forwarding: {fwd}, rp_filter: {rpf}, interfaces: {{{', '.join(itfs)}}}}}")
        if right:
            links.append(f"  - [n{i}:e{i}, n{i + 1}:w{i + 1}]")
    if draw(st.booleans()):
        lines += ["  gw:", "    kind: host", "    forwarding: true", "    bridges: {br0: 172.16.0.1/24}",
                  "    interfaces: {up0: 203.0.113.2/24, nic9: 198.51.100.2/24}",
                  "    nat: [{masquerade: 172.16.0.0/24, out: up0}]",
                  "  out: {kind: external, interfaces: {eth0: 203.0.113.1/24}}",
                  "  m: {interfaces: {eth0: 172.16.0.2/24}}"]
        links += ["  - [m:eth0, br0:p-m]", "  - [gw:up0, out:eth0]"]
    return "\n".join([*lines, "links:", *links, ""])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labs(), st.sampled_from(["s-", "lab1."]))
def test_sandbox_plan_creates_each_thing_once_inside_the_prefix(text: str, prefix: str) -> None:
    checked = check_text(text, "gen.yml")
    assert checked.ok and checked.topology is not None, list(checked.report)
    t = checked.topology
    p = plan(t, sandbox_prefix=prefix)
    assert p == plan(t, sandbox_prefix=prefix)
    assert p.namespaces == tuple(prefix + n.name for n in t.nodes)
    made: list[tuple[str | None, str]] = []
    for op in p.operations:
        if isinstance(op, CreateVeth):
            made += [(op.a.netns, op.a.ifname), (op.b.netns, op.b.ifname)]
        elif isinstance(op, CreateBridge | CreateStandIn):
            made.append((op.netns, op.ifname))
    expected = [(prefix + i.node, i.name) for n in t.nodes for i in n.interfaces if i.name != "lo"]
    assert sorted(made, key=str) == sorted(expected, key=str), "every interface created exactly once"
    for netns, _ in made:
        assert netns is not None and netns.startswith(prefix)
    addresses = sorted(str(op.address) for op in p.operations if isinstance(op, AddAddress))
    assert addresses == sorted(str(a) for n in t.nodes for a in n.addresses)
    ups = {(op.netns, op.ifname) for op in p.operations if isinstance(op, LinkUp)}
    assert ups == {(prefix + i.node, i.name) for n in t.nodes for i in n.interfaces if i.up and i.name != "lo"}
    mtus = {(op.ifname, op.mtu) for op in p.operations if isinstance(op, SetMtu)}
    assert mtus == {(i.name, i.mtu) for n in t.nodes for i in n.interfaces if i.mtu}
    down = reverse(p)
    assert down.operations == tuple(DeleteNetns(op.node, op.netns, kernel_names.mark(t.name, prefix))
                                    for op in reversed(p.operations) if isinstance(op, CreateNetns))
    ops = p.operations
    marks = [ops[i + 1] for i, op in enumerate(ops) if isinstance(op, CreateNetns)]
    wanted = [MarkNetns(op.node, op.netns, kernel_names.mark(t.name, prefix)) for op in ops if isinstance(op, CreateNetns)]
    assert marks == wanted, "every namespace is marked as the lab's right after it is made"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labs(), st.sampled_from([None, "s-"]), st.sampled_from(["nftables", "iptables"]))
def test_rendered_scripts_are_valid_bash(text: str, prefix: str | None, firewall: str) -> None:
    checked = check_text(text, "gen.yml")
    assert checked.topology is not None
    p = plan(checked.topology, sandbox_prefix=prefix, firewall=firewall)  # type: ignore[arg-type]
    for script in (render_setup(p), render_teardown(p)):
        done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr

