"""Filters in the fast matrix (equal to the per-pair reference on filtered labs), in labgen, and in `trace`."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from topograph.cli import main
from topograph.pipeline import check_file, check_text
from topograph.sim.classes import fast_matrix
from topograph.sim.labgen import generate
from topograph.sim.matrix import ITSELF, reference_matrix, targets
from topograph.sim.network import Network, SimOptions
from topograph.sim.trace import Disposition

GOLDEN = ROOT / "tests" / "golden" / "trace" / "filters"
LAB = GOLDEN / "seed-firewall.yml"


def checked_net(text: str, options: SimOptions | None = None) -> Network:
    checked = check_text(text, "lab.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    return Network(checked.topology, options)


def same(net: Network, every: bool = True) -> list[str]:
    cols = (*targets(net.topology, every_address=every), *ITSELF)
    return fast_matrix(net, cols).differences(reference_matrix(net, cols))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6), bridge_nf=st.booleans())
def test_fast_matrix_equals_reference_on_random_filtered_labs(seed: int, bridge_nf: bool) -> None:
    assert same(checked_net(generate(seed, filters=1.0), SimOptions(bridge_nf=bridge_nf))) == []


def test_labgen_filters_are_valid_varied_and_leave_other_seeds_alone() -> None:
    assert all(generate(seed) == generate(seed, filters=0.0) for seed in range(20))
    texts = [generate(seed, filters=0.5) for seed in range(80)]
    filtered = [t for t in texts if "\n    filter:" in t]
    assert 20 <= len(filtered) <= 60  # about half of the labs
    unfiltered = {generate(seed) for seed in range(80)}
    assert all(t in unfiltered for t in texts if "\n    filter:" not in t and "listen:" not in t)
    joined = "\n".join(filtered)
    for word in ("policy: drop", "policy: accept", "input:", "forward:", "output:", "action: accept", "action: drop",
                 "action: reject", "action: reset", "from: ", "to: ", "proto: icmp", "proto: icmpv6", "proto: tcp",
                 "proto: udp", "dport: ", "sport: ", "in: ", "out: ", "state: [", "listen: [", "-"):
        assert word in joined, word
    for seed in range(80):
        report = check_text(generate(seed, filters=1.0), "g.yml").report
        assert not any(d.severity.value == "error" for d in report), (seed, [d.render() for d in report][:3])


def test_filters_change_the_verdicts_of_random_labs() -> None:
    """Not vacuous: random filters drop and reject flows in the matrix, and the matrices still agree."""
    counts: dict[Disposition, int] = {}
    for seed in range(12):
        net = checked_net(generate(seed, filters=1.0))
        for d, c in fast_matrix(net).counts().items():
            counts[d] = counts.get(d, 0) + c
    assert counts.get(Disposition.FILTER_DROPPED, 0) > 0 and counts.get(Disposition.FILTER_REJECTED, 0) > 0


HOST_RULE = """
nodes:
  r:
    forwarding: true
    bridges: {br0: 10.0.0.1/24}
    interfaces: {up0: 10.9.0.1/24}
    filter: {forward: {policy: drop, rules: [{state: [established], action: accept}, {to: 10.0.0.2, action: accept},
             {from: 10.0.0.2, action: accept}, {to: 10.9.0.2, proto: icmp, action: reject}]}}
  a: {interfaces: {eth0: 10.0.0.2/24}, routes: [{to: default, via: 10.0.0.1}]}
  b: {interfaces: {eth0: 10.0.0.3/24}, routes: [{to: default, via: 10.0.0.1}]}
  c: {interfaces: {eth0: 10.0.0.4/24}, routes: [{to: default, via: 10.0.0.1}]}
  d: {interfaces: {eth0: 10.0.0.5/24}, routes: [{to: default, via: 10.0.0.1}]}
  w: {interfaces: {eth0: 10.9.0.2/24}, routes: [{to: default, via: 10.9.0.1}]}
