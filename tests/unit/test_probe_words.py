"""The differential live test's reading of what the kernel showed (tests/live/probes.py), on ping's real output."""

from __future__ import annotations

import pytest

from tests.live.probes import Seen, classify_ping, expected
from topograph.sim.trace import Disposition

# ping's output as measured in namespaces (iputils): an nft `reject` answering IPv4 and IPv6, and a drop
PORT_UNREACHABLE_4 = """PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.
From 10.0.0.2 icmp_seq=1 Destination Port Unreachable

--- 10.0.0.2 ping statistics ---
1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms
"""
PORT_UNREACHABLE_6 = """PING fd00::2(fd00::2) 56 data bytes
From fd00::2 icmp_seq=1 Destination unreachable: Port unreachable

--- fd00::2 ping statistics ---
1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms
"""
HOST_UNREACHABLE = """PING 10.0.0.9 (10.0.0.9) 56(84) bytes of data.
From 10.0.0.1 icmp_seq=1 Destination Host Unreachable

--- 10.0.0.9 ping statistics ---
1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms
"""
TIMED_OUT = """PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.

--- 10.0.0.2 ping statistics ---
1 packets transmitted, 0 received, 100% packet loss, time 0ms
"""


@pytest.mark.parametrize(("code", "output", "seen"), [
    (0, "1 packets transmitted, 1 received", Seen.REACHED),
    (1, PORT_UNREACHABLE_4, Seen.REFUSED),
    (1, PORT_UNREACHABLE_6, Seen.REFUSED),
    (1, HOST_UNREACHABLE, Seen.ERROR),
    (1, TIMED_OUT, Seen.SILENT),
    (1, "ping: sendmsg: Operation not permitted\n" + TIMED_OUT, Seen.LOCAL),
])
def test_ping_output_is_read_as_the_kernel_meant_it(code: int, output: str, seen: Seen) -> None:
    assert classify_ping(code, output)[0] is seen


def test_filter_dispositions_are_held_exactly_and_the_rest_as_not_reached() -> None:
    assert expected(Disposition.DELIVERED) == {Seen.REACHED}
    assert expected(Disposition.FILTER_REJECTED) == expected(Disposition.CONNECTION_REFUSED) == {Seen.REFUSED}
    assert expected(Disposition.FILTER_DROPPED) == {Seen.SILENT, Seen.LOCAL}
    assert expected(Disposition.FILTER_REJECTED, at_source=True) == {Seen.REFUSED, Seen.LOCAL}
    assert Seen.REACHED not in expected(Disposition.NO_ROUTE) and Seen.REFUSED in expected(Disposition.NO_ROUTE)
