"""verify's predicted side and its report, without the kernel: the same predictions as the per-pair walker,
the outcome each disposition predicts and which observations bear it out, the ICMP packets it sends and reads
(echo replies, and errors about echo requests, TCP SYNs and UDP datagrams, IPv4 and IPv6), and the table's lines."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from topograph.live import icmp
from topograph.live.probe import Outcome
from topograph.live.verify import Observed, Probe, agree, expected, lost_probe, probes, results_table
from topograph.model import Proto
from topograph.pipeline import check_file
from topograph.sim import Disposition, Network, Walker


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
        result = walker.run(Flow(p.src, p.dst, p.proto, p.port))
        assert (p.predicted, p.disposition) == (result.ok, result.disposition), p
        assert p.expected is expected(result.disposition)


def test_each_disposition_predicts_what_the_source_sees() -> None:
    """Reach, a refusal at once, silence; any other disposition only "no reach" (routers answer some with ICMP
    errors, ARP failures take seconds)."""
    seen = {d: expected(d) for d in Disposition}
    assert seen.pop(Disposition.DELIVERED) is Outcome.REACHED
    assert seen.pop(Disposition.FILTER_REJECTED) is Outcome.REFUSED
    assert seen.pop(Disposition.CONNECTION_REFUSED) is Outcome.REFUSED
    assert seen.pop(Disposition.FILTER_DROPPED) is Outcome.SILENCE
    assert seen and set(seen.values()) == {Outcome.UNREACHED}


def test_which_observations_bear_a_prediction_out() -> None:
    o = Outcome
    table_ = {  # predicted -> the observations that agree
        o.REACHED: {o.REACHED}, o.REFUSED: {o.REFUSED}, o.SILENCE: {o.SILENCE},
        o.UNREACHED: {o.REFUSED, o.SILENCE, o.UNREACHED},
    }
    for predicted, fine in table_.items():
        for observed in Outcome:
            assert agree(predicted, observed) is (observed in fine), (predicted, observed)
    assert agree(None, o.REACHED) and agree(o.SILENCE, None)  # nothing predicted, or nothing tried
    ping = Probe("red", ipaddress.ip_address("192.168.15.2"), "blue", predicted=False)
    assert ping.expected is o.UNREACHED  # a prediction without its disposition: reach or not, as before
    assert Probe("red", ping.dst, "blue").expected is None
    rejected = Probe("red", ping.dst, "blue", predicted=False, disposition=Disposition.FILTER_REJECTED)
    assert not Observed(rejected, o.SILENCE).agrees and not Observed(rejected, o.REACHED).agrees
    assert Observed(rejected, o.REFUSED).agrees and Observed(rejected, None).agrees


def test_a_lost_probe_is_tried_again_a_refusal_or_a_reach_is_not() -> None:
    o = Outcome
    again = {(p, s) for p in (None, *Outcome) for s in Outcome if lost_probe(p, s)}
    assert again == {(None, o.REFUSED), (None, o.SILENCE), (None, o.UNREACHED),
                     (o.REACHED, o.REFUSED), (o.REACHED, o.SILENCE), (o.REACHED, o.UNREACHED),
                     (o.REFUSED, o.SILENCE)}


V4 = bytes([0x45]) + bytes(19)  # the IPv4 header a raw socket hands over in front of the ICMP message


def _ip(version: int, proto: int, dst: str) -> bytes:
    """The quoted header of the packet an error is about (source 10.9.9.9 / fd00::9)."""
    if version == 4:
        src = ipaddress.IPv4Address("10.9.9.9").packed
        return struct.pack("!BBHHHBBH", 0x45, 0, 0, 0, 0, 64, proto, 0) + src + ipaddress.IPv4Address(dst).packed
    src = ipaddress.IPv6Address("fd00::9").packed
    return struct.pack("!IHBB", 6 << 28, 0, proto, 64) + src + ipaddress.IPv6Address(dst).packed


def _error(version: int, kind: int, code: int, quoted: bytes) -> bytes:
    return (V4 if version == 4 else b"") + struct.pack("!BBHI", kind, code, 0, 0) + quoted


@pytest.mark.parametrize("version", [4, 6])
def test_an_echo_reply_and_an_error_name_their_echo_request(version: int) -> None:
    ident, seq = 0x1234, 7
    request = icmp.echo_request(version, ident, seq)
    if version == 4:
        assert icmp.checksum(request) == 0  # a valid ICMP checksum sums to zero
    head = V4 if version == 4 else b""
    reply = head + bytes([icmp.ECHO_REPLY[version]]) + request[1:]
    assert icmp.parse(reply, version, "10.0.0.2") == icmp.Heard(("echo", ident, seq))
    dst = "10.0.0.2" if version == 4 else "fd00::2"
    quoted = _ip(version, 1 if version == 4 else 58, dst) + request
    unreachable = icmp.UNREACHABLE[version]
    for code, what in ((1, "host unreachable"), (3, "port unreachable"), (13, "administratively prohibited"))\
            if version == 4 else ((3, "address unreachable"), (4, "port unreachable"), (1, "administratively prohibited")):
        got = icmp.parse(_error(version, unreachable, code, quoted), version, "10.0.0.1")
        assert got == icmp.Heard(("echo", ident, seq), f"{what} (from 10.0.0.1)")
    exceeded = icmp.parse(_error(version, icmp.TIME_EXCEEDED[version], 0, quoted), version, "10.0.0.9")
    assert exceeded == icmp.Heard(("echo", ident, seq), "time exceeded (from 10.0.0.9)")
    assert icmp.parse(head + b"\x00\x00" + request[2:6] + b"\xff\xff" + b"not ours", version, "x") is None
    assert icmp.parse(head + bytes([icmp.ECHO_REQUEST[version]]) + request[1:], version, "x") is None  # no answer
    assert icmp.parse(_error(version, unreachable, 3, quoted[:10]), version, "x") is None  # cut short


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize(("proto", "number"), [(Proto.TCP, 6), (Proto.UDP, 17)])
def test_an_error_about_a_tcp_or_udp_probe_names_its_ports(version: int, proto: Proto, number: int) -> None:
    """A port unreachable quotes the probe's header: the key is source port, destination and destination port."""
    dst = "10.0.0.2" if version == 4 else "fd00::2"
    quoted = _ip(version, number, dst) + struct.pack("!HHI", 40000, 53, 0)
    code = 3 if version == 4 else 4
    got = icmp.parse(_error(version, icmp.UNREACHABLE[version], code, quoted), version, dst)
    assert got == icmp.Heard(icmp.port_key(proto, 40000, dst, 53), f"port unreachable (from {dst})")
    other = _ip(version, 47, dst) + bytes(8)  # GRE: no probe of verify's
    assert icmp.parse(_error(version, icmp.UNREACHABLE[version], code, other), version, dst) is None
    wrong_family = _ip(6 if version == 4 else 4, number, "fd00::2" if version == 4 else "10.0.0.2") + bytes(8)
    assert icmp.parse(_error(version, icmp.UNREACHABLE[version], code, wrong_family), version, dst) is None


