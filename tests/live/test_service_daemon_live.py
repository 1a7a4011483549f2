"""A service that daemonizes (forks, setsid(), forks again: nginx, sshd, dnsmasq without their foreground flag)
leaves its supervisor's process group, but not the marker the supervisor gives it (live/marked.py): apply and
status say it runs, daemonized; destroy stops it, and the compiled teardown script too. Nothing with the
marker is left, in any namespace (a process would keep a deleted namespace alive)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.live.conftest import Sandbox
from tests.live.test_services_live import tg, wait_for
from topograph.compile import render_setup, render_teardown
from topograph.live import marked, services
from topograph.pipeline import check_file
from topograph.plan import StartService, plan

pytestmark = pytest.mark.live

DAEMON = ("python3 -c 'import os,time; os.fork() and os._exit(0); os.setsid(); os.fork() and os._exit(0); "
          "time.sleep(60)'")
LAB = f"""\
lab: daemon
nodes:
  red:
    interfaces: {{veth-red: 192.168.15.1/24}}
    run: [{{name: daemon, cmd: {json.dumps(DAEMON)}}}]
  blue:
    interfaces: {{veth-blue: 192.168.15.2/24}}
links:
  - [red:veth-red, blue:veth-blue]
"""


def test_a_daemonizing_service_runs_and_is_stopped_by_destroy_and_teardown(sandbox: Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "daemon.yml"
    source.write_text(LAB)
    topology = check_file(source).topology
    assert topology is not None
    the_plan = plan(topology, sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(the_plan)
    (op,) = [o for o in the_plan.operations if isinstance(o, StartService)]
    state, box = tmp_path / "state", ("--sandbox", sandbox.prefix)
    done = False
    try:
        up = tg(state, "apply", *box, str(source))
        assert up.returncode == 0 and "exited" not in up.stderr, up.stdout + up.stderr
        shown = tg(state, "status", *box, "--json", str(source))
        assert shown.returncode == 0, shown.stdout + shown.stderr  # nothing missing: a converge starts nothing
        (svc,) = json.loads(shown.stdout)["services"]
        assert (svc["state"], svc["daemonized"], svc["cmd"]) == ("running", True, op.cmd), svc
        in_ns = marked.pids(op.base, marked.netns_inode(op.netns))
        assert in_ns == [svc["pid"]], (in_ns, svc)
        assert services.observe_service(op).describe() == f"running (daemonized: pid {svc['pid']})"

        gone = tg(state, "destroy", *box, str(source))
        assert gone.returncode == 0, gone.stderr
        assert marked.pids(op.base, None) == [], "the daemon outlived destroy"
        assert sandbox.left() == [] and not Path(op.dir).exists()

        made = sandbox.script(render_setup(the_plan))
        assert made.returncode == 0, made.stderr
        wait_for("the script's service to daemonize", lambda: services.observe_service(op).daemonized)
        assert len(marked.pids(op.base, marked.netns_inode(op.netns))) == 1
        unmade = sandbox.script(render_teardown(the_plan))
        assert unmade.returncode == 0, unmade.stderr
        assert marked.pids(op.base, None) == [], "the daemon outlived the teardown script"
        assert sandbox.left() == [] and not Path(op.dir).exists()
        done = True
    finally:  # whatever failed: anything with this lab's marker, in any namespace, then the lab
        marked.send(op.base, None, signal.SIGKILL)
        if not done:
            tg(state, "destroy", *box, str(source))
