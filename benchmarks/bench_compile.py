"""Benchmark `topograph compile`: compile time, and the compiled sandbox scripts' run and teardown times.

    python benchmarks/bench_compile.py                 # stars of 100, 300, 1000 (run) and 10,000 (compile)
    python benchmarks/bench_compile.py --sizes 100 --big 0 --no-run

For each star of N namespaces on one bridge (benchmarks/labs.py) it reports the compile time
(check + plan + render, best of --repeat), and, as root, the time the compiled `--sandbox` set-up
script takes and then its teardown script, in a unique prefix; every namespace the plan names is
deleted afterwards by exact name, whatever happens. The big star is compiled only (target < 2 s),
with its stages shown so a slow one stands out.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jinja2
import networkx as nx
import yaml

from benchmarks.labs import star
from topograph.compile import render_setup, render_teardown
from topograph.front import graph, loader, resolve, shape, validate
from topograph.front.diagnostics import Pos, Report
from topograph.pipeline import check_text
from topograph.plan import Plan, plan

TARGET_BIG_S = 2.0
T = TypeVar("T")


def best_of(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def compile_stages(text: str, prefix: str, repeat: int) -> tuple[dict[str, float], Plan, str, str]:
    """Best-of-`repeat` seconds of each stage (check, plan, render) and the scripts."""
    t_check, checked = best_of(repeat, lambda: check_text(text, "star.yml"))
    assert checked.ok and checked.topology is not None, list(checked.report)
    topology = checked.topology
    t_plan, the_plan = best_of(repeat, lambda: plan(topology, sandbox_prefix=prefix))
    t_render, setup = best_of(repeat, lambda: render_setup(the_plan))
    t_teardown, teardown = best_of(repeat, lambda: render_teardown(the_plan))
    stages = {"check": t_check, "plan": t_plan, "render setup": t_render, "render teardown": t_teardown}
    return stages, the_plan, setup, teardown


def namespaces_now() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def run_script(text: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
        f.write(text)
        f.flush()
        start = time.perf_counter()
        done = subprocess.run(["bash", f.name], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        return time.perf_counter() - start, done


def cleanup(names: tuple[str, ...]) -> None:
    """Delete, by exact name, whichever of the plan's namespaces still exist."""
    left = namespaces_now()
    for name in names:
        if name in left:
            subprocess.run(["ip", "netns", "del", name], check=False)


def live_run(the_plan: Plan, setup: str, teardown: str) -> tuple[float, float]:
    try:
        t_setup, done = run_script(setup)
        if done.returncode != 0:
            raise SystemExit(f"setup script failed:\n{done.stderr[-2000:]}")
        missing = set(the_plan.namespaces) - namespaces_now()
        if missing:
            raise SystemExit(f"setup script did not create {len(missing)} namespaces")
        t_down, done = run_script(teardown)
        if done.returncode != 0:
            raise SystemExit(f"teardown script failed:\n{done.stderr[-2000:]}")
        left = set(the_plan.namespaces) & namespaces_now()
        if left:
            raise SystemExit(f"teardown left {len(left)} namespaces")
        return t_setup, t_down
    finally:
        cleanup(the_plan.namespaces)


