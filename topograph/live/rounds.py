"""Rounds of verify's probes: every job of a round tried once, and the neighbour entries of a pair of nodes
forgotten once the pair is measured (`topograph.live.neighbours` says why).

One process does all of it. Sharing a big round among forked workers, one per CPU, was tried and measured
(benchmarks/README.md, "verify's fixed cost"): on this project's 2-core machines it made the 50- and 100-namespace
stars' runs 5-10% slower (a fork of the command's ~80 MB, copied page by page as both sides touch it) and the
300-namespace star's no faster beyond the noise (27-36 s against 32 s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from topograph.front.wire import IPAddress
from topograph.live.kernel import Namespaces
from topograph.live.neighbours import Neighbours
from topograph.live.probe import Job, ProbeOutcome, Prober

Entry = tuple[str, str, IPAddress]  # a neighbour entry: namespace, interface, address
#: per probe between two nodes on one segment: the pair (its key) and the neighbour entries its flows make
Pairs = dict[int, tuple[tuple[str, ...], tuple[Entry, ...]]]


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

    def run(self, indices: Sequence[int], feed: Callable[[int], None] | None = None) -> dict[int, ProbeOutcome]:
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
