"""Benchmark: the sweep of every single link failure (the lab's single points of failure) against recomputing
the matrix from scratch per failure, on the 300-namespace routed lab of bench_reach.py, in one run.

    python benchmarks/bench_failures.py              # routed(300): 330 links
    python benchmarks/bench_failures.py --size 600

The lab gets expectations (each LAN's first host to the internet, to the next LAN's first host and to the
core's port forward; the internet to the port forward). Three ways over every link, each failure alone:

- sweep: topograph.sim.failures.single_failures — the model and its L2 graph kept, only the expectations'
  flows walked per failure (what `review --failures` shows);
- matrix per failure: the failed copy's whole matrix (fast_matrix), model and graph kept;
- from scratch: per failure, the file checked again, the failure applied, the network and the whole matrix
  built anew, and the expectations read from it (the yardstick).

The broken expectations are asserted identical from the sweep and from the scratch matrices.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_reach import routed
from topograph.model import Topology
from topograph.pipeline import check_text
from topograph.sim.classes import fast_matrix
from topograph.sim.failures import every_single_failure, single_failures, with_failures
from topograph.sim.matrix import Matrix, targets
from topograph.sim.network import Network


def with_expectations(text: str, lans: int = 30) -> str:
    """routed(n) plus expectations: per LAN its first host to the internet, to the next LAN's first host, and
    to the core's port forward; the internet to the port forward."""
    firsts: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith("  h") and "10." in line:
            lan = line.split("10.", 1)[1].split(".", 1)[0]
            if lan not in {x for x, _ in firsts}:
                firsts.append((lan, line.split(":", 1)[0].strip()))
    lines = ["expect:"]
    for i, (_, host) in enumerate(firsts):
        nxt = firsts[(i + 1) % len(firsts)][1]
        lines += [f"  - {{from: {host}, to: internet}}", f"  - {{from: {host}, to: {nxt}}}",
                  f"  - {{from: {host}, to: 'core:80'}}"]
    lines.append("  - {from: internet, to: 'core:80'}")
    return text + "\n".join(lines) + "\n"


def broken_in(m: Matrix, t: Topology, held: list[bool]) -> list[str]:
    """The expectations that held intact and do not in matrix `m` (each expectation's flow is a cell of it)."""
    column = {(c.name): j for j, c in enumerate(m.targets)}
    out = []
    for was, e in zip(held, t.expectations, strict=True):
        name = e.dst if e.forward else e.dst_node
        ok = m.verdict(e.src, column[str(name)]).ok
        if was and ok != e.reach:
            out.append(str(e))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300, help="namespaces in the routed lab")
    args = parser.parse_args()
    text = with_expectations(routed(args.size))
    checked = check_text(text, "routed.yml")
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report][:5]
    t, g = checked.topology, checked.graph
    links = every_single_failure(t, nodes=False)
    cols = targets(t)
    print(f"routed({args.size}): {len(t.nodes)} nodes, {len(links)} links, {len(t.expectations)} expectations, "
          f"{len(t.nodes) * len(cols):,} cells per matrix")

    t0 = time.perf_counter()
    sweep = {f.failure.name: sorted(str(v.expectation) for v in f.broken)
             for f in single_failures(t, g, candidates=links)}
    sweep_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for f in links:
        fast_matrix(Network(with_failures(t, [f]), graph=g), cols)
    kept_s = time.perf_counter() - t0

    intact = fast_matrix(Network(t, graph=g), cols)
    held = [intact.verdict(e.src, [c.name for c in cols].index(str(e.dst if e.forward else e.dst_node))).ok == e.reach
            for e in t.expectations]
    t0 = time.perf_counter()
    scratch: dict[str, list[str]] = {}
    for f in links:
        again = check_text(text, "routed.yml")
        assert again.topology is not None
        failed = with_failures(again.topology, [f.name])
        m = fast_matrix(Network(failed), targets(failed))
        broken = broken_in(m, failed, held)
        if broken:
            scratch[f.name] = sorted(broken)
    scratch_s = time.perf_counter() - t0
    assert sweep == scratch, "the sweep and the scratch matrices disagree on what a failure breaks"
    n = len(links)
    print(f"  sweep (single_failures)   {sweep_s:7.2f} s   {sweep_s / n * 1000:7.1f} ms per failure")
    print(f"  matrix per failure        {kept_s:7.2f} s   {kept_s / n * 1000:7.1f} ms per failure (model kept)")
    print(f"  from scratch per failure  {scratch_s:7.2f} s   {scratch_s / n * 1000:7.1f} ms per failure (yardstick)")
    print(f"  sweep vs from scratch     {scratch_s / sweep_s:7.1f}x faster; matrix per failure "
          f"{scratch_s / kept_s:.1f}x faster")
    print(f"  single points of failure  {len(sweep)} of {n} links break an expectation; "
          f"identical from sweep and scratch")


if __name__ == "__main__":
    main()
