"""The live commands' messages count their things right ('1 object', '2 objects'); no kernel is reached."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from topograph.cli import live as live_command
from topograph.cli import main
from topograph.live import engine, state
from topograph.live.journal import StepFailed
from topograph.live.kernel import KernelError

SEED = str(ROOT / "samples" / "06-port-forward.yml")


@pytest.mark.parametrize(("deleted", "words"), [(1, "1 object deleted"), (2, "2 objects deleted"),
                                                (0, "0 objects deleted")])
def test_a_rolled_back_apply_counts_what_it_deleted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    deleted: int, words: str) -> None:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(live_command, "privilege_problem", lambda: None)

    def failing(*args: object, **kwargs: object) -> None:
        raise StepFailed(2, 2, "add route", KernelError(errno.EIO, "injected"),
                         rolled_back=[f"deleted route {i}" for i in range(deleted)] + ["restored sysctls"])

    monkeypatch.setattr(engine, "apply", failing)
    result = CliRunner().invoke(main, ["apply", "--sandbox", "t1-", SEED])
    assert result.exit_code == 1
    assert f"topograph: rolled back: this run's changes are undone ({words})\n" in result.output


def test_the_testing_hooks_are_documented_in_the_readme_and_apply_s_help() -> None:
    from topograph.live.execute import FAIL_AT_ENV, STEP_DELAY_ENV

    readme = (ROOT / "README.md").read_text()
    helped = CliRunner().invoke(main, ["apply", "--help"], terminal_width=200).output
    for name in (FAIL_AT_ENV, STEP_DELAY_ENV, state.STATE_DIR_ENV):
        assert f"`{name}=" in readme
        assert f"{name}=" in helped
