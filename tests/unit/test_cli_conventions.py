"""The command line's conventions (issue 15): FILE optional, `list`, --json on the live commands, completion."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tests.unit import test_live_cli
from topograph.cli import live as live_command
from topograph.cli import main
from topograph.cli.common import NoDefaultFile, default_file
from topograph.live import kernel, state

SEED = ROOT / "samples" / "06-port-forward.yml"
fake_root = test_live_cli.fake_root  # real mode with the kernel faked (no namespace is ever touched)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- FILE optional ---------------------------------------------------------------------------

def test_topograph_yml_comes_first(here: Path) -> None:
    (here / "a.topo.yml").write_text(SEED.read_text())
    (here / "topograph.yml").write_text(SEED.read_text())
    assert default_file() == "topograph.yml"
    assert default_file(here) == str(here / "topograph.yml")


def test_else_the_only_topo_yml(here: Path) -> None:
    (here / "seed.topo.yml").write_text(SEED.read_text())
    (here / "other.yml").write_text("not a candidate")
    assert default_file() == "seed.topo.yml"


def test_none_or_several_say_what_was_looked_for_and_found(here: Path) -> None:
    with pytest.raises(NoDefaultFile, match=r"no FILE given, and the current directory has no topograph.yml "
                                            r"and no \*.topo.yml$"):
        default_file()
    for name in ("b.topo.yml", "a.topo.yml"):
        (here / name).write_text(SEED.read_text())
    with pytest.raises(NoDefaultFile, match=r"but 2 \*.topo.yml files \(a.topo.yml, b.topo.yml\); name one$"):
        default_file()


@pytest.mark.parametrize("args", [["check"], ["compile"], ["reach"], ["render", "--dot"], ["trace", "red", "blue"],
                                  ["status", "--sandbox", "t1-"], ["apply", "--sandbox", "t1-"], ["verify"],
                                  ["destroy"], ["review", "-o", os.devnull, "--format", "html"]])
def test_every_command_without_file_and_none_here_exits_2(here: Path, args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "no FILE given, and the current directory has no topograph.yml and no *.topo.yml" in result.output
    assert "Traceback" not in result.output


def test_the_found_file_is_used_and_named(here: Path) -> None:
    (here / "seed.topo.yml").write_text(SEED.read_text())
    result = invoke("check")
    assert result.exit_code == 0 and "seed.topo.yml: lab 'seed' is valid" in result.output


def test_trace_keeps_src_and_dst_in_place_without_file(here: Path) -> None:
    (here / "topograph.yml").write_text(SEED.read_text())
    without = invoke("trace", "red", "blue")
    with_file = invoke("trace", str(SEED), "red", "blue")
    assert without.exit_code == with_file.exit_code == 0
    assert without.output == with_file.output and without.output.startswith("flow: red -> ")
    extra = invoke("trace", str(SEED), "red", "blue", "green")
    assert extra.exit_code == 2 and "too many arguments: expected [FILE] SRC DST" in extra.output
    assert "[FILE] SRC DST" in invoke("trace", "--help").output


def test_exec_still_needs_file_before_node() -> None:
    # `exec NODE -- ARGV...` and `exec FILE NODE -- ARGV...` cannot be told apart: FILE stays required there
    assert "FILE NODE ARGV..." in invoke("exec", "--help").output


def test_a_missing_file_is_json_under_json(here: Path) -> None:
    result = invoke("check", "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["exit"] == 2 and "no *.topo.yml" in data["error"]


# -- topograph list ----------------------------------------------------------------------------

@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., state.Record]:
    """Records in a state directory of the test's own; the namespaces `present` exist (faked)."""
    present: set[str] = set()
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.setattr(kernel, "list_netns", lambda: set(present))

    def make(lab: str, prefix: str | None, namespaces: list[str], *, up: list[str], complete: bool = True) -> state.Record:
        rec = state.Record(lab, prefix, source=f"/labs/{lab}.yml", namespaces=namespaces, complete=complete)
        state.save(rec)
        present.update(up)
        return rec

    return make


