"""verify's prober against real filters, in namespaces of the test's own: a client and three servers — one
open, one whose nftables input chain rejects (ICMP port unreachable, or a TCP reset), one whose chain drops.
Each is probed by ICMP echo, TCP and UDP over IPv4 and IPv6; verify must see reach, refused (saying which
refusal) and silence, and compare them with hand-made predictions (the simulator's filters are another step)."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest

from tests.live.conftest import Sandbox
from tests.live.test_apply_samples import lab_up, tg
from topograph.live import verify
from topograph.live.kernel import Namespaces
from topograph.live.probe import Outcome, Prober
from topograph.model import Proto
from topograph.pipeline import check_file
from topograph.placement import place
from topograph.sim.trace import Disposition

pytestmark = pytest.mark.live

LAB = """\
lab: outcomes
nodes:
  c:
    interfaces:
      to-open: [10.71.1.1/24, fd71:1::1/64]
      to-rej: [10.71.2.1/24, fd71:2::1/64]
      to-drop: [10.71.3.1/24, fd71:3::1/64]
  open:
    interfaces: {e0: [10.71.1.2/24, fd71:1::2/64]}
    listen: [tcp/7000, udp/7002]
  rej:
    interfaces: {e0: [10.71.2.2/24, fd71:2::2/64]}
    listen: [tcp/7000, tcp/7001, udp/7002]
  drop:
    interfaces: {e0: [10.71.3.2/24, fd71:3::2/64]}
    listen: [tcp/7000, udp/7002]
links:
  - [c:to-open, open:e0]
  - [c:to-rej, rej:e0]
  - [c:to-drop, drop:e0]
expect:
  - {from: c, to: open, proto: udp, port: 7002}
  - {from: c, to: open, proto: tcp, port: 7000}
  - {from: c, to: open, proto: udp, port: 7006, reach: false, note: nothing listens there}
  - {from: c, to: open, proto: tcp, port: 7005, reach: false, note: nothing listens there}
