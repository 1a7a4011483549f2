"""How a round of probes is shared among processes (live/rounds.py): never splitting what must stay together."""

from __future__ import annotations

import ipaddress
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topograph.live.kernel import KernelError
from topograph.live.outcome import Job, Listen, Outcome, ProbeOutcome
from topograph.live.rounds import Pairs, Rounds, run_shared, split, units
from topograph.model import Proto

ADDR = ipaddress.ip_address("10.0.0.1")


@st.composite
def rounds(draw: st.DrawFn) -> tuple[list[int], dict[int, Job], Pairs]:
    """Jobs, some in pairs (few keys: many share one), some through listeners (few: many share one)."""
    n = draw(st.integers(0, 60))
    jobs: dict[int, Job] = {}
    pairs: Pairs = {}
    for i in range(n):
        listen = draw(st.one_of(st.none(), st.integers(0, 3).map(lambda k: Listen(f"n{k}", f"ns{k}", ADDR, 80 + k))))
        jobs[i] = Job("ns", ADDR, None if listen is None else listen.port, listen, Proto.TCP)
        if draw(st.booleans()):
            pairs[i] = ((f"a{draw(st.integers(0, 5))}", "b", "10.0.0.0/24"), ())
    order = draw(st.permutations(list(jobs)))
    return order, jobs, pairs


@given(rounds(), st.integers(1, 5))
def test_a_pair_and_a_listener_stay_in_one_process(r: tuple[list[int], dict[int, Job], Pairs], workers: int) -> None:
    order, jobs, pairs = r
    parts = split(units(order, jobs, pairs), workers, order)
    assert sorted(i for part in parts for i in part) == sorted(order)  # every job once
    assert len(parts) <= workers and all(parts)  # no idle worker
    where = {i: n for n, part in enumerate(parts) for i in part}
    for i in order:
        for j in order:
            same_pair = i in pairs and j in pairs and pairs[i][0] == pairs[j][0]
            same_listener = jobs[i].listen is not None and jobs[i].listen == jobs[j].listen
            if same_pair or same_listener:
                assert where[i] == where[j]
    position = {i: n for n, i in enumerate(order)}
    for part in parts:  # each worker keeps the round's order (pairs together, as one process would send them)
        assert [position[i] for i in part] == sorted(position[i] for i in part)


def test_units_are_shared_out_by_size() -> None:
    jobs = {i: Job("ns", ADDR) for i in range(10)}
    pairs: Pairs = {i: ((("x" if i < 6 else f"y{i}"), "b", "n"), ()) for i in range(10)}
    parts = split(units(list(range(10)), jobs, pairs), 2, list(range(10)))
    assert sorted(map(len, parts)) == [4, 6]  # the pair of six jobs alone; the four single pairs together


def test_no_fork_while_other_threads_run() -> None:
    import threading

    from topograph.live.rounds import workers_here

    assert workers_here() >= 1
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert workers_here() == 1
    finally:
        stop.set()
        other.join()


def test_the_workers_outcomes_come_back_and_a_failure_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """run_shared forks a worker for half the round: its outcomes join this process's; an exception in it comes
    back as a KernelError naming it. (Rounds.run stands in for probing: no namespaces needed.)"""
    parent = os.getpid()

    def run(self: Rounds, indices: list[int], feed: object = None) -> dict[int, ProbeOutcome]:
        if os.getpid() != parent and -1 in self.jobs:
            raise RuntimeError("worker broke")
        return {i: ProbeOutcome(Outcome.REACHED, f"by {'worker' if os.getpid() != parent else 'parent'}")
                for i in indices}

    monkeypatch.setattr(Rounds, "run", run)
    jobs = {i: Job("ns", ADDR) for i in range(4)}
    got = run_shared(jobs, {}, [0, 1, 2, 3], workers=2, window=8)
    assert sorted(got) == [0, 1, 2, 3]
    assert sorted(o.detail for o in got.values()) == ["by parent"] * 2 + ["by worker"] * 2
    jobs[-1] = Job("ns", ADDR)
    with pytest.raises(KernelError, match=r"a verify worker \(pid \d+\) failed: RuntimeError: worker broke"):
        run_shared(jobs, {}, [0, 1, 2, 3], workers=2, window=8)