def listed() -> list[dict[str, Any]]:
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    labs: list[dict[str, Any]] = data["labs"]
    return labs


def test_list_without_records(records: Callable[..., state.Record]) -> None:
    assert listed() == []
    result = invoke("list")
    assert result.exit_code == 0 and result.output.startswith("no labs on this machine")


def test_list_states(records: Callable[..., state.Record], tmp_path: Path) -> None:
    records("seed", "t1-", ["t1-blue", "t1-red"], up=["t1-red", "t1-blue"])
    records("seed", "t2-", ["t2-blue", "t2-red"], up=["t2-red"])
    records("chain", None, ["a", "b"], up=[])
    records("ring", "r-", ["r-a"], up=["r-a"], complete=False)
    (tmp_path / "state" / "broken@x-.json").write_text("{not json")
    rows = {(r["lab"], r["prefix"]): r for r in listed()}
    assert {k: r["state"] for k, r in rows.items()} == {
        ("seed", "t1-"): "up", ("seed", "t2-"): "partial", ("chain", None): "down",
        ("ring", "r-"): "interrupted", ("broken", "x-"): "unreadable"}
    seed = rows[("seed", "t1-")]
    assert seed["mode"] == "sandbox" and seed["nodes"] == ["blue", "red"] and seed["namespaces"] == 2
    assert seed["source"] == "/labs/seed.yml" and seed["since"].endswith("Z") and seed["pid"] is None
    assert rows[("chain", None)]["mode"] == "real" and rows[("chain", None)]["nodes"] == ["a", "b"]
    assert rows[("seed", "t2-")]["namespaces"] == 1


def test_list_shows_a_lab_whose_lock_is_held(records: Callable[..., state.Record]) -> None:
    rec = records("seed", "t1-", ["t1-red"], up=["t1-red"])
    fd = os.open(state.state_file(rec.key, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        (row,) = listed()
        assert (row["state"], row["pid"]) == ("busy", os.getpid())
    finally:
        os.close(fd)
    (row,) = listed()
    assert (row["state"], row["pid"]) == ("up", None)


def test_list_table(records: Callable[..., state.Record]) -> None:
    records("seed", "t1-", ["t1-red", "t1-blue"], up=["t1-red", "t1-blue"])
    records("chain", None, ["a", "b", "c"], up=["a"])
    lines = invoke("list").output.splitlines()
    assert lines[0].split() == ["LAB", "MODE", "PREFIX", "NODES", "SINCE", "STATE"]
    cells = sorted(line.split() for line in lines[1:])
    assert [c[:4] + c[5:] for c in cells] == [["chain", "real", "-", "3", "partial"], ["seed", "sandbox", "t1-", "2", "up"]]


# -- --json on the live commands ---------------------------------------------------------------

def test_no_privileges_is_a_json_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_command, "privilege_problem", lambda: "topograph needs root; try sudo")
    for name in ("apply", "status", "destroy"):
        result = invoke(name, "--json", "--sandbox", "t1-", str(SEED))
        assert result.exit_code == 1
        assert json.loads(result.stdout) == {"ok": False, "error": "topograph needs root; try sudo", "hint": None,
                                             "exit": 1}


def test_a_bad_file_is_a_json_error_with_its_diagnostics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("lab: x\nnodes:\n  a: {interfaces: {eth0: 10.0.0.300/24}}\n")
    result = invoke("apply", "--json", "--sandbox", "t1-", str(bad))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["error"] == f"{bad} has 2 errors"
    assert [d["code"] for d in data["diagnostics"]] == ["TG111", "TG200"]


def test_status_and_dry_run_json(fake_root: Callable[[tuple[str, ...]], None]) -> None:
    fake_root(("eth0", "wan0"))
    status = invoke("status", "--json", str(SEED))
    assert status.exit_code == 2  # differs: as without --json
    data = json.loads(status.stdout)
    assert data["ok"] is True and data["clean"] is False and (data["lab"], data["mode"], data["prefix"]) == (
        "seed", "real", None)
    assert sum(data["counts"].values()) == len(data["changes"]) > data["counts"]["missing"] > 0
    assert data["blocked"] == []
    assert {"state": "missing", "what": "red (red): create namespace"} in data["changes"]
    dry = invoke("apply", "--dry-run", "--commands", "--json", str(SEED))
    assert dry.exit_code == 0
    dry_data = json.loads(dry.stdout)
    assert dry_data["dry_run"] is True and dry_data["changes"] == data["changes"]
    assert any("ip netns add red" in text for text in dry_data["commands"])


def test_blocked_is_reported_in_json(fake_root: Callable[[tuple[str, ...]], None]) -> None:
    fake_root(("eth0",))
    sentence = "the host has no interface wan0, which the lab uses as it is"
    status = json.loads(invoke("status", "--json", str(SEED)).stdout)
    assert status["blocked"] == [sentence] and status["clean"] is False
    applied = invoke("apply", "--json", str(SEED))
    assert applied.exit_code == 1
    assert json.loads(applied.stdout)["error"] == f"{sentence}; nothing was changed"


def test_destroy_json_when_nothing_is_up(fake_root: Callable[[tuple[str, ...]], None]) -> None:
    result = invoke("destroy", "--json", "--lab", "seed")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "lab": "seed", "mode": "real", "prefix": None, "removed": [],
                                         "note": "lab seed: nothing of it is up; nothing removed"}


