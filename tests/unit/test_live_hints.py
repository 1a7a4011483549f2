"""A lab asked for in one mode but up in another: every live command names the mode it is up in.

Records are written by hand into a temporary state directory; nothing reaches the kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from topograph.cli import live as live_command
from topograph.cli import main
from topograph.live import state

SEED = str(ROOT / "samples" / "06-port-forward.yml")
PREFIX = "zq9-"  # no namespace on the machine carries it
IN_SANDBOX = f"lab seed is not up in real mode; it is up in sandbox {PREFIX} (run with --sandbox {PREFIX})"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(live_command, "privilege_problem", lambda: None)
    return tmp_path


def up_in(prefix: str | None) -> None:
    state.save(state.Record(lab="seed", prefix=prefix, namespaces=[f"{prefix}red"], complete=True))


def test_the_sentence_names_the_other_mode_and_how_to_reach_it() -> None:
    assert live_command.elsewhere("seed", None) is None
    up_in(PREFIX)
    assert live_command.elsewhere("seed", None) == IN_SANDBOX
    assert live_command.elsewhere("seed", PREFIX) is None  # it is up where it is asked for
    assert live_command.elsewhere("other", None) is None
    assert live_command.elsewhere("seed", "t7-") == (
        f"lab seed is not up in sandbox t7-; it is up in sandbox {PREFIX} (run with --sandbox {PREFIX})")
    state.save(state.Record(lab="seed", prefix=None))
    assert live_command.elsewhere("seed", "t7-") == (
        f"lab seed is not up in sandbox t7-; it is up in real mode and sandbox {PREFIX} (run without --sandbox)")


def test_destroy_by_name_says_where_the_lab_is_up_and_removes_nothing(state_dir: Path) -> None:
    up_in(PREFIX)
    result = CliRunner().invoke(main, ["destroy", "--lab", "seed"])
    assert result.exit_code == 0
    assert result.output == f"{IN_SANDBOX}; nothing removed\n"
    assert (state_dir / f"seed@{PREFIX}.json").exists()
    plain = CliRunner().invoke(main, ["destroy", "--lab", "other"])
    assert plain.output == "lab other: nothing of it is up; nothing removed\n"


def test_verify_and_exec_say_where_the_lab_is_up() -> None:
    up_in(PREFIX)
    verify = CliRunner().invoke(main, ["verify", SEED])
    assert (verify.exit_code, verify.output) == (1, f"topograph: {IN_SANDBOX}\n")
    run = CliRunner().invoke(main, ["exec", SEED, "red", "--", "true"])
    assert (run.exit_code, run.output) == (1, f"topograph: {IN_SANDBOX}\n")
    external = CliRunner().invoke(main, ["exec", SEED, "lan", "--", "true"])
    assert external.exit_code == 1 and IN_SANDBOX in external.output


def test_status_says_where_the_lab_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from topograph.live import engine
    from topograph.live.observe import Live, LiveLink, NsState

    @contextmanager
    def no_session() -> Iterator[tuple[None, None]]:
        yield None, None

    root = NsState(links={n: LiveLink(n, "veth") for n in ("lo", "eth0", "wan0")})
    monkeypatch.setattr(engine, "session", no_session)
    monkeypatch.setattr(engine, "observe", lambda *args: Live(namespaces={None: root}))
    up_in(PREFIX)
    result = CliRunner().invoke(main, ["status", SEED])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == f"  {IN_SANDBOX}"
