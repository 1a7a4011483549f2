"""The simulator against the kernel: every sample and N seeded random labs, built with the compiled sandbox
script; every ordered pair pinged (every address, IPv4 and IPv6), every port forward connected to, every
listener (`listen:` and a port forward's target) connected to over TCP or exchanged with over UDP at each of
its node's addresses, every port a filter rule names tried at each node, every flow of the file's `expect:`
tried, and every node pinging and connecting to 0.0.0.0 and :: (the kernel takes both for the node itself).

Each observation must fit the prediction (tests/live/probes.py): DELIVERED is reached; FILTER_REJECTED and
CONNECTION_REFUSED are refused at once (an ICMP port unreachable or a TCP reset came back); FILTER_DROPPED is
silence (a time-out; or, for UDP, a send its own output chain refused); any other disposition is not reached.

Random labs: TOPOGRAPH_DIFF_COUNT (default 5) labs from seed TOPOGRAPH_DIFF_SEED (default 1000); a share
TOPOGRAPH_DIFF_FILTERS (default 1: all) of them with random filter chains and listeners. A disagreement is
a model bug: fix the model, and save the lab under tests/golden/trace/regressions/.

A node without `bridge_netfilter` gets the kernel's value, on wherever br_netfilter is loaded: the prediction
follows whether it is (/proc/sys/net/bridge), and a lab with `bridge_netfilter: true` where it matters is
skipped where it is not (loading a module is a machine change).

The simulator predicts each flow on its own, from a fresh lab. All flows run in parallel first; the flows
whose result differs are measured again one by one after the lab's neighbour and route caches are flushed
(once per lab), because flows in parallel teach each other's nodes neighbours (Linux learns the sender of
every ARP request it answers) and that can carry a packet its own ARP could not. A flow that still differs
is measured once more right after a flush of its own before it counts as a disagreement: the flows measured
before it in that pass may have taught the nodes neighbours too. The lab's namespaces send ICMP errors
without rate limits (set by this test, not by the plan): a reject answering many probes at once would
otherwise go quiet and look like a drop.
"""

from __future__ import annotations

import os
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES
from tests.live.conftest import Sandbox, without_services
from tests.live.probes import Seen, expected, probe
from topograph.compile import render_setup, render_teardown
from topograph.model import LOOPBACK, Proto, Topology
from topograph.pipeline import check_file, check_text
from topograph.plan import plan
from topograph.sim.classes import fast_matrix
from topograph.sim.forward import CLIENT_PORT, Walker
from topograph.sim.labgen import generate
from topograph.sim.matrix import ITSELF, Target, targets
from topograph.sim.network import Network, SimOptions
from topograph.sim.trace import Disposition, render

pytestmark = pytest.mark.live

REGRESSIONS = sorted((ROOT / "tests" / "golden" / "trace" / "regressions").glob("*.yml"))
COUNT = int(os.environ.get("TOPOGRAPH_DIFF_COUNT", "5"))
FIRST_SEED = int(os.environ.get("TOPOGRAPH_DIFF_SEED", "1000"))
#: The share of random labs whose nodes labgen gives random filter chains and listeners.
FILTERS = float(os.environ.get("TOPOGRAPH_DIFF_FILTERS", "1.0"))
#: Is br_netfilter loaded here? Its default (on in every new namespace) is what a node without `bridge_netfilter`
#: gets; without it, bridged frames never meet netfilter, and the simulator is told so.
BRIDGE_NF_LOADED = Path("/proc/sys/net/bridge").is_dir()