@pytest.mark.parametrize("name", ["apply", "status", "destroy", "list"])
def test_the_json_shape_is_in_the_help(name: str) -> None:
    out = invoke(name, "--help").output
    assert "--json prints" in out and '"ok"' in out


# -- completion --------------------------------------------------------------------------------

@pytest.fixture
def on_path(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose PATH has a `topograph` that runs this worktree's package."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "topograph"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m topograph "$@"\n')
    exe.chmod(0o755)
    yield {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def complete(env: dict[str, str], *words: str) -> list[str]:
    """What bash offers for the last of `words`, through the script `topograph completion bash` prints."""
    script = ('eval "$(topograph completion bash)"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
              '_topograph_completion topograph; printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "-c", script, "bash", "topograph", *words], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_and_options(on_path: dict[str, str]) -> None:
    assert complete(on_path, "li") == ["list"]
    assert complete(on_path, "c") == ["capture", "check", "compile", "completion"]
    assert complete(on_path, "apply", "--dr") == ["--dry-run"]
    assert complete(on_path, "completion", "") == ["bash", "zsh", "fish"]


def offered(env: dict[str, str], *words: str) -> list[str]:
    """What `topograph` answers the bash script for the last of `words` (click's protocol: TYPE,VALUE lines)."""
    line = " ".join(("topograph", *words))
    done = subprocess.run(["topograph"], capture_output=True, text=True, timeout=60, check=False,
                          env={**env, "COMP_WORDS": line, "COMP_CWORD": str(len(words)),
                               "_TOPOGRAPH_COMPLETE": "bash_complete"})
    return [line for line in done.stdout.splitlines() if line]


def test_file_then_src_completes_a_file_then_nothing(on_path: dict[str, str]) -> None:
    assert offered(on_path, "check", "samp") == ["file,samp"]
    assert offered(on_path, "trace", "samp") == ["file,samp"]  # FILE comes first in what is typed
    assert offered(on_path, "trace", str(SEED), "re") == []  # SRC: a node name, not a file


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script_that_asks_topograph(shell: str) -> None:
    result = invoke("completion", shell)
    assert result.exit_code == 0 and "_TOPOGRAPH_COMPLETE" in result.output and f"{shell}_" in result.output


def test_an_unknown_shell_is_refused() -> None:
    result = invoke("completion", "tcsh")
    assert result.exit_code == 2 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.output
