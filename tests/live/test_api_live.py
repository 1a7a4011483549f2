"""`with lab.up(sandbox=...) as live:` for real: apply, exec, popen, verify, status, and nothing left behind —
also when the block raises, when apply fails half way, and when a namespace of someone else is in the way."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

import topograph
from tests.live.conftest import Sandbox, namespaces_now
from topograph.live import state
from topograph.live.execute import FAIL_AT_ENV

pytestmark = pytest.mark.live

SEED = Path(__file__).resolve().parents[2] / "samples" / "06-port-forward.yml"


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own records and locks (the engine reads TOPOGRAPH_STATE_DIR)."""
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.delenv(FAIL_AT_ENV, raising=False)
    return tmp_path / "state"


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_chain_comes_up_works_and_goes(sandbox: Sandbox, state_dir: Path) -> None:
    lab = topograph.generators.chain(3)
    sandbox.claim_plan(lab.plan(sandbox=sandbox.prefix))  # removed by the fixture should anything go wrong
    with lab.up(sandbox=sandbox.prefix) as live:
        assert live.applied > 0 and live.left() == [f"{sandbox.prefix}r0", f"{sandbox.prefix}r1", f"{sandbox.prefix}r2"]
        far = str(lab.topology.node("r2").primary_address)
        done = live.exec("r0", "ping", "-n", "-c1", "-W2", far)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "1 received" in done.stdout
        assert ": eth0@" in live.exec("r0", "ip", "-o", "link", "show", "eth0", check=True).stdout
        verified = live.verify()
        assert verified.ok and len(verified) == 2, verified.text()
        assert live.status().clean, live.status().text()
        sleeper = live.popen("r1", "sleep", "600")
        assert not gone(sleeper.pid)
        route = next(r for r in lab.topology.node("r0").routes)
        live.exec("r0", "ip", "route", "del", str(route.to), check=True)  # drift, by hand
        drifted = live.status()
        assert not drifted.clean and drifted.count("missing") == 1, drifted.text()
        assert state.load_record(lab.name, sandbox.prefix) is not None
    sleeper.wait(timeout=10)
    assert gone(sleeper.pid)
    assert live.left() == [] and sandbox.left() == []
    assert state.load_record(lab.name, sandbox.prefix) is None
    assert {"namespace " + n for n in lab.plan(sandbox=sandbox.prefix).namespaces} <= {r.split(" (")[0] for r in live.removed}


def test_an_exception_in_the_block_destroys_the_lab(sandbox: Sandbox, state_dir: Path) -> None:
    lab = topograph.load(SEED)
    sandbox.claim_plan(lab.plan(sandbox=sandbox.prefix))
    with pytest.raises(RuntimeError, match="boom"), lab.up(sandbox=sandbox.prefix) as live:
        assert live.verify().ok  # the seed's five expectations, the port forward among them
        assert sandbox.left() != []
        raise RuntimeError("boom")
    assert sandbox.left() == [] and live.left() == []
    assert state.load_record(lab.name, sandbox.prefix) is None
    with pytest.raises(topograph.LabError, match="is not up"):
        live.exec("red", "true")


def test_a_failed_apply_is_a_lab_error_and_leaves_nothing(sandbox: Sandbox, state_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    lab = topograph.generators.chain(2)
    sandbox.claim_plan(lab.plan(sandbox=sandbox.prefix))
    monkeypatch.setenv(FAIL_AT_ENV, "4")
    entered = False
    with pytest.raises(topograph.LabError, match="failed at step 4"), lab.up(sandbox=sandbox.prefix):
        entered = True
    assert not entered and sandbox.left() == []
    assert state.load_record(lab.name, sandbox.prefix) is None


def test_a_namespace_in_the_way_stops_it_before_any_change(sandbox: Sandbox, state_dir: Path) -> None:
    lab = topograph.generators.chain(2)
    sandbox.claim_plan(lab.plan(sandbox=sandbox.prefix))
    foreign = f"{sandbox.prefix}r1"
    assert subprocess.run(["ip", "netns", "add", foreign], check=False).returncode == 0
    with pytest.raises(topograph.LabError, match="nothing was changed"), lab.up(sandbox=sandbox.prefix):
        pass
    assert sandbox.left() == [foreign]  # not ours: left alone (the fixture removes it)


def test_a_second_up_in_the_same_sandbox_is_refused(sandbox: Sandbox, state_dir: Path) -> None:
    lab = topograph.generators.chain(2)
    sandbox.claim_plan(lab.plan(sandbox=sandbox.prefix))
    with lab.up(sandbox=sandbox.prefix):
        started = time.monotonic()
        with pytest.raises(topograph.LabError, match="is up already"), lab.up(sandbox=sandbox.prefix):
            pass
        assert time.monotonic() - started < 5
        assert len(sandbox.left()) == 2  # the refused second one did not take the first one down
    assert sandbox.left() == [] and namespaces_now().isdisjoint(lab.plan(sandbox=sandbox.prefix).namespaces)
