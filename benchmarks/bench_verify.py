"""Verify benchmark: `topograph verify --all` on stars against one `ip netns exec NS ping -c1 -W1 ADDR` per pair.

Run as root: `python benchmarks/bench_verify.py [N ...]` (default 50 300). Per star, in a sandbox of a fresh
prefix: apply the lab, then `--runs` times in turn: time a random sample of pairs pinged one by one the plain
way (the yardstick: the old verify's way, one process per probe; extrapolated to every pair, and said so),
then the whole command twice, counting the flows it reports as DIFFERS (a star has none: all reach): first
with its prediction worked out from the file (no remembered one: topograph.live.verify_cache), then with
the prediction that run remembered, as every later verify of an unchanged file has it (a star of more than
verify_cache.MAX_FLOWS flows is not remembered: its second run is left out). Each run's
ratio is against the yardstick measured just before it: these shared machines change speed by 2x within
minutes, so a yardstick measured once, before all runs, would compare runs made at another speed.
Everything it made is removed afterwards by exact name, also when a step fails.

The command runs as an installed topograph does: from bytecode compiled once (pip compiles it at install;
compileall here, before the timed runs). PYTHONDONTWRITEBYTECODE=1, set on the machines this was
measured on, would make every run compile topograph's sources again; `--source` measures that way,
`--also-source` both ways in turn.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_apply import settle, wipe
from benchmarks.labs import star
from topograph.live import engine, verify_cache
from topograph.live.kernel import Namespaces
from topograph.live.neighbours import Neighbours
from topograph.live.verify import probes
from topograph.model import Proto
from topograph.pipeline import check_file
from topograph.placement import place
from topograph.plan import plan

ROOT = Path(__file__).resolve().parent.parent


def baseline(pairs: list[tuple[str, str]]) -> tuple[float, int]:
    """Seconds for one plain ping per (namespace, address), one after the other; how many got no reply."""
    lost = 0
    t = time.perf_counter()
    for netns, addr in pairs:
        done = subprocess.run(["ip", "netns", "exec", netns, "ping", "-n", "-c1", "-W1", addr],
                              capture_output=True, check=False, timeout=30)
        lost += done.returncode != 0
    return time.perf_counter() - t, lost


def forget_neighbours(namespaces: list[str]) -> None:
    """Every neighbour entry the kernel learnt in the lab's namespaces forgotten (`ip neigh flush all` in each)."""
    ns = Namespaces()
    neighbours = Neighbours(ns)
    try:
        for netns in namespaces:
            neighbours.flush(netns)
    finally:
        neighbours.close()
        ns.close()


def command_env(state: str, *, bytecode: bool) -> dict[str, str]:
    """The command's environment; `bytecode`: Python may read and write compiled modules (__pycache__)."""
    env = {**os.environ, "TOPOGRAPH_STATE_DIR": state}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def compile_bytecode() -> None:
    """topograph's modules compiled once, into their __pycache__ (what pip does at install)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "topograph"], check=True, cwd=ROOT,
                   env=command_env("", bytecode=True), timeout=600)


def source_copy(into: str) -> str:
    """A copy of the package without compiled modules (Python reads a __pycache__ it finds even when told
    not to write one): the directory to run `python -m topograph` from, for the runs from source."""
    shutil.copytree(ROOT / "topograph", Path(into) / "topograph", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def verify_all(path: str, prefix: str, state: str, *, source: str | None = None) -> tuple[float, int, int, str]:
    """Seconds for `topograph verify --all`, its exit status, the flows it reports as differing, its summary;
    `source`: run the package copied there (source_copy), compiling it from source."""
    env = command_env(state, bytecode=source is None)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "topograph", "verify", "--all", "--sandbox", prefix, path],
                          capture_output=True, text=True, check=False, env=env, cwd=source or ROOT, timeout=3600)
    secs = time.perf_counter() - t
    lines = done.stdout.strip().splitlines()
    summary = lines[-1] if lines else done.stderr.strip()
    differ = sum(1 for ln in lines if re.search(r"\bDIFFERS\b", ln))
    return secs, done.returncode, differ, summary


def library_floor(state: str) -> float:
    """Seconds for an interpreter that only imports the libraries every topograph command loads (networkx, pydantic,
    click, PyYAML): the part of a run that no change to topograph's own code can remove."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import networkx, pydantic, click, yaml"], check=True,
                   env=command_env(state, bytecode=True), timeout=120)
    return time.perf_counter() - t


