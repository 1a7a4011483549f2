"""Undo is complete: converge resets what the file no longer says, a failed converge undoes every step,
and a namespace file left unmounted by a killed run is named by status and repaired by apply and destroy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.live.conftest import Sandbox
from tests.live.test_apply_samples import lab_up, tg
from topograph.live.kernel import netns_path

pytestmark = pytest.mark.live

SEED = ROOT / "samples" / "06-port-forward.yml"


def _unmount(netns: str) -> None:
    """What a run killed between unmounting and unlinking a namespace leaves: the bare file."""
    assert subprocess.run(["umount", str(netns_path(netns))], check=False).returncode == 0
    assert netns_path(netns).is_file() and not os.path.ismount(netns_path(netns))


def test_a_namespace_file_left_unmounted_is_named_by_status_and_repaired(sandbox: Sandbox, tmp_path: Path) -> None:
    _, args = lab_up(sandbox, tmp_path, SEED)
    red = sandbox.prefix + "red"
    _unmount(red)
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2, status.stderr
    assert "Errno" not in status.stderr
    assert f"namespace file {netns_path(red)} is left from a killed run; destroy or apply repairs it" in status.stdout
    done = tg(tmp_path, "apply", *args)
    assert done.returncode == 0, done.stderr
    assert os.path.ismount(netns_path(red))
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "verify", *args).returncode == 0
    _unmount(red)
    gone = tg(tmp_path, "destroy", *args)
    assert gone.returncode == 0, gone.stderr
    assert sandbox.left() == []


def test_a_bare_namespace_file_of_no_record_is_not_ours(sandbox: Sandbox, tmp_path: Path) -> None:
    _, args = lab_up(sandbox, tmp_path, SEED)
    assert tg(tmp_path, "destroy", *args).returncode == 0
    theirs = netns_path(sandbox.prefix + "blue")
    theirs.touch()  # in no record: apply must not take it
    try:
        done = tg(tmp_path, "apply", *args)
        assert done.returncode == 1 and "is not part of lab seed's record (a bare file" in done.stderr
        assert theirs.is_file() and sandbox.left() == [sandbox.prefix + "blue"]
    finally:
        theirs.unlink()
