"""A host interface in no link (the machine's own NIC) is emulated in sandbox mode by both back ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live.conftest import Sandbox
from tests.live.test_apply_samples import lab_plan, lab_up, tg
from topograph.compile import render_setup, render_teardown
from topograph.plan import CreateStandIn

pytestmark = pytest.mark.live

LAB = """\
lab: standin
nodes:
  red: {interfaces: {veth-red: 192.168.15.1/24}, routes: [{to: default, via: 192.168.15.5}]}
  host:
    kind: host
    forwarding: true
    bridges: {v-net-0: 192.168.15.5/24}
    interfaces: {eth0: 192.168.1.2/24}     # the machine's NIC: in no link of the lab
links:
  - [red:veth-red, v-net-0:veth-red-br]
expect:
  - {from: red, to: 192.168.1.2}
  - {from: red, to: 192.168.1.9, reach: false, note: nothing is behind the stand-in}
"""


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    path = tmp_path / "standin.yml"
    path.write_text(LAB)
    return path


def test_the_plan_has_a_stand_in_for_the_nic(sandbox: Sandbox, lab: Path) -> None:
    p = lab_plan(lab, sandbox.prefix)
    assert [op.ifname for op in p.operations if isinstance(op, CreateStandIn)] == ["eth0"]


def test_compiled_script_emulates_the_nic(sandbox: Sandbox, lab: Path) -> None:
    p = lab_plan(lab, sandbox.prefix)
    sandbox.claim_plan(p)
    done = sandbox.script(render_setup(p))
    assert done.returncode == 0, done.stderr
    red = sandbox.prefix + "red"
    assert sandbox.ping(red, "192.168.1.2")
    assert not sandbox.ping(red, "192.168.1.9", tries=1)
    assert sandbox.script(render_teardown(p)).returncode == 0
    assert sandbox.left() == []


def test_apply_emulates_the_nic(sandbox: Sandbox, lab: Path, tmp_path: Path) -> None:
    _, args = lab_up(sandbox, tmp_path, lab)
    verified = tg(tmp_path, "verify", *args)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == []
