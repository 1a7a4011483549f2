"""Safety of `topograph apply` for real: rollback on failure and on SIGTERM, name clashes, half-built labs, locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.live.conftest import Sandbox
from tests.live.test_apply_samples import drift, lab_plan, lab_up, seed_up_with_iptables, tg
from topograph.live.lock import lab_lock
from topograph.live.state import lab_key

pytestmark = pytest.mark.live

SEED = ROOT / "samples" / "06-port-forward.yml"
CHAIN = ROOT / "samples" / "08-chain-static-routes.yml"


@pytest.mark.parametrize("step", [1, 2, 7, 20, 30, 49])
def test_a_failing_step_rolls_everything_back(sandbox: Sandbox, tmp_path: Path, step: int) -> None:
    p = lab_plan(SEED, sandbox.prefix)
    sandbox.claim_plan(p)
    assert len(p.operations) == 49  # the steps below are spread over this plan
    done = tg(tmp_path, "apply", "--sandbox", sandbox.prefix, str(SEED),
              extra_env={"TOPOGRAPH_FAIL_AT": str(step)})
    assert done.returncode == 1
    assert f"failed at step {step} of 49 (" in done.stderr and "injected failure" in done.stderr
    assert "rolled back" in done.stderr
    assert sandbox.left() == []
    assert not list(tmp_path.glob("*.json")), "a rolled-back first apply leaves no record"
    assert not list(tmp_path.glob("*.lock")), "nor a lock file"


def test_a_failing_repair_undoes_only_what_the_run_added(sandbox: Sandbox, tmp_path: Path) -> None:
    p, args = lab_up(sandbox, tmp_path, CHAIN)
    left, right = sandbox.prefix + "left", sandbox.prefix + "right"
    assert sandbox.exec(left, "ip", "route", "del", "default").returncode == 0
    assert sandbox.exec(right, "ip", "route", "del", "default").returncode == 0
    broken = tg(tmp_path, "status", *args).stdout
    failed = tg(tmp_path, "apply", *args, extra_env={"TOPOGRAPH_FAIL_AT": "2"})
    assert failed.returncode == 1 and "failed at step 2 of 2 (" in failed.stderr
    assert tg(tmp_path, "status", *args).stdout == broken  # the first repair was taken back
    assert sorted(sandbox.left()) == sorted(p.namespaces)  # nothing of the running lab was lost
    assert tg(tmp_path, "apply", *args).returncode == 0
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == []


def _start_slow_apply(sandbox: Sandbox, state: Path, sample: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TOPOGRAPH_STATE_DIR": str(state), "TOPOGRAPH_STEP_DELAY": "0.1"}
    return subprocess.Popen([sys.executable, "-m", "topograph", "apply", "--sandbox", sandbox.prefix, str(sample)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_namespaces(sandbox: Sandbox, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(sandbox.left()) < count:
        assert time.monotonic() < deadline, "apply did not get going"
        time.sleep(0.05)


def test_sigterm_midway_rolls_back(sandbox: Sandbox, tmp_path: Path) -> None:
    p = lab_plan(SEED, sandbox.prefix)
    sandbox.claim_plan(p)
    proc = _start_slow_apply(sandbox, tmp_path, SEED)
    _wait_for_namespaces(sandbox, 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted" in err and "rolled back" in err
    assert sandbox.left() == []
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.parametrize(("first", "second"), [(signal.SIGTERM, signal.SIGINT), (signal.SIGINT, signal.SIGTERM),
                                               (signal.SIGTERM, signal.SIGTERM)])
def test_a_second_signal_never_cuts_the_rollback_short(sandbox: Sandbox, tmp_path: Path, first: signal.Signals,
                                                        second: signal.Signals) -> None:
    # the second signal 2 ms after the first: with Python's own SIGINT handler it raised while the first
    # one's rollback was starting, and the run exited 130 with its namespaces and a record left behind
    p = lab_plan(SEED, sandbox.prefix)
    sandbox.claim_plan(p)
    proc = _start_slow_apply(sandbox, tmp_path, SEED)
    _wait_for_namespaces(sandbox, 3)
    proc.send_signal(first)
    # the second once the kernel has delivered the first (two signals pending at once have no order: the
    # kernel delivers the lower number first), while its handler may not have run yet
    _wait_until_delivered(proc.pid, first)
    proc.send_signal(second)
    _, err = proc.communicate(timeout=60)
    assert sandbox.left() == [], err
    assert not list(tmp_path.glob("*.json"))
    assert "interrupted" in err and "rolled back" in err and "Traceback" not in err
    assert proc.returncode == 128 + first, err  # the first signal's status (live/signals.py)


def _wait_until_delivered(pid: int, signum: int) -> None:
    """Until `signum` is no longer pending for process `pid` (/proc/PID/status: SigPnd, ShdPnd)."""
    bit = 1 << (signum - 1)
    deadline = time.monotonic() + 10
    while True:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        if not (int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)) & bit:
            return
        assert time.monotonic() < deadline, f"signal {signum} still pending after 10 s"
        time.sleep(0.0002)


def test_a_killed_apply_leaves_a_record_that_destroy_uses(sandbox: Sandbox, tmp_path: Path) -> None:
    p = lab_plan(SEED, sandbox.prefix)
    sandbox.claim_plan(p)
    proc = _start_slow_apply(sandbox, tmp_path, SEED)
    _wait_for_namespaces(sandbox, 2)
    proc.kill()  # no chance to roll back: a half-built lab
    proc.communicate(timeout=30)
    assert sandbox.left(), "the lab should be half built"
    status = tg(tmp_path, "status", "--sandbox", sandbox.prefix, str(SEED))
    assert status.returncode == 2 and "missing" in status.stdout
    gone = tg(tmp_path, "destroy", "--sandbox", sandbox.prefix, str(SEED))
    assert gone.returncode == 0, gone.stderr
    assert sandbox.left() == []
    assert tg(tmp_path, "destroy", "--sandbox", sandbox.prefix, str(SEED)).returncode == 0


def test_a_namespace_that_is_not_ours_stops_apply_before_any_change(sandbox: Sandbox, tmp_path: Path) -> None:
    p = lab_plan(SEED, sandbox.prefix)
    sandbox.claim_plan(p)
    theirs = sandbox.prefix + "blue"
    assert subprocess.run(["ip", "netns", "add", theirs], check=False).returncode == 0
    assert sandbox.exec(theirs, "ip", "link", "add", "keep-me", "type", "bridge").returncode == 0
    done = tg(tmp_path, "apply", "--sandbox", sandbox.prefix, str(SEED))
    assert done.returncode == 1
    assert f"namespace {theirs} exists already" in done.stderr and "nothing was changed" in done.stderr
    assert sandbox.left() == [theirs]
    assert not list(tmp_path.glob("*")), "a blocked apply leaves no record and no lock file"
    assert "keep-me" in sandbox.exec(theirs, "ip", "link").stdout
    # destroy does not touch it either: it is in no record
    assert tg(tmp_path, "destroy", "--sandbox", sandbox.prefix, str(SEED)).returncode == 0
    assert sandbox.left() == [theirs]


def test_a_second_run_on_a_locked_lab_refuses(sandbox: Sandbox, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    p = lab_plan(SEED, sandbox.prefix)
    sandbox.claim_plan(p)
    monkeypatch.setenv("TOPOGRAPH_STATE_DIR", str(tmp_path))
    with lab_lock(lab_key(p.lab, p.prefix)):
        done = tg(tmp_path, "apply", "--sandbox", sandbox.prefix, str(SEED))
        destroyed = tg(tmp_path, "destroy", "--sandbox", sandbox.prefix, str(SEED))
    assert done.returncode == 1 and "being changed by another topograph run" in done.stderr
    assert destroyed.returncode == 1
    assert sandbox.left() == []


def test_objects_the_file_no_longer_has_are_removed(sandbox: Sandbox, tmp_path: Path) -> None:
    lab_up(sandbox, tmp_path, CHAIN)
    smaller = tmp_path / "chain.yml"
    text = CHAIN.read_text()
    text = text.replace("  stub:\n    interfaces: {eth0: 10.0.2.20/24}    # on right's LAN but with no route out of it\n", "")
    text = text.replace("  - [stub:eth0, sw:p-stub]\n", "").replace(
        "  - {from: left, to: stub, reach: false, note: stub has no route back to 10.0.1.0/24}\n", "").replace(
        "  - {from: right, to: stub}\n", "")
    smaller.write_text(text)
    dry = tg(tmp_path, "apply", "--dry-run", "--sandbox", sandbox.prefix, str(smaller))
    assert dry.returncode == 0 and f"namespace {sandbox.prefix}stub" in dry.stdout and "p-stub" in dry.stdout
    assert sandbox.prefix + "stub" in sandbox.left()  # a dry run changes nothing
    done = tg(tmp_path, "apply", "--sandbox", sandbox.prefix, str(smaller))
    assert done.returncode == 0, done.stderr
    assert sandbox.prefix + "stub" not in sandbox.left()
    assert "p-stub" not in sandbox.exec(sandbox.prefix + "r2", "ip", "link").stdout
    assert tg(tmp_path, "status", "--sandbox", sandbox.prefix, str(smaller)).returncode == 0
    assert tg(tmp_path, "destroy", "--sandbox", sandbox.prefix, str(smaller)).returncode == 0
    assert sandbox.left() == []


def test_a_missing_tool_fails_its_step_and_rolls_back(sandbox: Sandbox, tmp_path: Path) -> None:
    p = lab_plan(SEED, sandbox.prefix)
    sandbox.claim_plan(p)
    done = tg(tmp_path, "apply", "--sandbox", sandbox.prefix, str(SEED), extra_env={"PATH": str(tmp_path)})
    assert done.returncode == 1
    assert "failed at step 49 of 49 (host (" in done.stderr
    assert "load nftables table inet topograph-seed): nft is not installed" in done.stderr
    assert sandbox.left() == []


def test_without_root_one_line_and_nothing_changes(sandbox: Sandbox, tmp_path: Path) -> None:
    p = lab_plan(SEED, sandbox.prefix)
    sandbox.claim_plan(p)
    env = {**os.environ, "TOPOGRAPH_STATE_DIR": str(tmp_path)}
    # root's user id without its capabilities: what an unprivileged user has, for what topograph does
    argv = [sys.executable, "-m", "topograph", "apply", "--sandbox", sandbox.prefix, str(SEED)]
    done = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", *argv],
                          capture_output=True, text=True, env=env, check=False, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "topograph: topograph needs root privileges (CAP_NET_ADMIN and CAP_SYS_ADMIN) to change network namespaces; "
        "try sudo"]
    assert sandbox.left() == []


def test_a_repair_cut_short_after_the_iptables_load_puts_the_chains_back(sandbox: Sandbox, tmp_path: Path) -> None:
    p, args, host, good = seed_up_with_iptables(sandbox, tmp_path)
    assert sandbox.exec(host, "iptables", "-t", "nat", "-D", "TG-seed-POST", "1").returncode == 0
    drift(sandbox, p)  # a route too, so that the repair has a step before the firewall's
    broken_rules = sandbox.exec(host, "iptables", "-t", "nat", "-S").stdout
    broken = tg(tmp_path, "status", *args).stdout
    assert "load iptables chains" in broken and "add route" in broken
    # the repair is [route, iptables load]; it fails once both are done, at the end of the run
    failed = tg(tmp_path, "apply", *args, extra_env={"TOPOGRAPH_FAIL_AT": "3"})
    assert failed.returncode == 1, failed.stderr
    assert "failed at the end of the run, after step 2 of 2: injected failure" in failed.stderr
    assert "rolled back" in failed.stderr and "problems" not in failed.stderr
    assert sandbox.exec(host, "iptables", "-t", "nat", "-S").stdout == broken_rules
    assert tg(tmp_path, "status", *args).stdout == broken
    assert tg(tmp_path, "apply", *args).returncode == 0
    assert sandbox.exec(host, "iptables", "-t", "nat", "-S").stdout == good
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == []


def test_a_first_apply_cut_short_after_its_last_step_leaves_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    p = lab_plan(SEED, sandbox.prefix)
    sandbox.claim_plan(p)
    done = tg(tmp_path, "apply", "--firewall", "iptables", "--sandbox", sandbox.prefix, str(SEED),
              extra_env={"TOPOGRAPH_FAIL_AT": "50"})
    assert done.returncode == 1 and "after step 49 of 49" in done.stderr
    assert sandbox.left() == []
    assert not list(tmp_path.glob("*.json"))