links:
  - [a:eth0, br0:pa]
  - [b:eth0, br0:pb]
  - [c:eth0, br0:pc]
  - [d:eth0, br0:pd]
  - [r:up0, w:eth0]
"""


def test_a_host_rule_splits_classes_next_to_other_hosts() -> None:
    """A /32 rule makes a class start at the next host's address: its representative must not be that host's."""
    net = checked_net(HOST_RULE)
    assert same(net) == []
    m = fast_matrix(net)
    col = [t.name for t in m.targets].index("w")
    assert m.verdict("a", col).disposition is Disposition.DELIVERED  # from 10.0.0.2: accepted before the reject
    assert m.verdict("b", col).disposition is Disposition.FILTER_REJECTED
    assert m.verdict("w", [t.name for t in m.targets].index("b")).disposition is Disposition.FILTER_DROPPED
    assert m.verdict("w", [t.name for t in m.targets].index("a")).disposition is Disposition.DELIVERED


def _labs() -> object:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("labs", ROOT / "benchmarks" / "labs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fast_matrix_equals_reference_on_the_filtering_gateway_lab() -> None:
    make = _labs().filtering_gateway  # type: ignore[attr-defined]
    net = checked_net(make(48, lans=6))
    assert same(net, every=False) == []
    counts = fast_matrix(net).counts()
    assert {Disposition.FILTER_DROPPED, Disposition.FILTER_REJECTED, Disposition.DELIVERED} <= set(counts)


# -- trace ---------------------------------------------------------------------------------------------------
def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


FLOWS = [
    (["red", "blue"], "red-to-blue"),
    (["blue", "lan"], "blue-to-lan-rejected"),
    (["blue", "198.51.100.8"], "blue-to-internet-masqueraded"),
    (["lan", "host:80"], "lan-to-host-80-forwarded"),
    (["lan", "192.168.1.2", "--tcp", "22"], "lan-to-host-ssh-refused"),
    (["lan", "192.168.1.2"], "lan-to-host-ping-dropped"),
    (["blue", "192.168.1.3", "--tcp", "80"], "blue-to-lan-tcp-reset"),
    (["lan", "192.168.1.2", "--udp", "1500"], "lan-to-host-udp-rejected"),
    (["red", "192.168.15.5", "--udp", "53"], "red-to-host-udp-port-unreachable"),
    (["red", "blue", "--udp", "53"], "red-to-blue-udp"),
]


@pytest.mark.parametrize(("args", "name"), FLOWS, ids=[n for _, n in FLOWS])
def test_golden_filter_trace(args: list[str], name: str, golden: Callable[[Path, str], None]) -> None:
    code, out, _ = cli("trace", str(LAB.relative_to(ROOT)), *args)
    assert code == (0 if out.splitlines()[-1].startswith("DELIVERED:") else 1)
    golden(GOLDEN / f"{name}.txt", out)


def test_trace_udp_option() -> None:
    code, out, _ = cli("trace", str(LAB), "red", "blue", "--udp", "54")
    assert code == 1 and out.splitlines()[-1] == "CONNECTION_REFUSED: blue has no listener on udp/54"
    code, _, err = cli("trace", str(LAB), "red", "blue", "--udp", "53", "--tcp", "80")
    assert code == 2 and "--tcp and --udp" in err
    code, _, err = cli("trace", str(LAB), "lan", "host:80", "--udp", "80")
    assert code == 2 and "--udp" in err


def test_udp_expectations() -> None:
    text = LAB.read_text() + ("expect:\n  - {from: red, to: blue, proto: udp, port: 53}\n"
                              "  - {from: lan, to: 192.168.1.2, proto: udp, port: 1500, reach: false}\n"
                              "  - {from: red, to: blue, proto: udp, port: 54}\n")
    checked = check_text(text, "fw.yml", expectations=True)
    errors = [d for d in checked.report if d.code == "TG410"]
    assert len(errors) == 1 and "CONNECTION_REFUSED" in errors[0].message and "--udp 54" in (errors[0].hint or "")


def test_the_golden_lab_checks() -> None:
    assert check_file(LAB).ok
