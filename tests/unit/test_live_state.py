"""Ownership records and the per-lab lock, in a temporary state directory (no root needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from topograph.live import state
from topograph.live.lock import Busy, lab_lock


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    return tmp_path


def test_keys_keep_sandboxes_of_one_file_apart() -> None:
    assert state.lab_key("seed", None) == "seed"
    assert state.lab_key("seed", "t1-") == "seed@t1-"
    assert state.lab_key("seed", "t1-") != state.lab_key("seed", "t2-")


def test_a_record_round_trips_sorted_and_deterministic(state_dir: Path) -> None:
    r = state.Record(lab="seed", prefix="t1-", source="seed.yml")
    r.add_namespaces(["t1-red", "t1-blue"])
    r.add_namespaces(["t1-red", "t1-host"])
    state.save(r)
    text = (state_dir / "seed@t1-.json").read_text()
    assert text == r.to_json()
    back = state.load("seed", "t1-")
    assert back == r and back.namespaces == ["t1-blue", "t1-host", "t1-red"]
    assert state.load("seed", None) is None
    assert [x.key for x in state.all_records()] == ["seed@t1-"]
    state.remove(r)
    assert state.load("seed", "t1-") is None
    state.remove(r)  # twice is fine


def test_an_unreadable_record_is_a_clear_error(state_dir: Path) -> None:
    (state_dir / "seed.json").write_text("{not json")
    with pytest.raises(state.StateError, match="unreadable state record"):
        state.load("seed", None)


def test_unknown_fields_from_a_newer_version_are_ignored() -> None:
    r = state.Record.from_json('{"lab": "x", "prefix": null, "future": 1}')
    assert r.lab == "x" and r.namespaces == []


def _try_lock_elsewhere(state_dir: Path, wait: float = 0.0) -> subprocess.CompletedProcess[str]:
    code = ("import sys\nfrom topograph.live.lock import lab_lock, Busy\n"
            f"try:\n    with lab_lock('seed@t1-', wait={wait}):\n        print('got it')\n"
            "except Busy as e:\n    print(e)\n")
    env = {"TOPOGRAPH_STATE_DIR": str(state_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False, timeout=30)


def test_a_held_lock_makes_another_process_refuse(state_dir: Path) -> None:
    with lab_lock("seed@t1-"):
        out = _try_lock_elsewhere(state_dir).stdout
    assert "being changed by another topograph run" in out and "--wait" in out
    assert _try_lock_elsewhere(state_dir).stdout.strip() == "got it"


def test_locks_are_per_lab() -> None:
    with lab_lock("seed@t1-"), lab_lock("seed@t2-"):
        pass
    with lab_lock("seed@t1-"), pytest.raises(Busy), lab_lock("seed@t1-"):
        pass  # flock locks are per open file: a second open in one process conflicts too


def test_destroy_removes_the_lock_file_and_the_next_run_takes_a_new_one(state_dir: Path) -> None:
    with lab_lock("seed@t1-", remove=True):
        assert (state_dir / "seed@t1-.lock").exists()
    assert not (state_dir / "seed@t1-.lock").exists()
    with lab_lock("seed@t1-"):
        assert _try_lock_elsewhere(state_dir).stdout.startswith("lab seed@t1- is being changed")


def test_a_run_that_leaves_no_record_leaves_no_lock_file(state_dir: Path) -> None:
    # an apply that was blocked, failed or rolled back: no record, so no lock file either
    with lab_lock("seed@t1-"):
        assert (state_dir / "seed@t1-.lock").exists()
    assert not (state_dir / "seed@t1-.lock").exists()


def test_a_run_that_leaves_a_record_keeps_its_lock_file(state_dir: Path) -> None:
    with lab_lock("seed@t1-"):
        state.save(state.Record(lab="seed", prefix="t1-"))
    assert (state_dir / "seed@t1-.lock").exists()
    with lab_lock("seed@t1-"):
        state.remove(state.Record(lab="seed", prefix="t1-"))  # destroy
    assert not (state_dir / "seed@t1-.lock").exists()


def test_a_waiter_ends_up_holding_the_lock_file_that_is_there(state_dir: Path) -> None:
    # the holder deletes the file on its way out; the waiter must not keep a lock on the deleted file
    code = ("import os\nfrom topograph.live.lock import lab_lock\n"
            "print('trying', flush=True)\n"
            "with lab_lock('seed@t1-', wait=30):\n"
            f"    print('held', os.path.exists({str(state_dir / 'seed@t1-.lock')!r}))\n")
    env = {"TOPOGRAPH_STATE_DIR": str(state_dir), "PATH": "/usr/bin:/bin"}
    with lab_lock("seed@t1-"):
        waiter = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        assert waiter.stdout is not None and waiter.stdout.readline() == "trying\n"  # it waits on our file now
    out, _ = waiter.communicate(timeout=60)
    assert out.strip() == "held True"
    assert not (state_dir / "seed@t1-.lock").exists()
