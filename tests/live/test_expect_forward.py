"""`expect: {to: NODE:PORT}` for real: verify connects through the port forward, as trace and check predict."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live.conftest import Sandbox
from tests.live.test_apply_samples import SEED, lab_plan, tg

pytestmark = pytest.mark.live


def test_verify_connects_through_the_port_forward_an_expectation_names(sandbox: Sandbox, tmp_path: Path) -> None:
    lab = tmp_path / "seed.yml"
    lab.write_text(SEED.read_text() + "  - {from: lan, to: host:80, note: through the forward as trace lan host:80 goes}\n")
    sandbox.claim_plan(lab_plan(lab, sandbox.prefix))
    args = ("--sandbox", sandbox.prefix, str(lab))
    up = tg(tmp_path, "apply", *args)
    assert up.returncode == 0, up.stderr
    try:
        checked = tg(tmp_path, "verify", *args)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        line = checked.stdout.splitlines()[-2]  # the new expectation, before the summary line
        assert line.startswith("lan -> host tcp/80") and line.split()[-3:] == ["reach", "reach", "ok"], checked.stdout
        # the forward taken away, the same probe no longer reaches: it really went through it
        assert sandbox.exec(sandbox.prefix + "host", "nft", "delete", "table", "inet", "topograph-seed").returncode == 0
        broken = tg(tmp_path, "verify", *args)
        assert broken.returncode == 1
        assert "DIFFERS" in broken.stdout.splitlines()[-2], broken.stdout
    finally:  # no assert here: it would hide the first failure; the sandbox fixture checks nothing is left
        gone = tg(tmp_path, "destroy", *args)
    assert gone.returncode == 0, gone.stderr
