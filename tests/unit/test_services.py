"""Services (`run:`): the format, the plan's StartService/StopService, what converge makes of a service's
state, and the supervisor itself (started in the current namespace: a `sleep`, no network, no root needed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from topograph import kernel_names
from topograph.compile import render_setup, render_teardown
from topograph.live import services
from topograph.live.services import Observed
from topograph.pipeline import check_text
from topograph.plan import StartService, StopService, plan, reverse

LAB = """\
lab: svc
nodes:
  red:
    interfaces: {veth-red: 192.168.15.1/24}
    listen: [tcp/80, udp/53]
    run:
      - python3 -m http.server 80 --bind 0.0.0.0
      - {name: dns, cmd: "/usr/sbin/dnsmasq -k"}
  blue:
    interfaces: {veth-blue: 192.168.15.2/24}
    run: sleep 1000
links:
  - [red:veth-red, blue:veth-blue]
"""


def test_run_takes_a_command_a_mapping_or_one_string() -> None:
    checked = check_text(LAB, "svc.yml")
    assert checked.topology is not None
    red, blue = checked.topology.node("red"), checked.topology.node("blue")
    assert [(s.name, s.cmd) for s in red.services] == [("python3", "python3 -m http.server 80 --bind 0.0.0.0"),
                                                       ("dns", "/usr/sbin/dnsmasq -k")]
    assert [(s.name, s.cmd) for s in blue.services] == [("sleep", "sleep 1000")]
    assert red.services[1].pos is not None and red.services[1].pos.line == 8


@pytest.mark.parametrize(("extra", "ok"), [(0, True), (1, False)])
def test_a_command_longer_than_one_argument_can_be_is_refused(extra: int, ok: bool) -> None:
    """The command reaches `sh -c` as one argument: 131,072 bytes passed check and failed at apply's last step
    (E2BIG, 'Argument list too long'), rolling the lab back."""
    from topograph.front.services import MAX_COMMAND_BYTES

    cmd = "echo " + "é" * ((MAX_COMMAND_BYTES - 5) // 2) + "x" * ((MAX_COMMAND_BYTES - 5) % 2 + extra)
    assert len(cmd.encode()) == MAX_COMMAND_BYTES + extra
    checked = check_text(LAB.replace("run: sleep 1000", f"run: [{{name: big, cmd: '{cmd}'}}]"), "svc.yml")
    assert checked.ok is ok
    if not ok:
        [d] = [d for d in checked.report if d.is_error]
        assert (d.code, d.pos.line) == ("TG607", 11)
        assert "is 131,072 bytes long; the kernel passes at most 131,071 bytes" in d.message


def test_services_start_last_and_stop_first() -> None:
    checked = check_text(LAB, "svc.yml")
    assert checked.topology is not None
    p = plan(checked.topology, sandbox_prefix="sv1-")
    starts = [op for op in p.operations if isinstance(op, StartService)]
    assert p.operations[-len(starts):] == tuple(starts)
    run_dir = kernel_names.service_dir("svc", "sv1-")
    assert run_dir == "/run/topograph/svc@sv1-.services"
    assert starts[0] == StartService("red", "sv1-red", "python3", run_dir, "python3 -m http.server 80 --bind 0.0.0.0",
                                     ("tcp/80", "udp/53"))
    assert starts[0].log == f"{run_dir}/red/python3.log" and starts[2].ports == ()
    down = reverse(p).operations
    assert down[:3] == tuple(StopService(s.node, s.netns, s.name, s.dir) for s in reversed(starts))
    setup, teardown = render_setup(p), render_teardown(p)
    assert "ip netns exec sv1-red setsid -f sh -c" in setup and "'/usr/sbin/dnsmasq -k'" in setup
    assert f"stop_group {run_dir}/blue/sleep.pid {run_dir}/blue/sleep" in teardown
    assert teardown.index("stop_group ") < teardown.index("ip netns del")


def test_an_external_node_runs_nothing_in_real_mode() -> None:
    text = (ROOT / "samples" / "06-port-forward.yml").read_text().replace(
        "lan:   {kind: external, interfaces: {eth0: 192.168.1.3/24}}",
        "lan:   {kind: external, interfaces: {eth0: 192.168.1.3/24}, run: [sleep 9]}")
    checked = check_text(text, "seed.yml")
    assert checked.topology is not None
    real = plan(checked.topology)
    assert not any(isinstance(op, StartService) for op in real.operations)
    assert any("its services (run:) are not started: sleep" in n for n in real.notes)
    assert any(isinstance(op, StartService) and op.node == "lan" for op in plan(checked.topology, sandbox_prefix="x-").operations)


def _op(tmp_path: Path, cmd: str = "sleep 30") -> StartService:
    return StartService("red", None, "web", str(tmp_path / "svc"), cmd)


def test_changes_restart_a_dead_or_changed_service_and_stop_one_no_longer_in_the_file(tmp_path: Path) -> None:
    op = _op(tmp_path)
    checked = check_text(LAB, "svc.yml")
    assert checked.topology is not None
    p = plan(checked.topology, sandbox_prefix="sv1-")
    starts = [o for o in p.operations if isinstance(o, StartService)]
    running = {o.key: Observed(o.node, o.name, "running", o.log, 100 + i, 5, cmd=o.cmd) for i, o in enumerate(starts)}
    assert services.changes(p, running, {}, set()) == (3, [])
    # one fresh namespace: its service is missing whatever the files say
    n, found = services.changes(p, running, {}, {"sv1-blue"})
    assert n == 2 and [(c.state, c.op) for c in found] == [("missing", starts[2])]
    dead = dict(running) | {starts[0].key: Observed("red", "python3", "exited", starts[0].log, code=1)}
    n, found = services.changes(p, dead, {}, set())
    assert n == 2 and found[0].state == "missing" and found[0].op == starts[0]
    assert found[0].what == f"red: service python3: exited with code 1; see {starts[0].log}"
    changed = dict(running) | {starts[1].key: Observed("red", "dns", "running", starts[1].log, 7, 5, cmd="dnsmasq")}
    n, found = services.changes(p, changed, {}, set())
    assert n == 2 and found[0].state == "drifted" and found[0].ops == [
        StopService("red", "sv1-red", "dns", starts[1].dir), starts[1]]
    recorded = {"red/old": {"netns": "sv1-red", "dir": op.dir, "cmd": "sleep 1", "pid": 9, "start": 1}}
    extra = dict(running) | {"red/old": Observed("red", "old", "running", "x", 9, 1, cmd="sleep 1")}
    n, found = services.changes(p, extra, recorded, set())
    assert n == 3 and [(c.state, c.removal) for c in found] == [("extra", StopService("red", "sv1-red", "old", op.dir))]
    gone = dict(running) | {"red/old": Observed("red", "old", "exited", "x", code=0)}
    assert services.changes(p, gone, recorded, set()) == (3, [])  # nothing to stop: destroy or apply drops its files


def test_a_pid_file_naming_another_process_is_not_the_service(tmp_path: Path) -> None:
    op = _op(tmp_path)
    os.makedirs(op.node_dir)
    Path(op.pid_file).write_text(f"{os.getpid()}\n")  # this very process: its command line is not the supervisor's
    assert services.observe_service(op).state == "stopped"
    assert services.stop(op) is False  # and it is never signalled
    assert not os.path.exists(op.dir)
    os.makedirs(op.node_dir)
    Path(op.rc_file).write_text("3\n")
    assert services.observe_service(op).describe() == "exited with code 3"


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_the_supervisor_records_pid_and_exit_code_and_a_stop_ends_its_group(tmp_path: Path) -> None:
    op = _op(tmp_path, "sleep 30 & sleep 30; exit 4")  # two processes in the group
    first = services.start(op)
    try:
        assert first.state == "running" and first.pid is not None and first.start is not None
        assert services.proc(first.pid) is not None and services.observe_service(op, first.start).cmd == op.cmd
        assert services.observe_service(op, first.start + 1).state != "running"  # another start time: another process
        deadline = time.monotonic() + 5  # the supervisor, sh, two sleeps (sh may exec the last), once sh started them
        while len(members := services.group_pids(first.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(members) >= 3, members
        assert os.getpgid(first.pid) == first.pid == os.getsid(first.pid)
        assert services.stop(op) is True
        assert services.group_pids(first.pid) == [] and not os.path.exists(op.dir)
    finally:
        services.stop(op)
    quick = _op(tmp_path, "echo hello; exit 4")
    ended = services.start(quick)
    deadline = time.monotonic() + 5
    while services.observe_service(quick).state == "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    now = services.observe_service(quick)
    assert (now.state, now.code) == ("exited", 4), (ended, now)
    assert Path(quick.log).read_text() == "hello\n"
    services.stop(quick)
    assert not os.path.exists(quick.dir)


def test_logs_names_what_it_cannot_show() -> None:
    from click.testing import CliRunner

    from topograph.cli import main

    sample = str(ROOT / "samples" / "15-seed-web.yml")
    for args, said in ((["blue:web", "--sandbox", "nolab1-"], "no log of service web on blue "
                        "(/run/topograph/seed-web@nolab1-.services/blue/web.log): is the lab up?"),
                       (["red"], "red runs no services (the file gives it no run:)"),
                       (["blue:db"], "blue runs no service 'db'; its services: web"),
                       (["pink"], "lab seed-web has no node 'pink'")):
        result = CliRunner().invoke(main, ["logs", sample, *args])
        assert result.exit_code == 1 and said in result.stderr, result.stderr
