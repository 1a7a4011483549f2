"""Benchmark `topograph check`'s stages on growing labs, and show whether the cost grows linearly.

    python benchmarks/bench_check.py                  # stars and point-to-point fans of 500, 2000, 8000
    python benchmarks/bench_check.py --sizes 1000 4000 --repeat 1

Two shapes: a star (N namespaces on one bridge, one subnet: benchmarks/labs.py) and a fan (the host
with N veth pairs, each its own /30 — N L2 segments, the worst case for the subnet-overlap check).
For each it prints the best time of the whole check and the ratio to the previous size: about the size
ratio for linear growth, its square for quadratic growth.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.labs import star
from topograph.pipeline import check_text


def fan(n: int) -> str:
    """The host with N veth pairs to N namespaces, each pair its own /30."""
    own = [f"      v{i}: 10.{i // 16384}.{i // 64 % 256}.{i % 64 * 4 + 1}/30" for i in range(n)]
    peers = [f"  n{i}: {{interfaces: {{e: 10.{i // 16384}.{i // 64 % 256}.{i % 64 * 4 + 2}/30}}}}" for i in range(n)]
    links = [f"  - [host:v{i}, n{i}:e]" for i in range(n)]
    return "\n".join(["lab: fan", "nodes:", "  host:", "    kind: host", "    interfaces:", *own, *peers,
                      "links:", *links, ""])


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 8000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for shape, make in (("star", star), ("fan", fan)):
        previous: tuple[int, float] | None = None
        for n in args.sizes:
            text = make(n)
            result = check_text(text, f"{shape}.yml")
            if not result.ok:
                raise SystemExit(f"{shape}({n}) does not check:\n" + "\n".join(d.render() for d in result.report))
            seconds = best(args.repeat, partial(check_text, text, f"{shape}.yml"))
            growth = ""
            if previous is not None:
                size_ratio, time_ratio = n / previous[0], seconds / previous[1]
                growth = f"  x{time_ratio:.1f} time for x{size_ratio:.0f} size"
            print(f"check {shape:4} n={n:6}: {seconds:7.3f} s{growth}")
            previous = (n, seconds)


if __name__ == "__main__":
    main()
