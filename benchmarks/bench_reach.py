"""Benchmark: the full reachability matrix by destination classes against the per-pair reference walker.

    python benchmarks/bench_reach.py            # star, routed and filtering-gateway labs of 300 and 3,000 namespaces
    python benchmarks/bench_reach.py --full     # also the complete per-pair run at 3,000 (minutes)

For each lab: load time (check_file's stages), the fast matrix (both directions: request and reply, NAT
included), and the per-pair walker on the same cells. At 300 namespaces the per-pair run covers the whole
matrix; at 3,000 it covers a random sample of sources (all targets) unless --full, and its full time is
extrapolated from the sample. The answers are asserted identical on every cell both computed.
Targets: the 3,000-namespace matrix in under 2 s, at least 100x faster than per pair.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.labs import filtering_gateway, routed, star
from topograph.pipeline import check_text
from topograph.sim.classes import fast_matrix
from topograph.sim.matrix import reference_matrix, targets
from topograph.sim.network import Network

__all__ = ["bench", "main", "routed", "star_nat"]  # routed lives in labs.py now; bench_failures imports it from here


def star_nat(n: int) -> str:
    """star(n) plus an uplink from the host to an 'internet' namespace, MASQUERADE and a port forward."""
    text = star(n, name="star-nat")
    text = text.replace("    bridges: {br0: 10.0.0.1/16}",
                        "    bridges: {br0: 10.0.0.1/16}\n    interfaces: {wan0: 203.0.113.2/24}\n"
                        "    routes: [{to: default, via: 203.0.113.1}]\n"
                        "    nat: [{masquerade: 10.0.0.0/16, out: wan0}]\n"
                        "    port_forwards: [{proto: tcp, port: 80, to: '10.0.0.2:80'}]")
    text = text.replace("links:\n", "  internet: {interfaces: {eth0: 203.0.113.1/24, lo: 198.51.100.8/32}}\n"
                                    "links:\n  - [host:wan0, internet:eth0]\n")
    return text


T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench(name: str, text: str, *, sample: int | None, full: bool) -> None:
    load_s, checked = timed(lambda: check_text(text, f"{name}.yml"))
    assert checked.ok and checked.topology is not None, [d.render() for d in checked.report][:5]
    topology = checked.topology
    net_s, net = timed(lambda: Network(topology))
    cols = targets(topology)
    fast_s, fast = timed(lambda: fast_matrix(net, cols))
    sources = list(net.nodes)
    chosen = sources if full or sample is None or sample >= len(sources) else sorted(
        random.Random(1).sample(sources, sample), key=sources.index)
    ref_s, ref = timed(lambda: reference_matrix(net, cols, chosen))
    cells = len(chosen) * len(cols)
    per_pair_full = ref_s * len(sources) / len(chosen)
    mismatch = [(s, t.name) for s in chosen for i, t in enumerate(cols)
                if fast.verdict(s, i) != ref.verdict(s, i)]
    assert not mismatch, f"{name}: fast and per-pair differ on {len(mismatch)} cells, e.g. {mismatch[:5]}"
    how = "measured" if len(chosen) == len(sources) else f"extrapolated from {len(chosen)} sources"
    counts = ", ".join(f"{d.name} {c}" for d, c in sorted(fast.counts().items()))
    print(f"{name}: {len(sources)} nodes x {len(cols)} targets = {len(sources) * len(cols):,} cells")
    print(f"  load (check_text) {load_s:6.2f} s   network indexes {net_s:5.2f} s")
    print(f"  fast matrix       {fast_s:6.2f} s   (both directions, NAT included)")
    print(f"  per-pair walker   {per_pair_full:6.2f} s   ({how}; {cells:,} cells run in {ref_s:.2f} s)")
    print(f"  speed-up          {per_pair_full / fast_s:6.0f}x   identical on all {cells:,} compared cells")
    print(f"  outcome           {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the complete per-pair matrix at 3,000 too")
    parser.add_argument("--sizes", default="300,3000", help="namespace counts (comma separated)")
    parser.add_argument("--sample", type=int, default=40, help="sources sampled for per-pair above 300 namespaces")
    parser.add_argument("--labs", default="star,star-nat,routed,filtering-gateway", help="labs to run (comma separated)")
    args = parser.parse_args()
    chosen = set(args.labs.split(","))
    for n in (int(x) for x in args.sizes.split(",")):
        sample = None if n <= 300 else args.sample
        for name, text in ((f"star({n})", star(n)), (f"star-nat({n})", star_nat(n)), (f"routed({n})", routed(n)),
                           (f"filtering-gateway({n})", filtering_gateway(n))):
            if name.split("(")[0] not in chosen:
                continue
            bench(name, text, sample=sample, full=args.full)


if __name__ == "__main__":
    main()
