"""Link impairments for real, in one sandboxed lab for the module: the delay shows in ping's round trip, the
loss in a count of lost pings, the rate in the time a bounded TCP transfer takes; status is clean after apply,
shows a netem deleted by hand (missing) and one added by hand (extra), apply repairs both, destroy leaves
nothing. On a kernel without netem (sch_netem) those are skipped, and apply is shown to refuse cleanly instead.

Lab: nodes a and b joined by three veth pairs, one impairment each, so the measurements do not mix:
  d0: delay 50ms on the link (each way: a round trip of at least 100 ms)
  l0: loss 50% on a's end (pings lost on the way out only)
  r0: rate 1mbit on a's end (what a sends)
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.conftest import NO_NETEM, Sandbox, _why_no_netns, kernel_has_netem, unique_prefix
from tests.live.test_apply_samples import lab_plan, tg

pytestmark = pytest.mark.live

LAB = """\
lab: impaired
nodes:
  a: {interfaces: {d0: 10.9.1.1/30, l0: {address: 10.9.2.1/30, netem: {loss: 50%}},
                   r0: {address: 10.9.3.1/30, netem: {rate: 1mbit}}}}
  b: {interfaces: {d0: 10.9.1.2/30, l0: 10.9.2.2/30, r0: 10.9.3.2/30}}
links:
  - {ends: [a:d0, b:d0], netem: {delay: 50ms}}
  - [a:l0, b:l0]
  - [a:r0, b:r0]
"""

#: ping's round trip over d0 may exceed the 100 ms of netem by this much (scheduling, a busy machine)
RTT_MARGIN_MS = 40.0
LOSS_PINGS = 200  # at -i 0.01: 2 s
RATE_BYTES = 250_000  # at 1 Mbit/s: 2.0 s of payload alone

_SINK = r"""
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
n = 0
while chunk := c.recv(65536):
    n += len(chunk)
c.sendall(str(n).encode())
c.close()
"""

_SEND = r"""
import socket, sys, time
start = time.monotonic()
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20) as c:
    c.sendall(b"x" * int(sys.argv[3]))
    c.shutdown(socket.SHUT_WR)
    got = c.recv(64).decode()
print(got, time.monotonic() - start)
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path, tuple[str, ...]]]:
    """The lab, applied once for the module in a sandbox of its own; removed by exact name afterwards."""
    reason = _why_no_netns()
    if reason:
        pytest.skip(reason)
    if not kernel_has_netem():
        pytest.skip(NO_NETEM)
    box = Sandbox(prefix=unique_prefix())
    state = tmp_path_factory.mktemp("netem-state")
    path = tmp_path_factory.mktemp("netem-lab") / "impaired.yml"
    path.write_text(LAB)
    box.claim_plan(lab_plan(path, box.prefix))
    args = ("--sandbox", box.prefix, str(path))
    try:
        up = tg(state, "apply", *args)
        assert up.returncode == 0, up.stdout + up.stderr
        yield box, state, args
    finally:
        problems = box.cleanup()
        assert not problems and not box.left(), (problems, box.left())


def _resolved(box: Sandbox, address: str) -> None:
    """Ping until one answer comes back, so that ARP is done: a first round trip also carries the ARP
    exchange's delay, and pings sent while an ARP request was lost would be dropped by the neighbour table."""
    assert box.ping(box.prefix + "a", address, tries=20), f"{address} never answered"


def test_the_round_trip_carries_the_delay_of_both_ways(lab: tuple[Sandbox, Path, tuple[str, ...]]) -> None:
    box = lab[0]
    _resolved(box, "10.9.1.2")
    out = box.exec(box.prefix + "a", "ping", "-n", "-q", "-c", "5", "-i", "0.2", "-W", "2", "10.9.1.2").stdout
    rtt = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", out)
    assert rtt is not None, out
    low, high = float(rtt.group(1)), float(rtt.group(3))
    print(f"\nd0 (delay 50ms each way): rtt min {low} ms, max {high} ms")
    assert low >= 100.0 and high < 100.0 + RTT_MARGIN_MS, out


