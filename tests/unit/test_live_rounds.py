"""How a round of probes is shared among processes (live/rounds.py): never splitting what must stay together."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from topograph.live.outcome import Job, Listen
from topograph.live.rounds import Pairs, split, units
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
