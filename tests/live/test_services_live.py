"""Services (`run:`) for real, in a sandbox: samples/15-seed-web.yml, whose blue runs a web server.

One lab's story in one test (each step needs the one before): an apply cut short at its end rolls back
and stops the service it had started; apply starts it, status shows it running, the lan node fetches a
page through the host's port forward, verify says the service answered; killed by its pid, status says
it exited with its code, and apply starts it again; destroy stops it and leaves nothing of ours (no
process, no namespace, no service directory). Then the compiled scripts do the same: setup.sh starts
it, teardown.sh stops it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.live.conftest import Sandbox
from topograph import kernel_names
from topograph.compile import render_setup, render_teardown
from topograph.live import services
from topograph.live.execute import FAIL_AT_ENV
from topograph.pipeline import check_file
from topograph.plan import StartService, StopService, plan

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "15-seed-web.yml"

_FETCH = r"""
import sys, time, urllib.request
deadline = time.monotonic() + 10
while True:
    try:
        print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())
        break
    except OSError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"{sys.argv[1]}: {exc}")
        time.sleep(0.2)
"""


def tg(state: Path, *args: str, fail_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FAIL_AT_ENV}
    env |= {"TOPOGRAPH_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    if fail_at is not None:
        env[FAIL_AT_ENV] = fail_at
    return subprocess.run([sys.executable, "-m", "topograph", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False, stdin=subprocess.DEVNULL)


def ours(run_dir: str) -> list[int]:
    """The live processes (not zombies) of this lab's services: their command line names the lab's service
    directory (a supervisor), or they run in it (a service's working directory is its node's there)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        p = services.proc(int(entry.name))
        try:
            args = Path(f"/proc/{entry.name}/cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            continue
        if p is not None and p.state != "Z" and (run_dir in args or cwd.startswith(run_dir + "/")):
            found.append(p.pid)
    return found


def wait_for(what: str, check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def test_a_service_runs_answers_dies_comes_back_and_goes(sandbox: Sandbox, tmp_path: Path) -> None:
    topology = check_file(SAMPLE).topology
    assert topology is not None
    the_plan = plan(topology, sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(the_plan)
    (start_op,) = [op for op in the_plan.operations if isinstance(op, StartService)]
    run_dir = kernel_names.service_dir(topology.name, sandbox.prefix)
    state, box = tmp_path / "state", ("--sandbox", sandbox.prefix)
    lan = sandbox.prefix + "lan"
    done = False
    try:
        # an apply that fails at its very end rolls back: the service it started is stopped too
        failed = tg(state, "apply", *box, str(SAMPLE), fail_at=str(len(the_plan.operations) + 1))
        assert failed.returncode == 1 and "rolled back" in failed.stderr, failed.stderr
        assert ours(run_dir) == [] and not os.path.exists(run_dir) and sandbox.left() == []

        up = tg(state, "apply", *box, str(SAMPLE))
        assert up.returncode == 0, up.stderr
        assert "warning" not in up.stderr, up.stderr  # it listens on tcp/80 (listen:) before apply returns
        status = tg(state, "status", *box, "--json", str(SAMPLE))
        assert status.returncode == 0, status.stdout + status.stderr
        (web,) = json.loads(status.stdout)["services"]
        assert web["state"] == "running" and web["log"] == start_op.log, web
        pid = web["pid"]
        assert isinstance(pid, int) and pid in ours(run_dir)

        # the lan node reaches the web server through the host's port forward (192.168.1.2:80 -> blue:80)
        page = sandbox.exec(lan, sys.executable, "-c", _FETCH, "http://192.168.1.2/")
        assert page.returncode == 0 and "Directory listing" in page.stdout and "web.log" in page.stdout, page.stderr
        logged = tg(state, "logs", *box, str(SAMPLE), "blue:web")
        assert logged.returncode == 0 and "Serving HTTP on 0.0.0.0 port 80" in logged.stdout, logged.stderr
        assert '"GET / HTTP/1.1" 200' in logged.stdout, logged.stdout  # lan's request, as blue saw it
        checked = tg(state, "verify", *box, str(SAMPLE))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "accepted by service web (run:) on blue:80, not verify's own listener" in checked.stdout, checked.stdout

        # the web server killed by its pid: its supervisor records the exit code, status says so
        (server,) = [p for p in ours(run_dir) if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"python3\0")]
        os.kill(server, signal.SIGTERM)
        wait_for("the service to exit", lambda: services.observe_service(start_op).state == "exited")
        down = tg(state, "status", *box, str(SAMPLE))
        assert down.returncode == 2, down.stdout + down.stderr
        assert "+ missing  blue: service web: exited with code 143; see " + start_op.log in down.stdout, down.stdout
        assert f"blue/web  exited with code 143; log {start_op.log}" in down.stdout, down.stdout

        again = tg(state, "apply", *box, str(SAMPLE))
        assert again.returncode == 0 and "1 step applied" in again.stdout, again.stdout + again.stderr
        back = services.observe_service(start_op)
        assert back.state == "running" and back.pid != pid and back.pid in ours(run_dir), back

        gone = tg(state, "destroy", *box, str(SAMPLE))
        assert gone.returncode == 0, gone.stderr
        assert ours(run_dir) == [], "a process of the lab's service is still running"
        assert not os.path.exists(run_dir) and sandbox.left() == []

        # the compiled scripts: setup.sh starts it (detached, its pid recorded), teardown.sh stops it
        made = sandbox.script(render_setup(the_plan))
        assert made.returncode == 0, made.stderr
        seen = services.observe_service(start_op)
        assert seen.state == "running" and seen.pid in ours(run_dir), seen
        page = sandbox.exec(lan, sys.executable, "-c", _FETCH, "http://192.168.1.2/")
        assert page.returncode == 0 and "Directory listing" in page.stdout, page.stderr
        unmade = sandbox.script(render_teardown(the_plan))
        assert unmade.returncode == 0, unmade.stderr
        assert ours(run_dir) == [] and not os.path.exists(run_dir) and sandbox.left() == []
        done = True
    finally:  # whatever failed: the service's process group, by the pid its own file names (services.stop)
        services.stop(StopService(start_op.node, start_op.netns, start_op.name, start_op.dir))
        if not done:
            tg(state, "destroy", *box, str(SAMPLE))
