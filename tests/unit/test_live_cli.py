"""The live commands' contract without touching the kernel: bad input, no privileges, option checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from topograph.cli import main
from topograph.live import command as live_command

SEED = str(ROOT / "samples" / "06-port-forward.yml")
COMMANDS = ["apply", "status", "verify", "destroy"]


@pytest.fixture
def no_privileges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_command, "privilege_problem",
                        lambda: "topograph needs root (or CAP_NET_ADMIN) to change network namespaces; try sudo")


@pytest.mark.parametrize("name", COMMANDS)
def test_without_privileges_one_line_and_non_zero(no_privileges: None, name: str) -> None:
    result = CliRunner().invoke(main, [name, "--sandbox", "t1-", SEED])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "topograph: topograph needs root (or CAP_NET_ADMIN) to change network namespaces; try sudo"]


def test_exec_without_privileges(no_privileges: None) -> None:
    result = CliRunner().invoke(main, ["exec", SEED, "red", "--sandbox", "t1-", "--", "true"])
    assert result.exit_code == 1 and "needs root" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_a_bad_file_is_reported_before_anything_else(tmp_path: Path, name: str) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("lab: x\nnodes:\n  a: {interfaces: {eth0: 10.0.0.300/24}}\n")
    result = CliRunner().invoke(main, [name, "--sandbox", "t1-", str(bad)])
    assert result.exit_code == 1
    assert "bad.yml:3:" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_a_bad_prefix_is_refused(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--sandbox", "bad prefix!", SEED])
    assert result.exit_code == 2 and "--sandbox" in result.output


def test_exec_names_the_nodes_when_one_is_unknown() -> None:
    result = CliRunner().invoke(main, ["exec", SEED, "purple", "--sandbox", "t1-", "--", "true"])
    assert result.exit_code == 1 and "no node 'purple'" in result.output and "red" in result.output


def test_destroy_needs_a_file_or_a_lab_name() -> None:
    result = CliRunner().invoke(main, ["destroy"])
    assert result.exit_code == 1 and "FILE or --lab NAME" in result.output


def test_the_commands_are_registered() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for name in [*COMMANDS, "exec"]:
        assert name in result.output
