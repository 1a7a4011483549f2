"""An apply cut short (its record says complete=False): status says so, and the steps it did not run are
missing, not drifted (converge.diff on states built by hand; the lock holder from /proc/locks)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.unit.test_live_converge import P, built, lab, record
from topograph.live import state
from topograph.live.converge import diff
from topograph.live.lock import holder, lab_lock
from topograph.live.observe import Live
from topograph.plan import EnslavePort, LinkUp, Operation, Plan, SetSysctls


def _unrun_tail(cut: int) -> tuple[Plan, Live, tuple[Operation, ...]]:
    """The live state of a seed apply killed before step `cut`: the plan's first steps, then links
    that exist but are down, unplugged, with their namespaces' sysctls not set."""
    p = lab()
    live = built(p)
    for op in p.operations[cut:]:
        if isinstance(op, LinkUp | EnslavePort) and op.netns is not None:
            links = live.namespaces[op.netns].links
            changed = {"up": False} if isinstance(op, LinkUp) else {"master": None}
            links[op.ifname] = replace(links[op.ifname], **changed)
        elif isinstance(op, SetSysctls) and op.netns is not None:
            live.namespaces[op.netns].sysctls = {k: None for k in live.namespaces[op.netns].sysctls}
    return p, live, p.operations[cut:]


@pytest.mark.parametrize("cut", [5, 20, 30])
def test_the_steps_an_apply_cut_short_did_not_run_are_missing(cut: int) -> None:
    p, live, unrun = _unrun_tail(cut)
    cut_short = replace(record(p), complete=False)
    d = diff(p, live, cut_short)
    assert d.cut_short and d.changes
    assert {c.state for c in d.changes} == {"missing"}
    assert {c.op for c in d.changes} <= set(unrun)
    finished = diff(p, live, record(p))
    assert not finished.cut_short and finished.count("drifted") == d.count("missing")  # changed by hand


def test_the_lock_holder_is_read_without_taking_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    assert holder(f"seed@{P}") is None
    with lab_lock(f"seed@{P}"):
        assert holder(f"seed@{P}") == os.getpid()
        assert holder("seed@t2-") is None
    state.save(state.Record(lab="seed", prefix=P))  # the lock file stays, nobody holds it
    with lab_lock(f"seed@{P}"):
        pass
    assert (tmp_path / f"seed@{P}.lock").exists() and holder(f"seed@{P}") is None
