"""The compiled sandbox scripts, run for real: every sample's expectations hold with real traffic."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES
from tests.live.conftest import Sandbox
from topograph.compile import render_setup, render_teardown
from topograph.model import Expectation, IPAddress, Proto, Topology
from topograph.pipeline import check_file
from topograph.plan import SECTIONS, AddRoute, Plan, plan

pytestmark = pytest.mark.live

SEED = ROOT / "samples" / "06-port-forward.yml"


def load(path: Path) -> Topology:
    checked = check_file(path)
    assert checked.ok and checked.topology is not None
    return checked.topology


def destination(t: Topology, e: Expectation) -> IPAddress | None:
    """`to: NODE` means the node's first address outside loopback, in file order (None: it has none)."""
    if e.dst_address is not None:
        return e.dst_address
    assert e.dst_node is not None
    return t.node(e.dst_node).primary_address


def listener_for(t: Topology, e: Expectation, dst: IPAddress) -> tuple[str, IPAddress, int] | None:
    """Where a TCP expectation's server listens: the port forward's target, or the destination itself."""
    assert e.port is not None
    owner = t.owner_of(dst)
    if owner is None:
        return None
    for fwd in t.node(owner.node).port_forwards:
        if fwd.proto is e.proto and fwd.port == e.port:
            target = t.owner_of(fwd.to_address)
            return (target.node, fwd.to_address, fwd.to_port) if target is not None else None
    return owner.node, dst, e.port


def up(sb: Sandbox, t: Topology, *, firewall: str = "nftables") -> Plan:
    p = plan(t, sandbox_prefix=sb.prefix, firewall=firewall)  # type: ignore[arg-type]
    sb.claim_plan(p)
    done = sb.script(render_setup(p))
    assert done.returncode == 0, f"setup failed:\n{done.stderr}"
    assert set(p.namespaces) <= set(sb.left())
    return p


def down(sb: Sandbox, p: Plan) -> None:
    done = sb.script(render_teardown(p))
    assert done.returncode == 0, f"teardown failed:\n{done.stderr}"
    assert sb.left() == [], "teardown left namespaces behind"


def check_expectation(sb: Sandbox, t: Topology, e: Expectation) -> str | None:
    """None when the kernel agrees with the expectation, else what happened."""
    src = sb.prefix + e.src
    dst = destination(t, e)
    if dst is None:  # a node without an address cannot be reached by anything
        return f"{e}: {e.dst_node} has no address to reach" if e.reach else None
    if e.proto is Proto.ICMP:
        got = sb.ping(src, dst, tries=3 if e.reach else 1)
    else:
        assert e.port is not None
        where = listener_for(t, e, dst)
        if where is not None:
            node, address, port = where
            sb.listen_tcp(sb.prefix + node, address, port, banner=f"{node}:{port}")
        banner = sb.tcp_connect(src, dst, e.port, tries=2 if e.reach else 1)
        got = banner is not None
        if got and where is not None and banner != f"{where[0]}:{where[2]}":
            return f"{e}: reached {banner!r} instead of {where[0]}:{where[2]}"
    if got != e.reach:
        return f"{e}: {'reached' if got else 'did not reach'} {dst}" + (f" ({e.note})" if e.note else "")
    return None


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_expectations_hold_in_the_sandbox(sandbox: Sandbox, sample: Path) -> None:
    t = load(sample)
    p = up(sandbox, t)
    failures = [f for e in t.expectations if (f := check_expectation(sandbox, t, e)) is not None]
    assert not failures, "\n".join(failures)
    down(sandbox, p)


def test_seed_with_the_iptables_back_end(sandbox: Sandbox) -> None:
    t = load(SEED)
    p = up(sandbox, t, firewall="iptables")
    rules = sandbox.exec(sandbox.prefix + "host", "iptables", "-t", "nat", "-S").stdout
    assert "-A PREROUTING -j TG-seed-PRE" in rules and "-j MASQUERADE" in rules
    failures = [f for e in t.expectations if (f := check_expectation(sandbox, t, e)) is not None]
    assert not failures, "\n".join(failures)
    down(sandbox, p)


def test_rerunning_setup_stops_before_changing_anything(sandbox: Sandbox) -> None:
    t = load(SEED)
    p = up(sandbox, t)
    host = sandbox.prefix + "host"
    before = sandbox.exec(host, "nft", "list", "ruleset").stdout
    again = sandbox.script(render_setup(p))
    assert again.returncode == 1
    assert "exists already" in again.stderr and "nothing was changed" in again.stderr
    assert "failed at line" not in again.stderr
    assert sandbox.exec(host, "nft", "list", "ruleset").stdout == before
    assert sandbox.ping(sandbox.prefix + "red", ipaddress.ip_address("192.168.15.2"))
    down(sandbox, p)


@pytest.mark.parametrize("cut", ["namespaces", "links", "addresses", "routes"])
def test_teardown_of_a_half_built_lab(sandbox: Sandbox, cut: str) -> None:
    full = plan(load(SEED), sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(full)
    last = max(i for i, op in enumerate(full.operations) if SECTIONS.index(op.SECTION) <= SECTIONS.index(cut))
    # half of the namespaces section when cut there: a setup that stopped in its first steps
    stop = last + 1 if cut != "namespaces" else 3
    half = replace(full, operations=full.operations[:stop])
    assert sandbox.script(render_setup(half)).returncode == 0
    assert sandbox.left()
    down(sandbox, full)


def test_teardown_of_an_absent_lab_and_twice(sandbox: Sandbox) -> None:
    p = plan(load(SEED), sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(p)
    down(sandbox, p)  # nothing there yet
    up(sandbox, load(SEED))
    down(sandbox, p)
    down(sandbox, p)


def test_a_failing_step_is_named(sandbox: Sandbox) -> None:
    p = plan(load(SEED), sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(p)
    bad = AddRoute("red", sandbox.prefix + "red", ipaddress.ip_network("10.99.0.0/16"), ipaddress.ip_address("10.98.0.1"))
    done = sandbox.script(render_setup(replace(p, operations=(*p.operations, bad))))
    assert done.returncode != 0
    assert "failed at line" in done.stderr and f"ip -n {sandbox.prefix}red route add 10.99.0.0/16 via 10.98.0.1" in done.stderr
    assert "teardown script" in done.stderr
    down(sandbox, p)
