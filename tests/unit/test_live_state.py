"""Ownership records and the per-lab lock, in a temporary state directory (no root needed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topograph.front.names import lab_name_problem
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
    back = state.load_record("seed", "t1-")
    assert back == r and back.namespaces == ["t1-blue", "t1-host", "t1-red"]
    assert state.load_record("seed", None) is None
    assert [x.key for x in state.all_records()] == ["seed@t1-"]
    state.remove(r)
    assert state.load_record("seed", "t1-") is None
    state.remove(r)  # twice is fine


def test_an_unreadable_record_is_a_clear_error(state_dir: Path) -> None:
    (state_dir / "seed.json").write_text("{not json")
    with pytest.raises(state.StateError, match="unreadable state record"):
        state.load_record("seed", None)


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


# -- lab names become file names: nothing outside the state directory is ever read or deleted ------

BAD_NAMES = ["../outside/x", "", "a/b", "seed\n", "..", ".", "../outside/y", "seed@../x", "/abs/x"]


@pytest.fixture
def decoys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    """A state directory, and beside it a directory with a record and a lock file it must never touch."""
    inside = tmp_path / "state"
    monkeypatch.setenv(state.STATE_DIR_ENV, str(inside))
    outside = tmp_path / "outside"
    outside.mkdir()
    record = outside / "x.json"
    record.write_text(state.Record(lab="x", prefix=None, namespaces=["someone-elses"]).to_json())
    lock = outside / "y.lock"
    lock.write_text("decoy\n")
    return inside, [record, lock]


def _untouched(files: list[Path]) -> bool:
    return all(f.exists() for f in files) and (files[1].read_text() == "decoy\n")


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_the_state_files_refuse_a_key_that_is_not_a_lab_key(decoys: tuple[Path, list[Path]], name: str) -> None:
    _, files = decoys
    with pytest.raises(state.StateError, match="refusing state file"):
        state.path_of(name)
    with pytest.raises(state.StateError):
        state.load_record(name, None)
    with pytest.raises(state.StateError), lab_lock(name, remove=True):
        pass
    assert _untouched(files)


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_destroy_refuses_a_bad_lab_name_before_reading_anything(decoys: tuple[Path, list[Path]], name: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from topograph.cli import live as live_command
    from topograph.cli import main
    from topograph.live import engine

    monkeypatch.setattr(live_command, "privilege_problem", lambda: None)  # as root: the check must not need it

    def no_session() -> None:
        raise AssertionError("destroy reached the kernel")

    monkeypatch.setattr(engine, "session", no_session)
    done = CliRunner().invoke(main, ["destroy", "--lab", name])
    assert done.exit_code == 1
    lines = done.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"topograph: --lab {name!r} is not a lab name: it ")
    assert "a lab name has 1 to 40 letters, digits" in lines[0]
    assert _untouched(files := decoys[1]) and not any(f.name.startswith("x") for f in decoys[0].glob("*")), files
    # the second fence: the engine itself, called with the name, refuses too
    with pytest.raises(state.StateError):
        engine.destroy(name, None)
    assert _untouched(decoys[1])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_a_lab_name_is_valid_exactly_when_its_files_stay_in_the_state_directory(name: str) -> None:
    valid = lab_name_problem(name) is None
    assert valid == (re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", name) is not None)
    if valid:
        assert state.path_of(name).parent == state.state_dir()
    else:
        with pytest.raises(state.StateError):
            state.path_of(name)


def test_a_record_file_naming_another_lab_or_a_bad_name_is_refused(state_dir: Path) -> None:
    (state_dir / "seed.json").write_text(state.Record(lab="other", prefix=None).to_json())
    with pytest.raises(state.StateError, match="of lab other, not seed"):
        state.load_record("seed", None)
    (state_dir / "seed.json").write_text('{"lab": "../../etc/x", "prefix": null}')
    with pytest.raises(state.StateError, match="unreadable state record"):
        state.load_record("seed", None)
    assert state.all_records() == []


@pytest.mark.parametrize("name", ["../../etc/passwd", "..", "", "a/b", "red\n"], ids=repr)
def test_a_namespace_name_from_a_record_never_leaves_the_namespace_directory(name: str) -> None:
    from topograph.live.kernel import KernelError, netns_path

    with pytest.raises(KernelError, match="is not a namespace name"):
        netns_path(name)
    assert netns_path("tg1-red").name == "tg1-red"


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
