"""`topograph scan`'s command line without root: a bad choice is one line and exit 1, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from topograph.cli import live as live_command
from topograph.cli import main


def test_without_privileges_one_line_and_non_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_command, "privilege_problem", lambda: "topograph needs root; try sudo")
    result = CliRunner().invoke(main, ["scan", "--sandbox", "t1-"])
    assert result.exit_code == 1 and result.output == "topograph: topograph needs root; try sudo\n"


def test_nothing_named_and_unknown_namespaces_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_command, "privilege_problem", lambda: None)
    monkeypatch.setattr("topograph.scan.targets.list_netns", lambda: {"red"})
    result = CliRunner().invoke(main, ["scan"])
    assert result.exit_code == 1 and "nothing to scan" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["scan", "--netns", "blue"])
    assert result.exit_code == 1 and result.output == "topograph: no namespace 'blue' in /run/netns\n"
    result = CliRunner().invoke(main, ["scan", "--sandbox", "zz-"])
    assert result.exit_code == 1 and result.output == "topograph: no namespace is named zz-*\n"
    # a newline in the name split the message over two lines
    result = CliRunner().invoke(main, ["scan", "--netns", "blue\n"])
    assert result.exit_code == 1 and result.output == "topograph: no namespace 'blue\\n' in /run/netns\n"


def test_a_bad_lab_name_or_prefix_is_a_usage_error() -> None:
    assert CliRunner().invoke(main, ["scan", "--sandbox", "t/1-"]).exit_code == 2
    assert CliRunner().invoke(main, ["scan", "--lab", "a b", "--sandbox", "t1-"]).exit_code == 2