def main() -> None:
    gc.disable()  # as the `topograph` executable does (topograph.cli.run): the stages are timed as it runs them
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 300, 1000], help="stars to compile and run")
    parser.add_argument("--big", type=int, default=10_000, help="star to compile only (0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="compile timings: best of this many")
    parser.add_argument("--no-run", action="store_true", help="compile only; do not run the scripts")
    args = parser.parse_args()
    can_run = not args.no_run and os.geteuid() == 0
    if not args.no_run and not can_run:
        print("not root: the scripts are compiled but not run", file=sys.stderr)

    load1, _, _ = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load1:.1f} at the start (figures stretch with the load)")
    print(f"{'namespaces':>10} {'compile s':>10} {'setup s':>9} {'teardown s':>11} {'setup ms/ns':>12} "
          f"{'setup/compile':>14} {'teardown/setup':>15}")
    for n in args.sizes:
        prefix = f"bc{secrets.token_hex(3)}-"
        stages, the_plan, setup, teardown = compile_stages(star(n), prefix, args.repeat)
        compile_s = stages["check"] + stages["plan"] + stages["render setup"]
        if can_run:
            t_setup, t_down = live_run(the_plan, setup, teardown)
            print(f"{n:>10} {compile_s:>10.3f} {t_setup:>9.2f} {t_down:>11.2f} {1000 * t_setup / n:>12.2f} "
                  f"{t_setup / compile_s:>13.0f}x {t_down / t_setup:>15.2f}")
        else:
            print(f"{n:>10} {compile_s:>10.3f} {'-':>9} {'-':>11}")

    if args.big:
        stages, the_plan, setup, _ = compile_stages(star(args.big), "bc-", args.repeat)
        total = stages["check"] + stages["plan"] + stages["render setup"]
        print(f"\ncompile of a {args.big:,}-namespace star: {total:.3f} s "
              f"(target < {TARGET_BIG_S:.0f} s: {'met' if total < TARGET_BIG_S else 'NOT met'}, "
              f"{total / TARGET_BIG_S:.2f} of the target); {len(the_plan.operations):,} operations, "
              f"{len(setup) / 1e6:.1f} MB of script")
        for name, seconds in stages.items():
            print(f"  {name:<16} {seconds:7.3f} s  {100 * seconds / total:5.1f}%")
        text = star(args.big)
        print("  inside check:")
        for name, seconds in check_stages(text, args.repeat).items():
            print(f"    {name:<14} {seconds:7.3f} s")
        floor, _ = best_of(args.repeat, lambda: yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
        print(f"  for scale: a bare yaml.load of the same text takes {floor:.3f} s")
        print("  what the libraries alone cost for the same amount of work (floors; topograph adds its own logic on top):")
        found = floors(text, the_plan, setup, args.repeat)
        for name, seconds in found.items():
            print(f"    {name:<58} {seconds:7.3f} s")
        print(f"    {'sum of the floors':<58} {sum(found.values()):7.3f} s")
        wall = cli_wall(text, args.repeat)
        print(f"  the command itself, `python -m topograph compile --sandbox bc- FILE` in a fresh process (start-up "
              f"and imports included), best of {args.repeat}: {wall:.3f} s wall (target < {TARGET_BIG_S:.0f} s: "
              f"{'met' if wall < TARGET_BIG_S else 'NOT met'})")


def floors(text: str, the_plan: Plan, setup: str, repeat: int) -> dict[str, float]:
    """Lower bounds set by the libraries and the interpreter on this machine, each measured on the same lab."""
    def fresh(code: str) -> float:
        return min(_timed_process([sys.executable, "-c", code]) for _ in range(repeat))

    start_up = fresh("pass")
    imports = fresh("import click, jinja2, networkx, pydantic, yaml") - start_up
    events, _ = best_of(repeat, lambda: sum(1 for _ in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))))
    checked = check_text(text, "star.yml")
    assert checked.topology is not None
    topology = checked.topology
    t_graph, l2 = best_of(repeat, lambda: graph.l2_graph(topology))
    t_parts, _ = best_of(repeat, lambda: list(nx.connected_components(l2)))
    ops = the_plan.operations
    lines = setup.count("\n")
    env = jinja2.Environment()
    one_line = env.from_string("{% macro op(o) %}ip -n {{ o.node }} link set {{ o.node }} up{% endmacro %}").module
    macro = getattr(one_line, "op")  # noqa: B009 - a template module's macros are attributes mypy cannot see
    t_jinja, _ = best_of(repeat, lambda: "\n".join(str(macro(o)) for o in ops))
    t_objects, _ = best_of(repeat, lambda: [Pos("star.yml", i, i) for i in range(len(ops) + 3 * len(topology.nodes))])
    return {
        "interpreter start-up (python -c pass)": start_up,
        "importing click, jinja2, networkx, pydantic, yaml": imports,
        "YAML parse events only (libyaml; positions need them)": events,
        f"networkx graph of the lab's interfaces ({l2.number_of_nodes():,} vertices; validation needs it)": t_graph,
        "its connected components: the L2 segments (networkx)": t_parts,
        f"one trivial jinja2 macro call per operation ({len(ops):,}; {lines:,} lines)": t_jinja,
        f"one small immutable record (a Pos) per op and 3 per node ({len(ops) + 3 * len(topology.nodes):,})": t_objects,
    }


def _timed_process(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def cli_wall(text: str, repeat: int) -> float:
    """Best wall time of the real command on `text`, output discarded."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write(text)
        f.flush()
        command = [sys.executable, "-m", "topograph", "compile", "--sandbox", "bc-", f.name]

        def run() -> float:
            start = time.perf_counter()
            subprocess.run(command, cwd=root, stdout=subprocess.DEVNULL, check=True)
            return time.perf_counter() - start

        return min(run() for _ in range(repeat))


def check_stages(text: str, repeat: int) -> dict[str, float]:
    t_load, source = best_of(repeat, lambda: loader.load_text(text, "star.yml", Report()))
    assert source is not None
    t_shape, document = best_of(repeat, lambda: shape.shape(source, Report()))
    assert document is not None
    t_build, topology = best_of(repeat, lambda: resolve.build(source, document, Report()))

    def run_validate() -> bool:
        validate.validate(topology, graph.l2_graph(topology), Report())
        return True

    t_validate, _ = best_of(repeat, run_validate)
    return {"load (YAML)": t_load, "shape": t_shape, "build": t_build, "validate": t_validate}


if __name__ == "__main__":
    main()
