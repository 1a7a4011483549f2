"""What every unit test shares."""

from __future__ import annotations

import pytest

from topograph.live.state import STATE_DIR_ENV


@pytest.fixture(autouse=True)
def own_state_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A state directory of the test's own: nothing a unit test runs (a command through CliRunner, or in a
    subprocess, which inherits the environment) reads or writes the machine's /run/topograph. A test that sets
    its own (monkeypatch.setenv in the test or its fixtures) wins: autouse fixtures are set up first."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path_factory.mktemp("state")))
