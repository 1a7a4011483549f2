"""`topograph list` and --json for real, in a sandbox: apply shows the lab in the list, destroy takes it out.

The lab's file is found without FILE (topograph.yml in the working directory), as a user in the lab's directory runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.live.conftest import Sandbox, _run
from topograph.live.execute import FAIL_AT_ENV
from topograph.pipeline import check_file
from topograph.plan import plan

pytestmark = pytest.mark.live

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "01-veth-pair.yml"
ROOT = Path(__file__).resolve().parents[2]


def tg(where: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI run in `where`, with this test's own state directory (records and locks)."""
    env = {k: v for k, v in os.environ.items() if k != FAIL_AT_ENV}
    env |= {"TOPOGRAPH_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "topograph", *args], capture_output=True, text=True, cwd=where,
                          env=env, timeout=120, check=False, stdin=subprocess.DEVNULL)


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def test_list_follows_apply_and_destroy(sandbox: Sandbox, tmp_path: Path) -> None:
    lab_dir, state = tmp_path / "lab", tmp_path / "state"
    lab_dir.mkdir()
    shutil.copy(SAMPLE, lab_dir / "topograph.yml")
    checked = check_file(SAMPLE)
    assert checked.topology is not None
    p = plan(checked.topology, sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(p)
    box = ("--sandbox", sandbox.prefix)

    assert as_json(tg(lab_dir, state, "list", "--json")) == {"ok": True, "labs": []}
    up = tg(lab_dir, state, "apply", "--json", *box)
    assert up.returncode == 0, up.stdout + up.stderr
    applied = as_json(up)
    assert applied["ok"] and applied["changed"] and applied["applied"] > 0
    assert (applied["lab"], applied["mode"], applied["prefix"]) == ("pair", "sandbox", sandbox.prefix)
    assert set(p.namespaces) == set(sandbox.left())

    (row,) = as_json(tg(lab_dir, state, "list", "--json"))["labs"]
    assert (row["lab"], row["mode"], row["prefix"], row["state"]) == ("pair", "sandbox", sandbox.prefix, "up")
    assert sorted(row["nodes"]) == ["blue", "red"] and row["namespaces"] == 2
    assert Path(row["source"]).resolve() == (lab_dir / "topograph.yml").resolve()
    table = tg(lab_dir, state, "list").stdout.splitlines()
    assert table[1].split()[:4] == ["pair", "sandbox", sandbox.prefix, "2"] and table[1].split()[-1] == "up"

    status = tg(lab_dir, state, "status", "--json", *box)
    assert status.returncode == 0 and as_json(status)["clean"] is True
    again = as_json(tg(lab_dir, state, "apply", "--json", *box))
    assert again["changed"] is False and again["applied"] == 0 and again["up_to_date"] > 0

    gone_by_hand = sandbox.prefix + "blue"  # ours: deleted by exact name, as a user might
    assert _run("ip", "netns", "del", gone_by_hand).returncode == 0
    (row,) = as_json(tg(lab_dir, state, "list", "--json"))["labs"]
    assert (row["state"], row["namespaces"]) == ("partial", 1)
    drifted = tg(lab_dir, state, "status", "--json", *box)
    assert drifted.returncode == 2 and as_json(drifted)["counts"]["missing"] > 0

    down = tg(lab_dir, state, "destroy", "--json", *box)
    assert down.returncode == 0, down.stdout + down.stderr
    removed = as_json(down)
    assert removed["ok"] and f"namespace {sandbox.prefix}red" in " ".join(removed["removed"])
    assert sandbox.left() == []
    assert as_json(tg(lab_dir, state, "list", "--json")) == {"ok": True, "labs": []}
    assert tg(lab_dir, state, "list").stdout.startswith("no labs on this machine")
    twice = as_json(tg(lab_dir, state, "destroy", "--json", *box))
    assert twice["removed"] == [] and "nothing removed" in twice["note"]
