"""Apply benchmark: compiled script vs `ip -batch` vs `topograph apply`, destroy, no-change re-apply, on stars.

Run as root: `python benchmarks/bench_apply.py [N ...]` (default 100 300 1000), or
`python benchmarks/bench_apply.py --pyroute2 [N]` to compare ways of using pyroute2 per namespace, or
`python benchmarks/bench_apply.py --indexes [N]` to compare picking interface indexes with letting the
kernel pick and asking, or `python benchmarks/bench_apply.py --link-local [N]` to time apply, re-apply
and status with the plan's quiet IPv6 (plan/build.py) against the same plan with link-local addresses
on (addr_gen_mode 0, the kernel's router_solicitations). Everything runs in sandbox mode under a fresh
prefix and is removed afterwards, also when a step fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from benchmarks.labs import star
from topograph.compile import render_setup, render_teardown
from topograph.live import engine
from topograph.live.kernel import Namespaces, list_netns
from topograph.pipeline import check_file
from topograph.plan import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateVeth,
    EnslavePort,
    LinkUp,
    LoopbackUp,
    MarkNetns,
    Operation,
    Plan,
    SetLinkSysctls,
    SetSysctls,
    Sysctl,
    plan,
)


def _sandboxed(netns: str | None) -> str:
    """The benchmark runs in sandbox mode, where every operation acts in a namespace of the lab."""
    if netns is None:
        raise ValueError("bench: an operation in the root namespace; the benchmark runs in sandbox mode")
    return netns


def ip_batch(p: Plan) -> list[tuple[str | None, list[str]]]:
    """The plan as `ip -batch` runs: (namespace or None for the root one, lines) in order.

    `ip -batch` cannot switch namespace per line, so there is one batch per namespace and phase:
    namespaces (root), then per namespace its sysctls (`sysctl` via `ip netns exec`, marked by a
    None-lines entry of its own), loopback and bridges, then every veth (root), then per namespace
    ports, addresses, links up and routes.
    """
    create: list[str] = []
    veths: list[str] = []
    sysctl: dict[str, str] = {}
    early: dict[str, list[str]] = {}
    late: dict[str, list[str]] = {}
    for op in p.operations:
        match op:
            case SetLinkSysctls():  # real mode only; the benchmark runs in sandbox mode
                raise ValueError("bench: no ip -batch form for per-interface sysctls in the root namespace")
            case CreateNetns():
                create.append(f"netns add {op.netns}")
            case LoopbackUp():
                early.setdefault(_sandboxed(op.netns), []).append("link set lo up")
            case MarkNetns():  # the lab's mark on the namespace's loopback, as the plan sets it
                early.setdefault(_sandboxed(op.netns), []).append(f"link set {op.ifname} alias {op.alias}")
            case SetSysctls():
                sysctl[_sandboxed(op.netns)] = "sysctl -q -e -w " + " ".join(f"{s.key}={s.value}" for s in op.values)
            case CreateBridge():
                early.setdefault(_sandboxed(op.netns), []).append(f"link add {op.ifname} type bridge")
            case CreateVeth():
                veths.append(f"link add {op.a.ifname} netns {op.a.netns} type veth peer name {op.b.ifname} "
                             f"netns {op.b.netns}")
            case EnslavePort():
                late.setdefault(_sandboxed(op.netns), []).append(f"link set {op.ifname} master {op.bridge}")
            case AddAddress():
                late.setdefault(_sandboxed(op.netns), []).append(f"addr add {op.address} dev {op.ifname}")
            case LinkUp():
                late.setdefault(_sandboxed(op.netns), []).append(f"link set {op.ifname} up")
            case AddRoute():
                late.setdefault(_sandboxed(op.netns), []).append(f"route add {op.to} via {op.via}")
            case _:
                raise ValueError(f"bench: no ip -batch form for {op.KIND}")
    runs: list[tuple[str | None, list[str]]] = [(None, create)]
    runs += [(f"sysctl:{n}", [cmd]) for n, cmd in sysctl.items()]
    runs += list(early.items())
    runs.append((None, veths))
    runs += list(late.items())
    return runs


def run_batches(runs: list[tuple[str | None, list[str]]]) -> None:
    for where, lines in runs:
        if where is not None and where.startswith("sysctl:"):
            subprocess.run(["ip", "netns", "exec", where[7:], *lines[0].split()], check=True)
            continue
        argv = ["ip", "-batch", "-"] if where is None else ["ip", "-n", where, "-batch", "-"]
        subprocess.run(argv, input="\n".join(lines) + "\n", text=True, check=True)


def wipe(names: list[str]) -> None:
    ns = Namespaces()
    try:
        existing = list_netns()
        for name in names:
            if name in existing:
                ns.delete(name)
    finally:
        ns.close()


def settle(seconds: float = 5.0) -> None:
    """Deleted namespaces are freed by the kernel afterwards, in the background: let that finish first,
    so that no measured step pays for the previous one's clean-up."""
    time.sleep(seconds)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bash(text: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
        f.write(text)
        f.flush()
        subprocess.run(["bash", f.name], check=True, stdin=subprocess.DEVNULL, capture_output=True)


def measure(n: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write(star(n))
        f.flush()
        topo = check_file(f.name).topology
    assert topo is not None
    prefix = f"b{secrets.token_hex(3)}-"
    p = plan(topo, sandbox_prefix=prefix)
    names = list(p.namespaces)
    out: dict[str, float] = {}
    try:
        out["script"] = timed(lambda: bash(render_setup(p)))
        out["script teardown"] = timed(lambda: bash(render_teardown(p)))
        settle()
        runs = ip_batch(p)
        out["ip -batch"] = timed(lambda: run_batches(runs))
        wipe(names)
        settle()
        out["apply"] = timed(lambda: engine.apply(p))
        # straight after apply, and once the kernel has settled: the plan keeps the lab quiet (no
        # link-local IPv6 chatter flooded through the bridge), so the two should now be alike
        out["re-apply, at once"] = timed(lambda: engine.apply(p))
        out["status, at once"] = timed(lambda: engine.plan_diff(p))
        settle()
        out["re-apply, settled"] = timed(lambda: engine.apply(p))
        out["status"] = timed(lambda: engine.plan_diff(p))
        out["destroy"] = timed(lambda: engine.destroy(p.lab, p.prefix, p))
    finally:
        wipe(names)
        engine.destroy(p.lab, p.prefix, p)
    return out


def with_link_local(p: Plan) -> Plan:
    """`p` with IPv6 link-local addresses on, as the kernel has them: addr_gen_mode 0 everywhere and
    router_solicitations left at the kernel's value (plan/build.py's quiet IPv6 undone)."""
    def loud(op: Operation) -> Operation:
        if not isinstance(op, SetSysctls):
            return op
        values = tuple(Sysctl(v.path, 0, v.optional) if v.path[-1] == "addr_gen_mode" else v
                       for v in op.values if v.path[-1] != "router_solicitations")
        return msgspec.structs.replace(op, values=values)

    return dataclasses.replace(p, operations=tuple(loud(op) for op in p.operations))


def link_local_ways(n: int, repeat: int) -> dict[str, dict[str, list[float]]]:
    """apply, re-apply and status at once and settled, on the star of `n` quiet and with link-local addresses,
    `repeat` times each, in turns (quiet, loud, loud, quiet...: neither always pays for the other's clean-up)."""
    out: dict[str, dict[str, list[float]]] = {"quiet (the plan)": {}, "link-local on": {}}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write(star(n))
        f.flush()
        topo = check_file(f.name).topology
    assert topo is not None
    ways: list[tuple[str, Callable[[Plan], Plan]]] = [("quiet (the plan)", lambda p: p),
                                                      ("link-local on", with_link_local)]
    for i in range(repeat):
        for label, change in ways if i % 2 == 0 else reversed(ways):
            got = _apply_twice(change(plan(topo, sandbox_prefix=f"b{secrets.token_hex(3)}-")), n)
            for key, value in got.items():
                out[label].setdefault(key, []).append(value)
    return out


def _apply_twice(p: Plan, n: int) -> dict[str, float]:
    names = list(p.namespaces)
    r: dict[str, float] = {}
    try:
        settle()
        r["apply"] = timed(lambda: engine.apply(p))
        r["re-apply, at once"] = timed(lambda: engine.apply(p))
        r["status, at once"] = timed(lambda: engine.plan_diff(p))
        settle()
        r["re-apply, settled"] = timed(lambda: engine.apply(p))
        r["status, settled"] = timed(lambda: engine.plan_diff(p))
        r["fe80 addresses"] = float(sum(link_local_count(netns) for netns in names[:: max(1, n // 20)]))
    finally:
        wipe(names)
        engine.destroy(p.lab, p.prefix, p)
    return r


def link_local_count(netns: str) -> int:
    """IPv6 link-local addresses in `netns`."""
    done = subprocess.run(["ip", "-n", netns, "-6", "-o", "addr", "show", "scope", "link"], capture_output=True,
                          text=True, check=False)
    return len(done.stdout.splitlines())


def pyroute2_ways(n: int) -> dict[str, float]:
    """Seconds to create N namespaces and set each one's loopback up, three ways (then deleted)."""
    from pyroute2 import IPRoute
    from pyroute2 import netns as pnetns

    from topograph.live import netlink as nl
    from topograph.live import nlsocket

    out: dict[str, float] = {}
    prefix = f"b{secrets.token_hex(3)}-"
    names = [f"{prefix}{i}" for i in range(n)]

    def forking() -> None:  # pyroute2's documented way: a helper process per namespace and per socket
        for name in names:
            pnetns.create(name)
            with IPRoute(netns=name) as ipr:
                ipr.link("set", index=1, state="up")

    def pushns() -> None:  # pyroute2 without forking: enter the namespace in this thread, open IPRoute there
        for name in names:
            pnetns.pushns()
            pnetns.setns(name, fork=False)  # creates it in-thread (flags O_CREAT)
            with IPRoute() as ipr:
                ipr.link("set", index=1, state="up")
            pnetns.popns()

    def ours() -> None:  # topograph.live: in-thread namespace, one raw socket, a packed request
        ns = Namespaces()
        try:
            def lo_up() -> None:
                sock = nlsocket.Socket("new")
                sock.request(nl.RTM_NEWLINK, nl.link_up(1))
                sock.close()

            for name in names:
                ns.create(name, lo_up)
        finally:
            ns.close()

    for label, fn in (("pyroute2 netns.create + IPRoute(netns=)", forking),
                      ("pyroute2 pushns/setns + IPRoute()", pushns), ("topograph.live", ours)):
        try:
            out[label] = timed(fn)
        finally:
            wipe(names)
    return out


def index_ways(n: int, rounds: int = 5) -> dict[str, float]:
    """Seconds per bridge made in one namespace (best of `rounds`, the two ways taking turns): the
    runner picking the index (as in namespaces of its own run), or the kernel picking it and the
    runner asking for the interface by name afterwards (as in the root namespace)."""
    from topograph.live import netlink as nl
    from topograph.live import nlsocket

    name = f"b{secrets.token_hex(3)}-idx"
    ns = Namespaces()
    best = {"runner picks": float("inf"), "kernel picks, then a look-up": float("inf")}
    try:
        with_sock: list[nlsocket.Socket] = []
        ns.create(name, lambda: with_sock.append(nlsocket.Socket(name)))
        sock = with_sock[0]
        next_index = 2
        for r in range(rounds):
            for way in best:
                start = time.perf_counter()
                for i in range(n):
                    ifname = f"b{r}{way[0]}{i}"
                    if way == "runner picks":
                        sock.request(nl.RTM_NEWLINK, nl.new_link(next_index, ifname, "bridge"), create=True)
                        next_index += 1
                    else:
                        sock.request(nl.RTM_NEWLINK, nl.new_link(0, ifname, "bridge"), create=True)
                        found = sock.link(ifname)
                        assert found is not None
                        next_index = max(next_index, found.index + 1)
                best[way] = min(best[way], (time.perf_counter() - start) / n)
        sock.close()
    finally:
        ns.close()
        wipe([name])
    return best


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", type=int, nargs="*", default=[100, 300, 1000], help="stars to measure")
    parser.add_argument("--pyroute2", action="store_true",
                        help="compare ways of using pyroute2 per namespace instead (on the first size, default 100)")
    parser.add_argument("--indexes", action="store_true",
                        help="compare who picks a new interface's index instead (first size: bridges, default 100)")
    parser.add_argument("--repeat", type=int, default=2, help="--link-local: runs of each way, in turns")
    parser.add_argument("--link-local", action="store_true",
                        help="compare the quiet IPv6 plan with link-local addresses on instead (first size, default 1000)")
    args = parser.parse_args(argv)
    if args.link_local:
        n = args.sizes[0] if args.sizes != parser.get_default("sizes") else 1000
        compared = link_local_ways(n, args.repeat)
        print(f"star of {n} namespaces, {args.repeat} runs each, min-max (fe80 addresses: counted in every "
              f"{max(1, n // 20)}th namespace):")
        print(f"  {'':<22} " + "  ".join(f"{label:>18}" for label in compared))
        for key in next(iter(compared.values())):
            unit = "  " if key == "fe80 addresses" else " s"
            print(f"  {key:<22} " + "  ".join(f"{min(r[key]):7.2f}-{max(r[key]):<7.2f}{unit}" for r in compared.values()))
        return
    if args.indexes:
        n = args.sizes[0]
        ways = index_ways(n)
        print(f"{n} bridges in one namespace, best of 5:")
        for label, secs in ways.items():
            print(f"  {label:<30} {secs * 1e6:7.1f} µs per bridge")
        print(f"  the look-up costs {ways['kernel picks, then a look-up'] / ways['runner picks']:.2f}x")
        return
    if args.pyroute2:
        n = args.sizes[0]
        print(f"{n} namespaces created, loopback up:")
        for label, secs in pyroute2_ways(n).items():
            print(f"  {label:<42} {secs:6.2f} s  ({secs / n * 1e3:.2f} ms per namespace)")
        return
    for n in args.sizes:
        r = measure(n)
        print(f"star of {n} namespaces:")
        for k, v in r.items():
            print(f"  {k:<22} {v:7.2f} s")
        print(f"  apply is {r['script'] / r['apply']:.1f}x faster than the compiled script, "
              f"{r['ip -batch'] / r['apply']:.1f}x faster than ip -batch")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