def test_a_remark_shows_on_an_ok_line_and_a_detail_only_on_a_difference() -> None:
    dst = ipaddress.ip_address("192.168.1.2")
    fwd = Probe("lan", dst, "192.168.1.2", Proto.TCP, 80, predicted=True)
    ping = Probe("red", ipaddress.ip_address("192.168.15.2"), "blue", predicted=True)
    dns = Probe("red", dst, "192.168.1.2", Proto.UDP, 53, predicted=False, disposition=Disposition.FILTER_REJECTED)
    ssh = Probe("red", dst, "192.168.1.2", Proto.TCP, 22, predicted=False, disposition=Disposition.FILTER_DROPPED)
    lost = Probe("red", dst, "192.168.1.2", predicted=False, disposition=Disposition.NO_ROUTE)
    lines = results_table([Observed(fwd, Outcome.REACHED, "connected",
                            "accepted by the listener already on blue:80, not verify's own"),
                   Observed(ping, Outcome.REACHED, "echo reply"), Observed(ping, Outcome.SILENCE, "no reply"),
                   Observed(dns, Outcome.REFUSED, "port unreachable (from 192.168.1.2)"),
                   Observed(dns, Outcome.SILENCE, "no answer"),
                   Observed(ssh, Outcome.REFUSED, "tcp reset"), Observed(ssh, Outcome.SILENCE, "connection timed out"),
                   Observed(lost, Outcome.UNREACHED, "Network is unreachable"),
                   Observed(lost, None, "source is outside the lab (real mode)")])
    assert lines == [
        "flow                       predicted  observed   result",
        "lan -> 192.168.1.2 tcp/80  reach      reach      ok  (accepted by the listener already on blue:80, not verify's own)",
        "red -> blue                reach      reach      ok",
        "red -> blue                reach      silence    DIFFERS  (no reply)",
        "red -> 192.168.1.2 udp/53  refused    refused    ok",
        "red -> 192.168.1.2 udp/53  refused    silence    DIFFERS  (no answer)",
        "red -> 192.168.1.2 tcp/22  silence    refused    DIFFERS  (tcp reset)",
        "red -> 192.168.1.2 tcp/22  silence    silence    ok",
        "red -> 192.168.1.2         no reach   no reach   ok",
        "red -> 192.168.1.2         no reach   -          ok",
    ]


def test_the_listener_of_a_probe_is_the_target_of_the_forward_that_catches_it() -> None:
    """Sample 09 has two tcp/80 forwards (IPv4 bound to 203.0.113.2, IPv6 to 2001:db8:1::2): each probe's server
    is its own forward's target; a probe of an address no forward is bound to gets the first one's target, so
    that a connection the kernel forwarded against the prediction would show."""
    from topograph.live.verify import _listener_for

    checked = check_file(Path(__file__).resolve().parents[2] / "samples" / "12-nat-forms.yml")
    assert checked.topology is not None
    t = checked.topology

    def server(dst: str, port: int = 80) -> tuple[str, str, int] | None:
        found = _listener_for(t, Probe("internet", ipaddress.ip_address(dst), dst, Proto.TCP, port))
        return None if found is None else (found[0], str(found[1]), found[2])

    assert server("2001:db8:1::2") == ("web", "fd00:15::2", 80)
    assert server("203.0.113.2") == ("web", "192.168.15.2", 80)
    assert server("203.0.113.3", 8080) == ("app", "192.168.15.3", 8080)
    assert server("192.168.15.5") == ("web", "192.168.15.2", 80)
    assert server("203.0.113.1") is None  # internet: no forward, no listener
