"""The live commands' contract without touching the kernel: bad input, no privileges, option checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from topograph.cli import live as live_command
from topograph.cli import main
from topograph.live import state

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


def test_a_negative_status_limit_is_refused() -> None:
    # it used to slice the list from the end: --limit -1 hid the last change behind "... and 1 more"
    result = CliRunner().invoke(main, ["status", "--limit", "-1", "--sandbox", "t1-", SEED])
    assert result.exit_code == 2 and "--limit" in result.output and "missing" not in result.output


def test_exec_names_the_nodes_when_one_is_unknown() -> None:
    result = CliRunner().invoke(main, ["exec", SEED, "purple", "--sandbox", "t1-", "--", "true"])
    assert result.exit_code == 1 and "no node 'purple'" in result.output and "red" in result.output


def test_destroy_needs_a_file_or_a_lab_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no topograph.yml and no *.topo.yml here
    result = CliRunner().invoke(main, ["destroy"])
    assert result.exit_code == 2 and "or give the lab's name: --lab NAME" in result.output and "topograph.yml" in result.output
    both = CliRunner().invoke(main, ["destroy", SEED, "--lab", "seed"])
    assert both.exit_code == 1 and "FILE or --lab NAME (one of them)" in both.output


def test_the_commands_are_registered() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for name in [*COMMANDS, "exec"]:
        assert name in result.output


# -- real mode with the kernel faked: apply, apply --dry-run and status share one check ---------

class _KernelReached(AssertionError):
    pass


@pytest.fixture
def fake_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[tuple[str, ...]], None]:
    """Real mode without the kernel: no namespace, socket or step is ever opened or run.

    Calling the fixture's value with interface names makes them the root namespace's links as
    `observe` reports them; anything that would go on to change the kernel fails the test.
    """
    from topograph.live import engine
    from topograph.live.observe import Live, LiveLink, NsState

    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(live_command, "privilege_problem", lambda: None)

    @contextmanager
    def no_session() -> Iterator[tuple[None, None]]:
        yield None, None

    def runner(*args: object, **kwargs: object) -> None:
        raise _KernelReached("apply went on to change the kernel")

    links: dict[str, LiveLink] = {"lo": LiveLink("lo", "")}
    monkeypatch.setattr(engine, "session", no_session)
    monkeypatch.setattr(engine, "observe", lambda *args: Live(namespaces={None: NsState(links=dict(links))}))
    monkeypatch.setattr(engine, "Runner", runner)

    def set_links(names: tuple[str, ...]) -> None:
        links.update({n: LiveLink(n, "veth") for n in names})

    return set_links


def test_absent_uplinks_are_reported_alike_by_apply_its_dry_run_and_status(
        fake_root: Callable[[tuple[str, ...]], None]) -> None:
    fake_root(("eth0",))
    sentence = "the host has no interface wan0, which the lab uses as it is"
    applied = CliRunner().invoke(main, ["apply", SEED])
    dry = CliRunner().invoke(main, ["apply", "--dry-run", SEED])
    status = CliRunner().invoke(main, ["status", SEED])
    assert not isinstance(applied.exception, _KernelReached)
    assert (applied.exit_code, applied.output) == (1, f"topograph: {sentence}; nothing was changed\n")
    assert (dry.exit_code, dry.output) == (1, applied.output)
    assert status.exit_code == 2
    assert status.output.splitlines()[1:] == [f"  blocked  {sentence}", "  apply would stop here, before any change"]


def test_with_the_uplinks_present_dry_run_and_status_show_the_changes(
        fake_root: Callable[[tuple[str, ...]], None]) -> None:
    fake_root(("eth0", "wan0"))
    dry = CliRunner().invoke(main, ["apply", "--dry-run", SEED])
    status = CliRunner().invoke(main, ["status", SEED])
    assert dry.exit_code == 0 and "+ missing  red (red): create namespace" in dry.output
    assert "(--dry-run: nothing changed)" in dry.output and "blocked" not in dry.output
    assert status.exit_code == 2 and "blocked" not in status.output and "missing" in status.output
    assert "--dry-run" not in status.output


@pytest.mark.parametrize("name", ["seed\n", "../seed", "se ed", "seed\u2028", ""])
def test_destroy_refuses_a_lab_name_check_would_refuse(name: str) -> None:
    """--lab names the state record's file: 'seed\n' or '../x' must not reach the state directory."""
    result = CliRunner().invoke(main, ["destroy", "--lab", name])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"topograph: --lab {name!r} is not a lab name: ") and result.stderr.count("\n") == 1
