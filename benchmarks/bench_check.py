"""Benchmark `topograph check`'s stages on growing labs, and show whether the cost grows linearly.

    python benchmarks/bench_check.py                  # stars and point-to-point fans of 500, 2000, 8000
    python benchmarks/bench_check.py --sizes 1000 4000 --repeat 1
    python benchmarks/bench_check.py --limit           # `topograph check` on files at the size limit

Two shapes: a star (N namespaces on one bridge, one subnet: benchmarks/labs.py) and a fan (the host
with N veth pairs, each its own /30 — N L2 segments, the worst case for the subnet-overlap check).
For each it prints the best time of the whole check and the ratio to the previous size: about the size
ratio for linear growth, its square for quadratic growth.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.labs import star
from topograph.front.reader import MAX_BYTES
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


def flow_list(size: int) -> str:
    """`a: [1, 1, ...]` of exactly `size` bytes: the most values per byte a topology-shaped mistake has."""
    head, tail = "a: [", "1]\n"
    text = head + "1, " * ((size - len(head) - len(tail)) // 3) + tail
    return text + " " * (size - len(text))


def star_of_size(size: int) -> str:
    """The biggest star (benchmarks/labs.py) of at most `size` bytes."""
    n = int(10_000 * size / len(star(10_000)))
    while len(text := star(n)) > size:
        n -= 50
    return text


def run_check(path: Path) -> tuple[float, int]:
    """Wall time and peak memory (bytes) of `python -m topograph check PATH` in a process of its own."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "topograph", "check", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss * 1024


def at_the_limit() -> None:
    """What a file at MAX_BYTES costs: the worst shape, a real lab of that size, and a 10,000-namespace star."""
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("star(10000), the yardstick", star(10_000)), (f"star of {MAX_BYTES:,} bytes", star_of_size(MAX_BYTES)),
                 (f"flow list of {MAX_BYTES:,} bytes", flow_list(MAX_BYTES)),
                 (f"flow list of {MAX_BYTES + 1:,} bytes (refused)", flow_list(MAX_BYTES + 1))]
        base: tuple[float, int] | None = None
        for name, text in cases:
            path = Path(tmp) / "lab.yml"
            path.write_text(text)
            seconds, peak = run_check(path)
            base = base or (seconds, peak)
            print(f"check {name:45} {len(text.encode()):>10,} B  {seconds:6.2f} s  {peak / 2**20:7.0f} MiB"
                  f"  (x{seconds / base[0]:.1f} time, x{peak / base[1]:.1f} memory)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 8000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", action="store_true", help="only `topograph check` on files at the size limit")
    args = parser.parse_args()
    if args.limit:
        at_the_limit()
        return
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
