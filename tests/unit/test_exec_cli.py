"""`topograph exec FILE NODE -- COMMAND...` with the kernel faked: what it runs, and its one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import ROOT
from topograph.cli import live as live_command
from topograph.cli import main

SEED = str(ROOT / "samples" / "06-port-forward.yml")
HINT = "  hint: put the command after '--': topograph exec FILE NODE -- ip addr"


class Execed(Exception):
    """Raised instead of replacing the process: what exec would have run."""

    def __init__(self, program: str, argv: list[str]) -> None:
        super().__init__(program, argv)
        self.program, self.argv = program, argv


@pytest.fixture
def faked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Root, every namespace present, and os.execv/execvp caught; the list collects the namespaces looked up."""
    from topograph.live import kernel, state

    looked: list[str] = []
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(live_command, "privilege_problem", lambda: None)

    def exists(name: str) -> bool:
        looked.append(name)
        return True

    monkeypatch.setattr(kernel, "netns_exists", exists)
    monkeypatch.setattr(kernel, "netns_mounted", lambda name: True)

    def caught(program: str, argv: list[str]) -> None:
        raise Execed(program, argv)

    monkeypatch.setattr(os, "execv", caught)  # topograph.cli.exec calls them through the os module
    monkeypatch.setattr(os, "execvp", caught)
    return looked


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["exec", *args])


def test_a_command_runs_in_the_nodes_namespace(faked: list[str]) -> None:
    result = run("--sandbox", "t1-", SEED, "red", "--", "ping", "-c1", "10.0.0.2")
    assert isinstance(result.exception, Execed), result.output
    assert (result.exception.program, result.exception.argv) == (
        "ip", ["ip", "netns", "exec", "t1-red", "ping", "-c1", "10.0.0.2"])
    assert faked == ["t1-red"]


@pytest.mark.parametrize("command", [[""], [" "], ["", "-c1"]])
def test_an_empty_command_is_a_one_line_usage_error(faked: list[str], command: list[str]) -> None:
    # it used to reach `ip netns exec`, which printed its own 'exec of "" failed' without topograph's prefix
    result = run("--sandbox", "t1-", SEED, "red", "--", *command)
    assert not isinstance(result.exception, Execed)
    assert result.exit_code == 2  # as click's own usage errors of exec (a missing NODE)
    assert result.output.splitlines() == [f"topograph: the command to run is empty ({command[0]!r})", HINT]
    assert faked == [], "no namespace is looked at"


@pytest.mark.parametrize("tail", [["--"], []])
def test_no_command_at_all_is_the_same_usage_error(faked: list[str], tail: list[str]) -> None:
    result = run("--sandbox", "t1-", SEED, "red", *tail)
    assert result.exit_code == 2 and not isinstance(result.exception, Execed)
    assert result.output.splitlines() == ["topograph: no command given to run", HINT]


def test_the_usage_error_comes_before_the_file_is_read(faked: list[str], tmp_path: Path) -> None:
    result = run(str(tmp_path / "missing.yml"), "red", "--", "")
    assert result.exit_code == 2 and result.output.startswith("topograph: the command to run is empty")


def test_a_command_not_on_path_is_one_line(faked: list[str]) -> None:
    result = run("--sandbox", "t1-", SEED, "red", "--", "no-such-command-tg")
    assert not isinstance(result.exception, Execed)
    assert result.exit_code == 127
    assert result.output.splitlines() == ["topograph: no command 'no-such-command-tg' on PATH",
                                          "  hint: check its spelling, or give its full path"]


def test_a_path_that_cannot_run_is_one_line(faked: list[str], tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    result = run("--sandbox", "t1-", SEED, "red", "--", str(script))
    assert result.exit_code == 126 and result.output.startswith(f"topograph: command '{script}' is not executable")
    missing = run("--sandbox", "t1-", SEED, "red", "--", str(tmp_path / "none"))
    assert missing.exit_code == 127 and missing.output.startswith("topograph: no command")


def test_the_host_in_real_mode_runs_the_command_itself(faked: list[str]) -> None:
    # the root namespace: no `ip netns exec`; the program is resolved first (an unknown one was a traceback)
    result = run(SEED, "host", "--", "true")
    assert isinstance(result.exception, Execed), result.output
    assert result.exception.argv == ["true"] and Path(result.exception.program).name == "true"
    unknown = run(SEED, "host", "--", "no-such-command-tg")
    assert unknown.exit_code == 127 and "Traceback" not in unknown.output