def test_half_the_pings_are_lost_within_a_binomial_bound(lab: tuple[Sandbox, Path, tuple[str, ...]]) -> None:
    box = lab[0]
    _resolved(box, "10.9.2.2")
    out = box.exec(box.prefix + "a", "ping", "-n", "-q", "-c", str(LOSS_PINGS), "-i", "0.01", "-W", "1",
                   "10.9.2.2").stdout
    got = re.search(r"(\d+) received", out)
    assert got is not None, out
    received = int(got.group(1))
    # loss 50% on the way out only: received ~ Binomial(200, 0.5); 5 standard deviations (7.07 each) either way
    spread = 5 * math.sqrt(LOSS_PINGS * 0.25)
    print(f"\nl0 (loss 50%): {received} of {LOSS_PINGS} answered (bound {LOSS_PINGS / 2:g} ± {spread:.0f})")
    assert abs(received - LOSS_PINGS / 2) <= spread, out


def test_a_bounded_transfer_takes_as_long_as_the_rate_says(lab: tuple[Sandbox, Path, tuple[str, ...]]) -> None:
    box = lab[0]
    sink = box.start(box.prefix + "b", sys.executable, "-c", _SINK, "10.9.3.2", "5001")
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    start = time.monotonic()
    sent = box.exec(box.prefix + "a", sys.executable, "-c", _SEND, "10.9.3.2", "5001", str(RATE_BYTES))
    assert sent.returncode == 0, sent.stderr
    count, seconds = sent.stdout.split()
    print(f"\nr0 (rate 1mbit): {count} bytes in {float(seconds):.2f} s")
    assert int(count) == RATE_BYTES
    # 250 KB of payload is 2.0 s at 1 Mbit/s (headers add ~3%); the handshake and slow start add little
    assert 1.8 <= float(seconds) < 6.0 and time.monotonic() - start < 10


def test_status_repair_and_destroy(lab: tuple[Sandbox, Path, tuple[str, ...]]) -> None:
    box, state, args = lab
    clean = tg(state, "status", *args)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    a, b = box.prefix + "a", box.prefix + "b"
    assert box.exec(a, "tc", "qdisc", "del", "dev", "d0", "root").returncode == 0
    assert box.exec(b, "tc", "qdisc", "add", "dev", "l0", "root", "netem", "delay", "10ms").returncode == 0
    drifted = tg(state, "status", *args)
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    assert "set netem delay 50ms on d0" in drifted.stdout and "missing" in drifted.stdout, drifted.stdout
    assert f"{b}: netem delay 10ms on l0 (the file sets none)" in drifted.stdout, drifted.stdout
    fixed = tg(state, "apply", *args)
    assert fixed.returncode == 0 and "2 steps applied" in fixed.stdout, fixed.stdout + fixed.stderr
    assert "netem delay 50ms" in box.exec(a, "tc", "qdisc", "show", "dev", "d0").stdout
    assert "netem" not in box.exec(b, "tc", "qdisc", "show", "dev", "l0").stdout
    assert tg(state, "status", *args).returncode == 0
    gone = tg(state, "destroy", *args)
    assert gone.returncode == 0 and box.left() == [], gone.stdout + gone.stderr


def test_apply_refuses_cleanly_where_the_kernel_has_no_netem(sandbox: Sandbox, tmp_path: Path) -> None:
    """The counterpart where netem is missing (this project's CI kernel): a clear message, and nothing left."""
    if kernel_has_netem():
        pytest.skip("this kernel has netem: the tests above prove it")
    path = tmp_path / "impaired.yml"
    path.write_text(LAB)
    sandbox.claim_plan(lab_plan(path, sandbox.prefix))
    done = tg(tmp_path, "apply", "--sandbox", sandbox.prefix, str(path))
    assert done.returncode != 0
    assert "this kernel has no netem qdisc" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert sandbox.left() == []