"""

REJECT = """\
table inet tgverify {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 7000 reject with tcp reset
    tcp dport 7001 reject
    udp dport 7002 reject
    icmp type echo-request reject
    icmpv6 type echo-request reject
  }
}
"""

DROP = REJECT.replace("reject with tcp reset", "drop").replace("reject", "drop")

# (server, proto, port) -> the outcome and the detail's beginning (the sender's address follows an ICMP error)
WANTED = {
    ("open", Proto.ICMP, None): (Outcome.REACHED, "echo reply"),
    ("open", Proto.TCP, 7000): (Outcome.REACHED, "reached open:7000"),
    ("open", Proto.UDP, 7002): (Outcome.REACHED, "echoed by open:7002"),
    ("open", Proto.TCP, 7005): (Outcome.REFUSED, "tcp reset"),  # nothing listens: the kernel's reset
    ("open", Proto.UDP, 7006): (Outcome.REFUSED, "port unreachable (from "),
    ("rej", Proto.ICMP, None): (Outcome.REFUSED, "port unreachable (from "),
    ("rej", Proto.TCP, 7000): (Outcome.REFUSED, "tcp reset"),
    ("rej", Proto.TCP, 7001): (Outcome.REFUSED, "port unreachable (from "),
    ("rej", Proto.UDP, 7002): (Outcome.REFUSED, "port unreachable (from "),
    ("drop", Proto.ICMP, None): (Outcome.SILENCE, "no reply"),
    ("drop", Proto.TCP, 7000): (Outcome.SILENCE, "connection timed out"),
    ("drop", Proto.UDP, 7002): (Outcome.SILENCE, "no answer"),
}
PREDICTED = {Outcome.REACHED: Disposition.DELIVERED, Outcome.REFUSED: Disposition.FILTER_REJECTED,
             Outcome.SILENCE: Disposition.FILTER_DROPPED}


def _up(sandbox: Sandbox, tmp_path: Path) -> tuple[Path, tuple[str, ...]]:
    lab = tmp_path / "outcomes.yml"
    lab.write_text(LAB)
    _, args = lab_up(sandbox, tmp_path, lab)
    for node, rules in (("rej", REJECT), ("drop", DROP)):
        path = tmp_path / f"{node}.nft"
        path.write_text(rules)
        loaded = sandbox.exec(sandbox.prefix + node, "nft", "-f", str(path))
        assert loaded.returncode == 0, loaded.stderr
    return lab, args


def test_verify_tells_reach_refusal_and_silence_apart(sandbox: Sandbox, tmp_path: Path) -> None:
    lab, args = _up(sandbox, tmp_path)
    topology = check_file(lab).topology
    assert topology is not None
    probes: list[verify.Probe] = []
    for version in (4, 6):
        for (node, proto, port), (outcome, _) in WANTED.items():
            e0 = topology.node(node).interface("e0")
            assert e0 is not None
            dst = next(a.ip for a in e0.addresses if a.version == version)
            probes.append(verify.Probe("c", dst, node, proto, port, outcome is Outcome.REACHED,
                                       disposition=PREDICTED[outcome]))
    wrong = [  # predictions the lab contradicts: each line must say so
        verify.Probe("c", ipaddress.ip_address("10.71.2.2"), "rej", Proto.UDP, 7002, False,
                     disposition=Disposition.FILTER_DROPPED),
        verify.Probe("c", ipaddress.ip_address("10.71.3.2"), "drop", Proto.TCP, 7000, False,
                     disposition=Disposition.FILTER_REJECTED),
        verify.Probe("c", ipaddress.ip_address("10.71.3.2"), "drop", Proto.ICMP, None, False,
                     disposition=Disposition.NO_ROUTE),  # any other disposition: silence and refusal both do
    ]
    got = verify.run_probes(topology, place(topology, sandbox.prefix), probes + wrong)
    for o in got[:len(probes)]:
        outcome, detail = WANTED[(o.probe.label, o.probe.proto, o.probe.port)]
        assert (o.outcome, o.agrees) == (outcome, True), (o.probe, o.outcome, o.detail)
        assert o.detail.startswith(detail), (o.probe, o.detail)
        if detail.endswith("(from "):
            assert o.detail == f"{detail}{o.probe.dst})", o.detail  # the server itself refused
    assert [(o.outcome, o.agrees) for o in got[len(probes):]] == [
        (Outcome.REFUSED, False), (Outcome.SILENCE, False), (Outcome.SILENCE, True)]
    lines = verify.results_table(got[len(probes):])
    assert lines[1].split()[4:] == ["silence", "refused", "DIFFERS", "(port", "unreachable", "(from", "10.71.2.2))"]
    assert lines[2].split()[4:] == ["refused", "silence", "DIFFERS", "(connection", "timed", "out)"]
    assert lines[3].split()[3:] == ["no", "reach", "silence", "ok"]
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_verify_cli_predicts_refusals_where_nothing_listens(sandbox: Sandbox, tmp_path: Path) -> None:
    """The file's expectations through the simulator: `listen:` ports reach verify's own listener and
    responder, other ports are refused by the kernel, as predicted."""
    _, args = _up(sandbox, tmp_path)
    done = tg(tmp_path, "verify", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [ln.split() for ln in done.stdout.splitlines()[1:-1]]
    assert [r[4:] for r in rows] == [["reach", "reach", "ok"], ["reach", "reach", "ok"],
                                     ["refused", "refused", "ok"], ["refused", "refused", "ok"]], done.stdout
    assert done.stdout.splitlines()[-1] == "4 flows, all as predicted"
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_refusals_held_back_by_the_icmp_rate_limit_are_not_differences(sandbox: Sandbox, tmp_path: Path) -> None:
    """The rejecting namespace answers one peer with a burst of 6 ICMP errors, then one a second
    (net.ipv4.icmp_ratelimit): of 16 rejected UDP probes at once most first meet silence. verify tries them
    again while a round brings refusals back, so every line is as predicted."""
    lab, args = _up(sandbox, tmp_path)
    topology = check_file(lab).topology
    assert topology is not None
    placement = place(topology, sandbox.prefix)
    rejected = [verify.Probe("c", ipaddress.ip_address("10.71.2.2"), "rej", Proto.UDP, 7002, False,
                             disposition=Disposition.FILTER_REJECTED) for _ in range(16)]
    ns = Namespaces()
    prober = Prober(ns)
    try:  # one round alone: the kernel holds refusals back (else this test proves nothing)
        jobs = [(i, verify._job(topology, placement, p)) for i, p in enumerate(rejected)]
        first = prober.run_round(jobs)
    finally:
        prober.close()
        ns.close()
    assert sum(o.outcome is Outcome.SILENCE for o in first.values()) >= 5, first
    got = verify.run_probes(topology, placement, rejected)
    assert all(o.outcome is Outcome.REFUSED and o.agrees for o in got), [(o.outcome, o.detail) for o in got]
    assert tg(tmp_path, "destroy", *args).returncode == 0


_UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(64)
    if sys.argv[2] == "echo":
        s.sendto(data, peer)
"""


def test_a_udp_port_a_service_holds_already_is_probed_through_it(sandbox: Sandbox, tmp_path: Path) -> None:
    """verify's responder cannot bind where a service of the lab listens: an answer from that service counts
    (the line says whose), and a service that stays silent is silence with that reason — not a crash."""
    lab, args = _up(sandbox, tmp_path)
    topology = check_file(lab).topology
    assert topology is not None
    for node, mode in (("open", "echo"), ("drop", "mute")):
        proc = sandbox.start(sandbox.prefix + node, sys.executable, "-c", _UDP_ECHO, "7002", mode)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    sandbox.exec(sandbox.prefix + "drop", "nft", "flush", "ruleset")  # only the mute service stays silent there
    probes = [verify.Probe("c", ipaddress.ip_address(f"10.71.{n}.2"), node, Proto.UDP, 7002, True,
                           disposition=Disposition.DELIVERED) for n, node in ((1, "open"), (3, "drop"))]
    echoed, mute = verify.run_probes(topology, place(topology, sandbox.prefix), probes)
    assert (echoed.outcome, echoed.agrees) == (Outcome.REACHED, True)
    assert echoed.remark == "answered by the service already on open:7002, not verify's own"
    assert (mute.outcome, mute.agrees) == (Outcome.SILENCE, False)
    assert mute.detail.startswith("no answer from the service already on drop:7002"), mute.detail
    assert tg(tmp_path, "destroy", *args).returncode == 0
