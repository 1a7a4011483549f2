"""Scan benchmark: `topograph scan` of a lab's N namespaces against `topograph status` of the same lab, in one run.

Run as root: `python benchmarks/bench_scan.py [N ...]` (default 100 1000). Each size applies the filtering
gateway of benchmarks/labs.py (N hosts on 30 bridged LANs behind routers, a core router with NAT, a port
forward and filter chains) in a sandbox of a fresh prefix, then times, alternately, the whole `status`
command and the whole `scan` command (start-up included, as subprocesses), and removes the lab, also when
a step fails. Both read every namespace of the lab; status also plans the file and compares. The scanned
file is checked to hold every namespace.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_apply import settle, wipe
from benchmarks.labs import filtering_gateway
from topograph.live import engine
from topograph.pipeline import check_file
from topograph.plan import plan

ROOT = Path(__file__).resolve().parent.parent


def run(argv: list[str], state: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "TOPOGRAPH_STATE_DIR": state}
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "topograph", *argv], capture_output=True, text=True, check=False,
                          env=env, cwd=ROOT, timeout=3600)
    return time.perf_counter() - t, done


def measure(n: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        path = str(Path(tmp) / f"gw{n}.yml")
        Path(path).write_text(filtering_gateway(n))
        topo = check_file(path).topology
        assert topo is not None
        prefix = f"bs{secrets.token_hex(3)}-"
        p = plan(topo, sandbox_prefix=prefix)
        names = list(p.namespaces)
        try:
            os.environ["TOPOGRAPH_STATE_DIR"] = tmp
            t = time.perf_counter()
            engine.apply(p, source=path)
            print(f"filtering gateway of {n} hosts ({len(names)} namespaces): applied in "
                  f"{time.perf_counter() - t:.1f} s", flush=True)
            settle()
            for r in range(runs):
                status_s, status = run(["status", "--sandbox", prefix, path], tmp)
                assert status.returncode == 0, status.stdout + status.stderr
                scan_s, scanned = run(["scan", "--sandbox", prefix], tmp)
                assert scanned.returncode == 0, scanned.stderr
                nodes = yaml.safe_load(scanned.stdout)["nodes"]
                assert len(nodes) == len(names), (len(nodes), len(names))
                print(f"  run {r + 1}: status {status_s:6.2f} s, scan {scan_s:6.2f} s: scan {scan_s / status_s:.2f}x "
                      f"the time of status ({len(nodes)} nodes, {len(scanned.stderr.splitlines())} warnings)",
                      flush=True)
        finally:
            wipe(names)
            engine.destroy(p.lab, p.prefix, p)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", type=int, nargs="*", default=[100, 1000], help="hosts of the labs to measure")
    parser.add_argument("--runs", type=int, default=3, help="status and scan runs per lab")
    args = parser.parse_args(argv)
    # a benchmark started in the background ignores SIGINT: stop on either, through the finally blocks
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for n in args.sizes:
        measure(n, args.runs)


if __name__ == "__main__":
    main(sys.argv[1:])