def _load(case: Path | int) -> tuple[Topology, str]:
    if isinstance(case, Path):
        checked = check_file(case)
        text = case.read_text()
    else:
        text = generate(case, filters=FILTERS)
        checked = check_text(text, f"gen{case}.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    return checked.topology, text


def _observe(sb: Sandbox, src: str, t: Target, want: frozenset[Seen], sport: int) -> tuple[Seen, str]:
    """What the kernel shows for `src` to the target; one more try when it does not fit `want` (a probe may be
    lost while links settle)."""
    seen = probe(sb, sb.prefix + src, t.proto, t.address, t.port, sport=sport)
    if seen[0] not in want:
        seen = probe(sb, sb.prefix + src, t.proto, t.address, t.port, sport=sport)
    return seen


def _client_ports(topology: Topology, net: Network, count: int) -> list[int]:
    """A source port per column that every rule's sport match treats as the simulator's CLIENT_PORT, different
    per column where the lab allows it: two columns that end at the same server (a port forward and its target
    asked directly) would otherwise share one connection tuple there and in conntrack, and break each other."""
    lo, hi = 1024, 65535
    for r in (r for n in topology.nodes for c in n.filter for r in c.rules if r.sport is not None):
        assert r.sport is not None
        if CLIENT_PORT in r.sport:
            lo, hi = max(lo, r.sport.first), min(hi, r.sport.last)
        elif r.sport.last < CLIENT_PORT:
            lo = max(lo, r.sport.last + 1)
        else:
            hi = min(hi, r.sport.first - 1)
    taken = {port for _node, _proto, port in net.listeners}
    ports = [p for p in (*range(CLIENT_PORT, hi + 1), *range(CLIENT_PORT - 1, lo - 1, -1)) if p not in taken][:count]
    return [ports[i % len(ports)] for i in range(count)] if ports else [CLIENT_PORT] * count


def _columns(topology: Topology, net: Network) -> tuple[Target, ...]:
    """Every address, port forward and listener, every port a filter rule names (at each node's first address),
    every expectation's flow, and 0.0.0.0 and :: for pings and for each listening port; each flow once."""
    cols = [*targets(topology, every_address=True), *ITSELF]
    for node, proto, port in sorted(net.listeners):
        cols += [Target(f"{node}[{a.ip}]:{proto}/{port}", node, a.ip, proto, port)
                 for itf in topology.node(node).interfaces if itf.name != LOOPBACK for a in itf.addresses]
    for proto, port in sorted({(proto, port) for _node, proto, port in net.listeners}):
        cols += [Target(f"{t.name}:{proto}/{port}", "", t.address, proto, port) for t in ITSELF]
    ruled = sorted({(r.proto, r.dport.first) for n in topology.nodes for c in n.filter for r in c.rules
                    if r.proto is not None and r.dport is not None})
    for proto, port in ruled:
        cols += [Target(f"{n.name}:{proto}/{port}", n.name, n.primary_address, proto, port)
                 for n in topology.nodes if n.primary_address is not None]
    cols += [Target(f"expect {e.dst} {e.proto}/{e.port}", e.dst_node or "", e.dst_address, e.proto, e.port)
             for e in topology.expectations if not e.forward and e.dst_address is not None]
    seen: set[tuple[object, ...]] = set()
    out = []
    for c in cols:
        key = (c.address, c.proto, c.port, c.candidates)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return tuple(out)


def _flush_caches(sb: Sandbox, net: Network) -> None:
    """Forget every neighbour and cached route the lab's nodes learnt (one script for the whole lab)."""
    lines = [f"ip -n {shlex.quote(sb.prefix + node)} {family} {what} flush {arg}"
             for node in sorted(net.nodes) for family in ("-4", "-6")
             for what, arg in (("neigh", "all"), ("route", "cache"))]
    sb.script("\n".join(lines) + "\n")  # failures do not matter: a namespace without neighbours has nothing to flush


def _unlimit_icmp_errors(sb: Sandbox, namespaces: tuple[str, ...]) -> None:
    """Let the lab's namespaces send every ICMP error (and ICMPv6 error) at once: no per-peer or global rate
    limit. Only the lab's own namespaces; `-e` leaves out a key an older kernel lacks."""
    keys = ("net.ipv4.icmp_ratemask=0 net.ipv6.icmp.ratelimit=0 net.ipv4.icmp_msgs_per_sec=100000 "
            "net.ipv4.icmp_msgs_burst=100000")
    done = sb.script("".join(f"ip netns exec {shlex.quote(ns)} sysctl -q -e -w {keys}\n" for ns in namespaces))
    assert done.returncode == 0, done.stderr


def _differential(sb: Sandbox, case: Path | int) -> None:
    topology, text = _load(case)
    net = Network(topology, SimOptions(bridge_nf=BRIDGE_NF_LOADED))
    if net.nf_bridges and not BRIDGE_NF_LOADED:
        pytest.skip(f"br_netfilter is not loaded on this machine (no /proc/sys/net/bridge), so bridge_netfilter: true "
                    f"on {', '.join(sorted(net.nf_bridges))} cannot hold; loading it is a machine change")
    cols = _columns(topology, net)
    predicted = fast_matrix(net, cols)  # what check and reach use; equal to the per-pair walker (unit tests)
    # without the lab's services (run:): the test's own listeners stand for every `listen:` entry, each
    # answering with a banner that names it (a service's port is probed through the service by verify, and
    # tests/live/test_services_live.py holds the services themselves)
    p = without_services(plan(topology, sandbox_prefix=sb.prefix))
    sb.claim_plan(p)
    done = sb.script(render_setup(p))
    assert done.returncode == 0, f"setup failed:\n{done.stderr}"
    _unlimit_icmp_errors(sb, tuple(p.namespaces))
    for node, proto, port in sorted(net.listeners):
        if proto is Proto.UDP:
            sb.listen_udp(sb.prefix + node, port, banner=f"{node}:{port}")
        else:
            sb.listen_tcp(sb.prefix + node, "::", port, banner=f"{node}:{port}")  # dual stack: IPv4 too
    time.sleep(1.5)  # let freshly raised links settle (IPv6 is not ready at once)
    pairs = [(s, i) for s in predicted.sources for i in range(len(cols))]
    verdicts = {(s, i): predicted.verdict(s, i) for s, i in pairs}
    want = {(s, i): expected(v.disposition, at_source=v.node == s) for (s, i), v in verdicts.items()}
    sports = _client_ports(topology, net, len(cols))
    with ThreadPoolExecutor(max_workers=48) as pool:  # most probes wait for a time-out, few use the CPU
        seen = list(pool.map(lambda pair: _observe(sb, pair[0], cols[pair[1]], want[pair], sports[pair[1]]), pairs))
    differ = [pair for pair, got in zip(pairs, seen, strict=True) if got[0] not in want[pair]]
    if differ:
        _flush_caches(sb, net)
    still = [(s, i) for s, i in differ if _observe(sb, s, cols[i], want[s, i], sports[i])[0] not in want[s, i]]
    walker = Walker(net)
    wrong = []
    for s, i in still:
        v = verdicts[s, i]
        _flush_caches(sb, net)
        got, detail = _observe(sb, s, cols[i], want[s, i], sports[i])
        if got not in want[s, i]:
            result = walker.run(cols[i].flow(s))
            wrong.append(f"{s} -> {cols[i].name} ({cols[i].proto}{'/' + str(cols[i].port) if cols[i].port else ''}):"
                         f" predicted {v.disposition} at {v.node}, kernel shows {got}"
                         f"{' (' + detail + ')' if detail else ''}\n{render(result)}")
    teardown = sb.script(render_teardown(p))
    assert teardown.returncode == 0, teardown.stderr
    name = case.name if isinstance(case, Path) else f"seed {case}"
    filtered = sum(1 for v in verdicts.values() if v.disposition in (Disposition.FILTER_DROPPED, Disposition.FILTER_REJECTED))
    print(f"\n{name}: {len(pairs)} flows, {filtered} of them stopped by a filter, {len(wrong)} disagree")
    assert not wrong, (f"{len(wrong)} of {len(pairs)} flows disagree with the kernel in {name}:\n"
                       + "\n".join(wrong[:12]) + f"\n--- the lab ---\n{text}")


@pytest.mark.parametrize("case", [*SAMPLES, *REGRESSIONS], ids=lambda p: p.stem)
def test_samples_and_regressions_match_the_kernel(sandbox: Sandbox, case: Path) -> None:
    _differential(sandbox, case)


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + COUNT))
def test_random_labs_match_the_kernel(sandbox: Sandbox, seed: int) -> None:
    _differential(sandbox, seed)