def measure(n: int, sample: int, runs: int, *, modes: tuple[bool, ...]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        path = str(Path(tmp) / f"star{n}.yml")
        Path(path).write_text(star(n))
        topo = check_file(path).topology
        assert topo is not None
        prefix = f"bv{secrets.token_hex(3)}-"
        src = source_copy(str(Path(tmp) / "src")) if False in modes else None
        p = plan(topo, sandbox_prefix=prefix)
        names = list(p.namespaces)
        try:
            t = time.perf_counter()
            engine.apply(p)
            print(f"star of {n} namespaces: applied in {time.perf_counter() - t:.1f} s", flush=True)
            settle()
            placement = place(topo, prefix)
            flows = probes(topo, all_pairs=True)
            pings = [(placement.netns(f.src), str(f.dst)) for f in flows if f.proto is Proto.ICMP]
            rng = random.Random(n)
            ratios: dict[str, list[float]] = {"worked out": [], "remembered": []}
            floors: list[float] = []
            for r in range(runs):
                picked = rng.sample(pings, min(sample, len(pings)))
                forget_neighbours(names)  # each measurement starts as cold as the other: no pair resolved yet
                secs, lost = baseline([(ns, a) for ns, a in picked if ns is not None])
                per_pair = secs / len(picked)
                extrapolated = per_pair * len(flows)
                print(f"  yardstick {r + 1}: {len(picked)} random pairs pinged one by one in {secs:.1f} s "
                      f"({per_pair * 1e3:.1f} ms per pair, {lost} without reply); extrapolated to all {len(flows):,} "
                      f"flows: {extrapolated:.0f} s", flush=True)
                for bytecode in modes:  # both in turn, with --also-source: each pair under the same load
                    for kind in ratios:  # the prediction worked out from the file, then remembered from that run
                        if kind == "worked out":
                            shutil.rmtree(Path(tmp) / "verify", ignore_errors=True)
                        elif not any((Path(tmp) / "verify").glob("*.json")):
                            print(f"  (not remembered: over {verify_cache.MAX_FLOWS:,} flows)", flush=True)
                            continue
                        forget_neighbours(names)
                        secs, rc, differ, summary = verify_all(path, prefix, tmp, source=None if bytecode else src)
                        how = "" if len(modes) == 1 else (" (bytecode)" if bytecode else " (source)  ")
                        ratios[kind].append(extrapolated / secs)
                        floor = library_floor(tmp)
                        floors.append(floor / secs)
                        print(f"  verify --all run {r + 1}{how}, prediction {kind:<10}: {secs:6.2f} s, exit {rc}, "
                              f"{differ} DIFFERS ({summary}); {extrapolated / secs:.1f}x the one-by-one pings; the "
                              f"libraries' import floor {floor:.2f} s right after; load average "
                              f"{os.getloadavg()[0]:.1f}", flush=True)
            for kind, got in ratios.items():
                if not got:
                    continue
                print(f"  star of {n}, prediction {kind}: {min(got):.1f}-{max(got):.1f}x the one-by-one pings over "
                      f"{len(got)} runs (median {statistics.median(got):.1f}x)", flush=True)
            print(f"  the libraries' import floor is {100 * min(floors):.0f}-{100 * max(floors):.0f}% of a run",
                  flush=True)
        finally:
            wipe(names)
            engine.destroy(p.lab, p.prefix, p)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", type=int, nargs="*", default=[50, 300], help="stars to measure")
    parser.add_argument("--sample", type=int, default=300, help="pairs pinged one by one for each run's yardstick")
    parser.add_argument("--runs", type=int, default=5, help="runs of verify --all per star")
    parser.add_argument("--source", action="store_true", help="run the command without compiled bytecode "
                        "(PYTHONDONTWRITEBYTECODE=1: its modules compiled from source every run)")
    parser.add_argument("--also-source", action="store_true", help="each run twice in turn: from bytecode, then "
                        "from source")
    args = parser.parse_args(argv)
    modes = (False,) if args.source else (True, False) if args.also_source else (True,)
    if True in modes:
        compile_bytecode()
    # a benchmark started in the background ignores SIGINT: stop on either, through the finally blocks
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for n in args.sizes:
        measure(n, args.sample, args.runs, modes=modes)


if __name__ == "__main__":
    main(sys.argv[1:])
