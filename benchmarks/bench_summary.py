"""Benchmark: `topograph reach` on the 3,000-namespace star end to end, against `topograph check` of the same file.

    python benchmarks/bench_summary.py                  # star(3000), best of 3
    python benchmarks/bench_summary.py --full           # also reach --full and reach --json --full (slow, large)

Each command runs as its own process (`python -m topograph ...`), output to a pipe that is counted, so start-up,
loading, the matrix, summarising and printing are all in the figure. Targets: reach within 1.5x the time of
check on the same file (CPU time of the process; wall time printed beside it), and reach --json under 5 MB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.labs import star

ROOT = Path(__file__).resolve().parent.parent


def once(args: list[str]) -> tuple[float, float, int]:
    """Wall time and CPU time (user + system) of one run of the command, and the bytes it wrote on stdout.

    CPU time is what the comparison uses: on a shared machine the wall time of a second-long process moves
    by 2x with the neighbours' load, its CPU time far less.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "topograph", *args], cwd=ROOT, capture_output=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr.decode()[:500]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, len(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3000, help="namespaces in the star")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (the best counts)")
    parser.add_argument("--full", action="store_true", help="also every cell: reach --full and --json --full")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab = Path(tmp) / "star.yml"
        lab.write_text(star(args.size))
        print(f"star({args.size}): best of {args.repeat} interleaved runs, each command a process of its own")
        commands = {"check": ["check", str(lab)], "reach": ["reach", str(lab)],
                    "reach --json": ["reach", str(lab), "--json"]}
        wall = dict.fromkeys(commands, float("inf"))
        cpu = dict.fromkeys(commands, float("inf"))
        size = dict.fromkeys(commands, 0)
        for _ in range(args.repeat):  # interleaved, so that the machine's drift hits every command alike
            for name, argv in commands.items():
                w, c, size[name] = once(argv)
                wall[name], cpu[name] = min(wall[name], w), min(cpu[name], c)
        print(f"  {'':<20} {'cpu':>7} {'wall':>7}")
        print(f"  {'check':<20} {cpu['check']:6.2f}s {wall['check']:6.2f}s")
        for name in ("reach", "reach --json"):
            print(f"  {name:<20} {cpu[name]:6.2f}s {wall[name]:6.2f}s   {cpu[name] / cpu['check']:5.2f}x check (cpu)   "
                  f"{wall[name] / wall['check']:5.2f}x (wall)   {size[name] / 1e6:6.2f} MB")
        if args.full:
            for name, extra in (("reach --full", ["--full"]), ("reach --json --full", ["--json", "--full"])):
                w, c, n = once(["reach", str(lab), *extra])
                print(f"  {name:<20} {c:6.2f}s {w:6.2f}s   {c / cpu['check']:5.2f}x check (cpu)   "
                      f"{w / wall['check']:5.2f}x (wall)   {n / 1e6:6.2f} MB   (one run)")


if __name__ == "__main__":
    main()
