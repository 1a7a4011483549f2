"""The simulator against the kernel: every sample and N seeded random labs, built with the compiled sandbox
script, every ordered pair pinged (every address, IPv4 and IPv6) and every port forward connected to, and
every node pinging and connecting to 0.0.0.0 and :: (the kernel takes both for the node itself); each
observation must equal the prediction.

Random labs: TOPOGRAPH_DIFF_COUNT (default 5) labs from seed TOPOGRAPH_DIFF_SEED (default 1000).
A disagreement is a model bug: fix the model, and save the lab under tests/golden/trace/regressions/.

The simulator predicts each flow on its own, from a fresh lab. All flows run in parallel first; the flows
whose result differs are measured again one by one after the lab's neighbour and route caches are flushed
(once per lab), because flows in parallel teach each other's nodes neighbours (Linux learns the sender of
every ARP request it answers) and that can carry a packet its own ARP could not. A flow that still differs
is measured once more right after a flush of its own before it counts as a disagreement: the flows measured
before it in that pass may have taught the nodes neighbours too.
"""

from __future__ import annotations

import os
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES
from tests.live.conftest import Sandbox
from topograph.compile import render_setup, render_teardown
from topograph.model import Proto, Topology
from topograph.pipeline import check_file, check_text
from topograph.plan import plan
from topograph.sim.classes import fast_matrix
from topograph.sim.forward import Walker
from topograph.sim.labgen import generate
from topograph.sim.matrix import ITSELF, Target, targets
from topograph.sim.network import Network
from topograph.sim.trace import render

pytestmark = pytest.mark.live

REGRESSIONS = sorted((ROOT / "tests" / "golden" / "trace" / "regressions").glob("*.yml"))
COUNT = int(os.environ.get("TOPOGRAPH_DIFF_COUNT", "5"))
FIRST_SEED = int(os.environ.get("TOPOGRAPH_DIFF_SEED", "1000"))


def _load(case: Path | int) -> tuple[Topology, str]:
    if isinstance(case, Path):
        checked = check_file(case)
        text = case.read_text()
    else:
        text = generate(case)
        checked = check_text(text, f"gen{case}.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report]
    return checked.topology, text


def _observe(sb: Sandbox, src: str, t: Target) -> bool:
    """Does the kernel let `src` reach the target? A failure is tried once more (ICMP errors are rate limited)."""
    ns = sb.prefix + src
    for _ in range(2):
        if t.proto is Proto.ICMP:
            ok = sb.exec(ns, "ping", "-n", "-c1", "-W1", str(t.address)).returncode == 0
        else:
            assert t.port is not None
            ok = sb.tcp_connect(ns, t.address, t.port, tries=1, timeout=1.5) is not None
        if ok:
            return True
    return False


def _itself_tcp(net: Network) -> tuple[Target, ...]:
    """TCP to 0.0.0.0:PORT and [::]:PORT for each listening port: the kernel connects a node to its own listener
    (on ::, as _differential opens them), so only the nodes listening on PORT reach it. ICMP columns: ITSELF."""
    udp = {port for _node, proto, port in net.listeners if proto is not Proto.TCP}  # opened as TCP here too
    ports = sorted({port for _node, proto, port in net.listeners if proto is Proto.TCP} - udp)
    return tuple(Target(f"{t.name if t.address.version == 4 else f'[{t.name}]'}:{port}", "", t.address, Proto.TCP, port)
                 for port in ports for t in ITSELF)


def _flush_caches(sb: Sandbox, net: Network) -> None:
    """Forget every neighbour and cached route the lab's nodes learnt (one script for the whole lab)."""
    lines = [f"ip -n {shlex.quote(sb.prefix + node)} {family} {what} flush {arg}"
             for node in sorted(net.nodes) for family in ("-4", "-6")
             for what, arg in (("neigh", "all"), ("route", "cache"))]
    sb.script("\n".join(lines) + "\n")  # failures do not matter: a namespace without neighbours has nothing to flush


def _differential(sb: Sandbox, case: Path | int) -> None:
    topology, text = _load(case)
    net = Network(topology)
    cols = (*targets(topology, every_address=True), *ITSELF, *_itself_tcp(net))
    predicted = fast_matrix(net, cols)  # what check and reach use; equal to the per-pair walker (unit tests)
    p = plan(topology, sandbox_prefix=sb.prefix)
    sb.claim_plan(p)
    done = sb.script(render_setup(p))
    assert done.returncode == 0, f"setup failed:\n{done.stderr}"
    for node, _proto, port in sorted(net.listeners):
        sb.listen_tcp(sb.prefix + node, "::", port, banner=f"{node}:{port}")  # dual stack: IPv4 too
    time.sleep(1.5)  # let freshly raised links settle (IPv6 is not ready at once)
    pairs = [(s, i) for s in predicted.sources for i in range(len(cols))]
    with ThreadPoolExecutor(max_workers=24) as pool:
        seen = list(pool.map(lambda pair: _observe(sb, pair[0], cols[pair[1]]), pairs))
    differ = [(s, i) for (s, i), got in zip(pairs, seen, strict=True) if predicted.verdict(s, i).ok != got]
    if differ:
        _flush_caches(sb, net)
    still = [(s, i) for s, i in differ if predicted.verdict(s, i).ok != _observe(sb, s, cols[i])]
    walker = Walker(net)
    wrong = []
    for s, i in still:
        v = predicted.verdict(s, i)
        _flush_caches(sb, net)
        got = _observe(sb, s, cols[i])
        if v.ok != got:
            result = walker.run(cols[i].flow(s))
            wrong.append(f"{s} -> {cols[i].name}: predicted {v.disposition} at {v.node}, kernel says "
                         f"{'reached' if got else 'not reached'}\n{render(result)}")
    teardown = sb.script(render_teardown(p))
    assert teardown.returncode == 0, teardown.stderr
    name = case.name if isinstance(case, Path) else f"seed {case}"
    assert not wrong, (f"{len(wrong)} of {len(pairs)} flows disagree with the kernel in {name}:\n"
                       + "\n".join(wrong[:12]) + f"\n--- the lab ---\n{text}")


@pytest.mark.parametrize("case", [*SAMPLES, *REGRESSIONS], ids=lambda p: p.stem)
def test_samples_and_regressions_match_the_kernel(sandbox: Sandbox, case: Path) -> None:
    _differential(sandbox, case)


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + COUNT))
def test_random_labs_match_the_kernel(sandbox: Sandbox, seed: int) -> None:
    _differential(sandbox, seed)
