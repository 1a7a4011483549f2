"""verify's predicted side and its report, without the kernel: the same predictions as the per-pair walker,
the ICMP packets it sends and reads, and the table's lines."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from topograph.live.probe import _checksum, _Pinger
from topograph.live.verify import Observed, Probe, probes, table
from topograph.model import Proto
from topograph.pipeline import check_file
from topograph.sim import Network, Walker


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_all_pairs_predictions_are_the_walkers(sample: Path) -> None:
    """`verify --all` takes its predictions from the fast matrix; each must be what the walker says of that flow."""
    from topograph.sim import Flow

    topology = check_file(sample).topology
    assert topology is not None
    walker = Walker(Network(topology))
    got = probes(topology, all_pairs=True)
    assert got
    for p in got:
        assert p.predicted == walker.run(Flow(p.src, p.dst, p.proto, p.port)).ok, p


@pytest.mark.parametrize("version", [4, 6])
def test_an_echo_reply_and_an_error_name_their_probe(version: int) -> None:
    pinger = _Pinger(None, version)  # type: ignore[arg-type]  # parsing needs no socket
    ident, seq = pinger.next_key()
    request = pinger.packet(ident, seq)
    if version == 4:
        assert _checksum(request) == 0  # a valid ICMP checksum sums to zero
    ip4 = bytes([0x45]) + bytes(19)
    head = ip4 if version == 4 else b""
    reply = head + bytes([0 if version == 4 else 129]) + request[1:]
    assert pinger.parse(reply, "10.0.0.2") == ((ident, seq), True, "echo reply")
    quoted = (ip4 if version == 4 else bytes(40)) + request
    error = head + struct.pack("!BBHI", 3 if version == 4 else 1, 1 if version == 4 else 3, 0, 0) + quoted
    what = "host unreachable" if version == 4 else "address unreachable"
    assert pinger.parse(error, "10.0.0.1") == ((ident, seq), False, f"{what} (from 10.0.0.1)")
    assert pinger.parse(head + b"\x00\x00" + request[2:6] + b"\xff\xff" + b"not ours", "x") is None


def test_a_remark_shows_on_an_ok_line_and_a_detail_only_on_a_difference() -> None:
    dst = ipaddress.ip_address("192.168.1.2")
    fwd = Probe("lan", dst, "192.168.1.2", Proto.TCP, 80, predicted=True)
    ping = Probe("red", ipaddress.ip_address("192.168.15.2"), "blue", predicted=True)
    lines = table([Observed(fwd, True, "connected", "accepted by the listener already on blue:80, not verify's own"),
                   Observed(ping, True, "echo reply"), Observed(ping, False, "no reply")])
    assert lines == [
        "flow                       predicted  observed   result",
        "lan -> 192.168.1.2 tcp/80  reach      reach      ok  (accepted by the listener already on blue:80, not verify's own)",
        "red -> blue                reach      reach      ok",
        "red -> blue                reach      no reach   DIFFERS  (no reply)",
    ]
