"""Benchmark the implementation choices that code comments justify by speed, each against the obvious alternative.

    python benchmarks/bench_choices.py              # best of 5 each
    python benchmarks/bench_choices.py --repeat 9

- plan operations as msgspec Structs against frozen dataclasses of the same fields (plan/ops.py);
- compiling with jinja2's bytecode cache against compiling the templates every time (compile.py);
- composing YAML with libyaml's resolver against a memoising Python override of it (loader.py);
- packing netlink messages with struct against pyroute2's own encoder of the same bytes (live/netlink.py).
Each line prints both times and their ratio, measured in the same run; figures and dates go to
benchmarks/README.md, not into the code.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jinja2
import yaml

from benchmarks.labs import star
from topograph import compile as tg_compile
from topograph.plan import AddAddress


@dataclasses.dataclass(frozen=True)
class _DataclassAddress:
    """AddAddress's fields as a frozen dataclass: the obvious alternative to a msgspec Struct."""

    node: str
    netns: str | None
    ifname: str
    address: ipaddress.IPv4Interface


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def operations(repeat: int, n: int = 100_000) -> tuple[float, float]:
    """Making n address operations: msgspec Struct, then frozen dataclass (seconds per operation)."""
    address = ipaddress.IPv4Interface("10.0.0.1/16")
    struct = best(repeat, lambda: [AddAddress("n", "t-n", "e", address) for _ in range(n)])
    plain = best(repeat, lambda: [_DataclassAddress("n", "t-n", "e", address) for _ in range(n)])
    return struct / n, plain / n


def templates(repeat: int) -> tuple[float, float]:
    """Loading topograph's templates: with the bytecode cache warm, then compiling them from source."""
    names = ("setup.sh.j2", "teardown.sh.j2", "ops.sh.j2")

    def load(cache: jinja2.BytecodeCache | None) -> None:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tg_compile.template_dir())),
                                 bytecode_cache=cache, **tg_compile._OPTIONS)
        env.filters.update(tg_compile.environment().filters)
        for name in names:
            env.get_template(name)

    with tempfile.TemporaryDirectory() as d:
        cache = jinja2.FileSystemBytecodeCache(d)
        load(cache)  # warm it
        cached = best(repeat, lambda: load(cache))
    uncached = best(repeat, lambda: load(None))
    return cached, uncached


class _MemoResolver(yaml.CSafeLoader):
    """libyaml's loader with its implicit tag resolution overridden by a per-text memo in Python."""

    memo: ClassVar[dict[tuple[Any, str, tuple[bool, bool]], str]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            key = (kind, value, tuple(implicit))
            found = self.memo.get(key)
            if found is None:
                found = self.memo[key] = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
            return found
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def composing(repeat: int, n: int = 3000) -> tuple[float, float]:
    """Composing the YAML of an n-namespace star: libyaml's resolver, then the memoising override."""
    text = star(n)
    plain = best(repeat, lambda: yaml.compose(text, Loader=yaml.CSafeLoader))
    memo = best(repeat, lambda: yaml.compose(text, Loader=_MemoResolver))
    return plain, memo


def netlink_messages(repeat: int, n: int = 2000) -> list[tuple[str, float, float]]:
    """(message, packed here, pyroute2's encoder) in seconds per message; the bytes are asserted equal."""
    import socket

    from pyroute2.netlink import NLM_F_REQUEST
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    from topograph.live import netlink as nl

    def pyroute2(cls: Any, kind: int, attrs: list[Any], **fields: Any) -> bytes:
        msg = cls()
        msg["header"] = {"type": kind, "flags": NLM_F_REQUEST, "sequence_number": 7, "pid": 0}
        msg.update(fields)
        msg["attrs"] = attrs
        msg.encode()
        return bytes(msg.data)

    ip = ipaddress.IPv4Address("10.0.0.1")
    flags = 0x80 | 0x02  # IFA_F_PERMANENT | IFA_F_NODAD
    cases: list[tuple[str, Callable[[], bytes], Callable[[], bytes]]] = [
        ("link up", lambda: nl.message(nl.RTM_NEWLINK, NLM_F_REQUEST, 7, nl.link_up(5)),
         lambda: pyroute2(ifinfmsg, nl.RTM_NEWLINK, [], index=5, flags=1, change=1)),
        ("address", lambda: nl.message(nl.RTM_NEWADDR, NLM_F_REQUEST, 7,
                                       nl.addr_body(5, socket.AF_INET, 16, ip.packed, nodad=True)),
         lambda: pyroute2(ifaddrmsg, nl.RTM_NEWADDR, [("IFA_LOCAL", str(ip)), ("IFA_ADDRESS", str(ip)),
                                                      ("IFA_FLAGS", flags)],
                          family=socket.AF_INET, prefixlen=16, flags=flags, scope=0, index=5)),
    ]
    out = []
    for name, ours, theirs in cases:
        assert ours() == theirs(), name
        out.append((name, best(repeat, partial(_many, ours, n)) / n, best(repeat, partial(_many, theirs, n)) / n))
    return out


def _many(make: Callable[[], bytes], n: int) -> None:
    for _ in range(n):
        make()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    struct, plain = operations(args.repeat)
    print(f"plan operation (AddAddress):   msgspec {struct * 1e6:.2f} µs, frozen dataclass {plain * 1e6:.2f} µs"
          f"  -> msgspec {plain / struct:.1f}x faster")
    cached, uncached = templates(args.repeat)
    print(f"templates (setup, teardown, ops): cached {cached * 1e3:.1f} ms, compiled {uncached * 1e3:.1f} ms"
          f"  -> the cache saves {(uncached - cached) * 1e3:.1f} ms per compile")
    for name, ours, theirs in netlink_messages(args.repeat):
        print(f"netlink message ({name}): packed {ours * 1e6:.1f} µs, pyroute2's encoder {theirs * 1e6:.1f} µs"
              f"  -> packing is {theirs / ours:.0f}x faster")
    libyaml, memo = composing(args.repeat)
    print(f"compose a 3000-namespace star: libyaml's resolver {libyaml:.3f} s, memoising override {memo:.3f} s"
          f"  -> the override is {memo / libyaml:.2f}x the time")


if __name__ == "__main__":
    main()
