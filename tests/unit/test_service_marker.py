"""A service that daemonizes (forks, setsid(), forks again) is found by the marker its supervisor gives its command
(TOPOGRAPH_SERVICE=BASE, live/marked.py): status says it runs, converge leaves it, and a stop (live, and the
teardown script's stop_group) ends it and nothing else: never a process of another service whose path only
begins the same (web vs web2, lab@t1- vs lab@t1-r). The daemons run in the current namespace (no root needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from topograph.compile import render_teardown
from topograph.live import marked, services
from topograph.live.services import Observed
from topograph.pipeline import check_text
from topograph.plan import StartService, StopService, plan

DAEMON = ("python3 -c 'import os,time; os.fork() and os._exit(0); os.setsid(); os.fork() and os._exit(0); "
          "time.sleep(30)'")
BASE = "/run/topograph/lab@t1-.services/red/web"

LAB = """\
lab: svc
nodes:
  red:
    interfaces: {veth-red: 192.168.15.1/24}
    run: [{name: web, cmd: "sleep 1000"}]
  blue:
    interfaces: {veth-blue: 192.168.15.2/24}
links:
  - [red:veth-red, blue:veth-blue]
"""


def test_the_marker_is_one_whole_environment_entry() -> None:
    mark = b"TOPOGRAPH_SERVICE=" + BASE.encode()
    assert marked.marker(BASE) == mark
    assert marked.carries(b"PATH=/bin\0" + mark + b"\0HOME=/\0", BASE)
    assert marked.carries(mark + b"\0", BASE) and marked.carries(b"A=1\0" + mark, BASE)  # first, last
    for other in (BASE + "2", BASE.replace("lab@t1-.", "lab@t1-r."), BASE + "/x"):
        assert not marked.carries(b"TOPOGRAPH_SERVICE=" + other.encode() + b"\0", BASE), other
    assert not marked.carries(mark + b"\0", BASE.removesuffix("web") + "we")  # a prefix of the marker is not it
    assert not marked.carries(b"OTHER" + mark + b"\0", BASE)  # nor the marker inside another entry
    assert not marked.carries(b"X=" + mark + b"\0", BASE)
    assert not marked.carries(b"", BASE)


def test_a_daemonized_service_counts_as_running_and_converge_leaves_it() -> None:
    checked = check_text(LAB, "svc.yml")
    assert checked.topology is not None
    p = plan(checked.topology, sandbox_prefix="sv1-")
    (op,) = [o for o in p.operations if isinstance(o, StartService)]
    seen = {op.key: Observed("red", "web", "running", op.log, 4321, cmd=op.cmd, daemonized=True)}
    assert seen[op.key].describe() == "running (daemonized: pid 4321)"
    assert services.changes(p, seen, {}, set()) == (1, [])
    unknown = {op.key: Observed("red", "web", "running", op.log, 4321, daemonized=True)}  # no record: no command
    assert services.changes(p, unknown, {}, set()) == (1, [])
    other = {op.key: Observed("red", "web", "running", op.log, 4321, cmd="sleep 5", daemonized=True)}
    n, found = services.changes(p, other, {}, set())
    assert n == 0 and [(c.state, c.removal) for c in found] == [("drifted", StopService("red", "sv1-red", "web", op.dir))]


@pytest.fixture
def three(tmp_path: Path) -> Iterator[list[StartService]]:
    """Three daemonizing services whose paths begin the same: web, web2 of lab@t1-, and web of lab@t1-r."""
    ops = [StartService("red", None, "web", str(tmp_path / "lab@t1-.services"), DAEMON),
           StartService("red", None, "web2", str(tmp_path / "lab@t1-.services"), DAEMON),
           StartService("red", None, "web", str(tmp_path / "lab@t1-r.services"), DAEMON)]
    yield ops
    for op in ops:  # whatever failed: what carries one of their markers, and only that
        marked.send(op.base, None, signal.SIGKILL)


def _daemonized(op: StartService) -> Observed:
    deadline = time.monotonic() + 10
    while not (seen := services.observe_service(op, cmd=op.cmd)).daemonized:
        assert time.monotonic() < deadline, seen
        time.sleep(0.02)
    return seen


def _pid(seen: Observed) -> int:
    assert seen.pid is not None
    return seen.pid


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open (Linux 5.3)")
def test_a_daemon_escapes_its_group_but_not_its_stop(three: list[StartService]) -> None:
    web, web2, other_lab = three
    for op in three:
        assert services.start(op).state == "running"
    pids = {op.base: _pid(_daemonized(op)) for op in three}
    seen = services.observe_service(web, cmd=web.cmd)
    assert (seen.state, seen.code, seen.daemonized, seen.cmd) == ("running", None, True, web.cmd)
    assert seen.describe() == f"running (daemonized: pid {seen.pid})" and seen.to_json()["daemonized"] is True
    supervisor = int(Path(web.pid_file).read_text())
    assert seen.pid is not None and os.getsid(seen.pid) != supervisor  # out of the supervisor's session and group
    assert services.group_pids(supervisor) == []
    assert Path(web.rc_file).read_text().strip() == "0"
    assert len(set(pids.values())) == 3 and marked.pids(web.base, marked.netns_inode(None)) == [pids[web.base]]

    # the teardown script's stop_group ends web's daemon and nothing else
    checked = check_text(LAB, "svc.yml")
    assert checked.topology is not None
    script = render_teardown(plan(checked.topology, sandbox_prefix="sv1-"))
    functions = script[script.index("# the pids of the processes"):script.index("left=0\n")]
    began = time.monotonic()
    done = subprocess.run(["bash", "-c", functions + 'stop_group "$1" "$2"', "bash", web.pid_file, web.base],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began < 1.5  # SIGTERM was enough: it did not wait for the others' daemons
    gone = services.proc(pids[web.base])
    assert marked.pids(web.base, None) == [] and (gone is None or gone.state == "Z"), gone  # reaped by init, or not yet
    assert services.observe_service(web).describe() == "exited with code 0"  # what it forked is gone
    assert all(marked.pids(op.base, None) == [pids[op.base]] for op in (web2, other_lab))

    # and so does services.stop: web2's daemon goes, the other lab's web stays until its own stop
    assert services.stop(web2) is True
    assert marked.pids(web2.base, None) == [] and marked.pids(other_lab.base, None) == [pids[other_lab.base]]
    assert services.stop(other_lab) is True and marked.pids(other_lab.base, None) == []
    assert services.stop(web) is False  # nothing left to stop
    assert not any(os.path.exists(op.dir) for op in three)



def test_a_failed_service_that_left_a_process_is_stopped_before_it_starts_again() -> None:
    checked = check_text(LAB, "svc.yml")
    assert checked.topology is not None
    p = plan(checked.topology, sandbox_prefix="sv1-")
    (op,) = [o for o in p.operations if isinstance(o, StartService)]
    left = {op.key: Observed("red", "web", "exited", op.log, code=3, leftover=4321)}
    assert left[op.key].describe() == "exited with code 3, but pid 4321 it started still runs"
    n, found = services.changes(p, left, {}, set())
    assert n == 0 and [(c.state, c.ops) for c in found] == [("missing", [StopService("red", "sv1-red", "web", op.dir), op])]
    killed = {op.key: Observed("red", "web", "stopped", op.log, leftover=4321)}
    assert killed[op.key].describe().endswith("killed?), but pid 4321 it started still runs")
    assert [c.removal for c in services.changes(p, killed, {}, set())[1]] == [StopService("red", "sv1-red", "web", op.dir)]
    clean = {op.key: Observed("red", "web", "exited", op.log, code=3)}  # nothing left: only started again
    assert [c.ops for c in services.changes(p, clean, {}, set())[1]] == [[op]]


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open (Linux 5.3)")
def test_a_command_that_fails_but_leaves_a_daemon_is_exited_with_a_leftover(tmp_path: Path) -> None:
    failing = ("python3 -c 'import os,time; os.fork() and os._exit(3); os.setsid(); os.fork() and os._exit(0); "
               "time.sleep(30)'")
    op = StartService("red", None, "web", str(tmp_path / "lab@t1-.services"), failing)
    try:
        services.start(op)
        deadline = time.monotonic() + 10
        while (seen := services.observe_service(op, cmd=op.cmd)).leftover is None or seen.state != "exited":
            assert time.monotonic() < deadline, seen
            time.sleep(0.02)
        assert (seen.state, seen.code, seen.daemonized) == ("exited", 3, False)
        assert marked.pids(op.base, marked.netns_inode(None)) == [seen.leftover]
        assert seen.describe() == f"exited with code 3, but pid {seen.leftover} it started still runs"
        assert seen.to_json()["leftover"] == seen.leftover
        assert services.stop(op) is True and marked.pids(op.base, None) == []
    finally:
        marked.send(op.base, None, signal.SIGKILL)
