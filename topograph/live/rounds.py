"""Rounds of verify's probes: every job of a round tried once, and the neighbour entries of a pair of nodes
forgotten once the pair is measured (`topograph.live.neighbours` says why); a big round split over processes.

Why processes: most of a probe's cost is the kernel's work inside `sendto` — on a bridge, the ARP request
flooded to every port and the echo and its reply delivered, all in the sending CPU's softirq — and the rest is
the prober's Python around it; one thread keeps one CPU busy while the others idle. A round of at least
`PARALLEL_MIN` jobs is therefore shared among forked workers, one per CPU this process may run on (at most
`MAX_WORKERS`): each worker takes whole units — every job of one pair of nodes (they share the neighbour
entries forgotten after them) and every job probed through one listener (it is opened once) — opens its own
sockets, and sends its outcomes back through a pipe; the in-flight window is shared out too, so that all
workers together hold no more neighbour entries than one would. Progress is counted in a shared page.
Figures: benchmarks/README.md ("verify").
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import pickle
import signal
import struct
import threading
from collections.abc import Callable, Iterable

from topograph.live.kernel import KernelError, Namespaces
from topograph.live.neighbours import Neighbours
from topograph.live.probe import Job, ProbeOutcome, Prober
from topograph.model import IPAddress

Entry = tuple[str, str, IPAddress]  # a neighbour entry: namespace, interface, address
#: per probe between two nodes on one segment: the pair (its key) and the neighbour entries its flows make
Pairs = dict[int, tuple[tuple[str, ...], tuple[Entry, ...]]]

#: Rounds smaller than this stay in one process: forking costs more than it saves there.
PARALLEL_MIN = 512
MAX_WORKERS = 4
_COUNT = struct.Struct("=Q")


class Rounds:
    """The sockets of one process's rounds: a prober, and the neighbour entries it forgets after each pair."""

    def __init__(self, jobs: dict[int, Job], pairs: Pairs, window: int) -> None:
        self.jobs = jobs
        self.pairs = pairs
        self.ns = Namespaces()
        self.neighbours = Neighbours(self.ns)
        self.prober = Prober(self.ns, window=window)
        self.prober.on_done = self._measured
        self.left: dict[tuple[str, ...], int] = {}

    def close(self) -> None:
        self.prober.close()
        self.neighbours.close()
        self.ns.close()

    def _measured(self, i: int) -> None:
        pair = self.pairs.get(i)
        if pair is None:
            return
        self.left[pair[0]] -= 1
        if not self.left[pair[0]]:
            for entry in pair[1]:
                self.neighbours.forget(*entry)

    def run(self, indices: list[int], feed: Callable[[int], None] | None = None) -> dict[int, ProbeOutcome]:
        """Try every job of `indices` once; `feed` hears how many are done."""
        self.left.clear()
        for i in indices:
            if i in self.pairs:
                key = self.pairs[i][0]
                self.left[key] = self.left.get(key, 0) + 1
        return self.prober.run_round([(i, self.jobs[i]) for i in indices], feed)

    def flush(self, namespaces: Iterable[str]) -> None:
        """Forget every learnt neighbour entry of `namespaces`."""
        for netns in namespaces:
            self.neighbours.flush(netns)


def units(indices: list[int], jobs: dict[int, Job], pairs: Pairs) -> list[list[int]]:
    """`indices` in groups that must stay in one process: the jobs of a pair of nodes, and those of one listener
    (and, through a job that has both, what either brings along); each group in the order of `indices`."""
    parent: dict[object, object] = {}

    def find(key: object) -> object:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    first: dict[int, object] = {}
    for i in indices:
        keys: list[object] = [("pair", pairs[i][0])] if i in pairs else []
        listen = jobs[i].listen
        keys += [("listen", listen)] if listen is not None else []
        keys = keys or [("job", i)]
        for other in keys[1:]:
            parent[find(other)] = find(keys[0])
        first[i] = keys[0]
    groups: dict[object, list[int]] = {}
    for i in indices:
        groups.setdefault(find(first[i]), []).append(i)
    return list(groups.values())


