"""An interrupted run exits with the first signal's status: the two handlers never interrupt each other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT
from topograph.cli.live import signals_interrupt
from topograph.live.signals import held_with

CHILD = """
import sys, time
from topograph.cli.live import exit_status, signals_interrupt
try:
    with signals_interrupt():
        print("ready", flush=True)
        while True:
            time.sleep(0.01)
except KeyboardInterrupt as exc:
    sys.exit(exit_status(exc))
"""


def test_each_handler_holds_the_other_off() -> None:
    with signals_interrupt():
        assert {signal.SIGINT, signal.SIGTERM} <= held_with(signal.SIGINT)
        assert {signal.SIGINT, signal.SIGTERM} <= held_with(signal.SIGTERM)


def test_int_then_term_pending_together_exits_130() -> None:
    # the process is stopped with SIGINT's handler frame set up (SIGINT is delivered before SIGSTOP, a lower
    # number) and SIGTERM arrives before it runs on: without the mask SIGTERM's handler ran first (exit 143)
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            os.kill(child.pid, signal.SIGSTOP)
            os.kill(child.pid, signal.SIGINT)
            time.sleep(0.002)
            os.kill(child.pid, signal.SIGTERM)
            os.kill(child.pid, signal.SIGCONT)
            assert child.wait(timeout=30) == 130
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