def split(groups: list[list[int]], workers: int, order: list[int]) -> list[list[int]]:
    """The groups shared out among `workers` by size (the largest first, each to the least loaded), each
    worker's jobs in the order of `order`; no worker is left without jobs."""
    parts: list[list[int]] = [[] for _ in range(min(workers, len(groups)))]
    for group in sorted(groups, key=len, reverse=True):
        min(parts, key=len).extend(group)
    position = {i: n for n, i in enumerate(order)}
    return [sorted(part, key=position.__getitem__) for part in parts]


def workers_here() -> int:
    """How many CPUs this process may run on, at most MAX_WORKERS; 1 while other threads run (a program using
    the Python API may have some: a forked child would inherit their locks held, and nothing to release them)."""
    if threading.active_count() > 1:
        return 1
    try:
        return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))
    except OSError:
        return 1


def _worker(jobs: dict[int, Job], pairs: Pairs, part: list[int], window: int, out: int, counts: mmap.mmap,
            slot: int) -> None:
    """A forked worker's whole life: its part of the round, the outcomes pickled to `out`, then exit."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent decides what an interrupt means
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        rounds = Rounds(jobs, pairs, window)
        try:
            got = rounds.run(part, lambda k: _COUNT.pack_into(counts, slot * _COUNT.size, k))
        finally:
            rounds.close()
        payload = pickle.dumps(("ok", got))
    except BaseException as exc:  # whatever it was, the parent says it: a worker has nobody else to tell
        code = 1
        payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(out, view):]
    finally:
        os._exit(code)


def _collect(pid: int, fd: int) -> dict[int, ProbeOutcome]:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    os.waitpid(pid, 0)
    try:
        kind, value = pickle.loads(b"".join(chunks))
    except (pickle.UnpicklingError, EOFError, ValueError):
        raise KernelError(errno.EIO, f"a verify worker (pid {pid}) ended without its outcomes") from None
    if kind != "ok":
        raise KernelError(errno.EIO, f"a verify worker (pid {pid}) failed: {value}")
    outcomes: dict[int, ProbeOutcome] = value
    return outcomes


def run_shared(jobs: dict[int, Job], pairs: Pairs, indices: list[int], workers: int, window: int,
               feed: Callable[[int], None] | None = None) -> dict[int, ProbeOutcome]:
    """One round of `indices` shared among `workers` processes (this one and forked ones), as `Rounds.run`
    would try them; a worker that fails makes the round fail (KernelError)."""
    parts = split(units(indices, jobs, pairs), workers, indices)
    share = max(1, window // len(parts))
    counts = mmap.mmap(-1, _COUNT.size * len(parts))  # shared with the workers forked below
    children: list[tuple[int, int]] = []
    here = list(parts[0])
    try:
        for slot, part in enumerate(parts[1:], start=1):
            read, write = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no process to be had (EAGAIN, ENOMEM): this one tries that part too
                os.close(read)
                os.close(write)
                here += part
                continue
            if pid == 0:
                os.close(read)
                _worker(jobs, pairs, part, share, write, counts, slot)
            os.close(write)
            children.append((pid, read))
        if len(here) > len(parts[0]):
            position = {i: n for n, i in enumerate(indices)}
            here.sort(key=position.__getitem__)

        def mine(k: int) -> None:
            if feed is not None:
                feed(k + sum(_COUNT.unpack_from(counts, s * _COUNT.size)[0] for s in range(1, len(parts))))

        rounds = Rounds(jobs, pairs, share)
        try:
            got = rounds.run(here, mine)
        finally:
            rounds.close()
        while children:
            pid, fd = children[0]
            got.update(_collect(pid, fd))
            os.close(fd)
            children.pop(0)
        return got
    finally:
        for pid, fd in children:  # only after a failure: stop the workers left, reap them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            os.close(fd)
        counts.close()
