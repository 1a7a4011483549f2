"""Link impairments: the units a file writes, the plan's SetNetem, the script's tc words, the netlink
encoding (pyroute2's) read back, and what status makes of a netem missing, different or extra."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink.rtnl import RTM_NEWQDISC
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from tests.conftest import ROOT
from tests.unit.test_live_converge import built  # the tiny interpreter of a plan
from topograph.compile import render_setup, render_teardown
from topograph.front.netem import Netem, parse_percent, parse_rate, parse_time
from topograph.live import qdisc
from topograph.live.converge import diff
from topograph.live.observe import LiveLink, NsState
from topograph.pipeline import check_file, check_text
from topograph.plan import AddRoute, DeleteNetem, LinkUp, SetNetem, plan
from topograph.render.dot import impairments

WAN = ROOT / "samples" / "14-lossy-wan.yml"


@pytest.mark.parametrize(("text", "us"), [("50ms", 50_000), ("1.5ms", 1500), ("200us", 200), ("1s", 1_000_000)])
def test_times(text: str, us: int) -> None:
    assert parse_time(text) == us


@pytest.mark.parametrize("text", ["50", 50, "5 sec", "0.5us", "61s", "-1ms"])
def test_bad_times_say_why(text: str | int) -> None:
    assert isinstance(parse_time(text), str)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([parse_time, parse_percent, parse_rate]),
       st.one_of(st.integers(-(10**12), 10**12), st.floats(), st.just(0), st.just(2**70)))
def test_the_suggestion_for_a_bare_number_is_a_value(parse: Callable[[str | int | float], object],
                                                      value: int | float) -> None:
    """`rate: 0` was told 'write e.g. 0mbit', which is refused in turn: a suggestion must be a value."""
    message = parse(value)
    assert isinstance(message, str)
    suggestion = message.rpartition("write e.g. ")[2]
    assert not isinstance(parse(suggestion), str), (value, message)


@pytest.mark.parametrize(("parse", "unit", "why"), [(parse_time, "ms", "is longer than"), (parse_rate, "mbit", "is more than"),
                                                     (parse_percent, "%", "is more than 100%")])
def test_a_number_too_big_for_a_float_is_too_long_not_a_crash(parse: Callable[[str], object], unit: str, why: str) -> None:
    # 400 nines are infinity as a float: int(inf) raised OverflowError out of check
    text = "9" * 400 + unit
    message = parse(text)
    assert isinstance(message, str) and why in message and f"…' ({len(text)} characters)" in message


def test_percentages_and_rates() -> None:
    assert parse_percent("1%") == 1.0 and parse_percent("0.25 %") == 0.25
    assert isinstance(parse_percent("1"), str) and isinstance(parse_percent("101%"), str)
    assert parse_rate("10mbit") == 10_000_000 and parse_rate("512kbit") == 512_000 and parse_rate("1mbps") == 8_000_000
    assert isinstance(parse_rate("10mbits"), str) and isinstance(parse_rate("64gbit"), str)


def test_tc_words_and_label() -> None:
    n = Netem(delay_us=50_000, jitter_us=5000, loss=1, rate_bit=10_000_000, reorder=25)
    assert n.tc_words() == "delay 50ms 5ms loss 1% reorder 25% rate 10mbit"
    assert n.label() == "50ms ±5ms, loss 1%, reorder 25%, 10mbit"
    assert Netem(delay_us=1500).tc_words() == "delay 1500us"
    assert Netem(corrupt=0.00001, rate_bit=12_500).tc_words() == "corrupt 0.00001% rate 12500bit"  # no exponent


def _kernel_answer(body: bytes) -> bytes:
    """What a dump gives back for a request body: the same tcmsg, as pyroute2 decodes it after a header."""
    return struct.pack("=LHHLL", 16 + len(body), RTM_NEWQDISC, 0, 0, 0) + body


@pytest.mark.parametrize("netem", [Netem(delay_us=50_000, jitter_us=5000, loss=1.0, rate_bit=10_000_000),
                                   Netem(loss=50), Netem(duplicate=0.5, reorder=25, corrupt=0.1, delay_us=10_000),
                                   Netem(rate_bit=1_000_000)])
def test_the_netlink_encoding_reads_back_as_the_same_netem(netem: Netem) -> None:
    body = qdisc._body(7, [["TCA_KIND", "netem"], ["TCA_OPTIONS", qdisc.options(netem)]])
    msg = tcmsg(_kernel_answer(body))
    msg.decode()
    assert msg["index"] == 7 and msg.get_attr("TCA_KIND") == "netem"
    back = qdisc.from_options(dict(msg.get_attr("TCA_OPTIONS")))
    assert back.same_as(netem), (back, netem)
    assert not back.same_as(Netem(delay_us=netem.delay_us + 1000, loss=netem.loss))


def test_a_link_s_netem_is_on_both_ends_and_an_end_s_own_replaces_it() -> None:
    result = check_file(WAN)
    assert result.ok and result.topology is not None
    t = result.topology
    wan = Netem(delay_us=20_000, jitter_us=2000, loss=1.0)
    assert t.interface("ra", "wan0").netem == wan == t.interface("rb", "wan0").netem
    assert t.interface("b1", "eth0").netem == Netem(rate_bit=2_000_000)
    assert t.interface("rb", "eth0").netem is None
    text = ("nodes:\n  a: {interfaces: {e: {address: 10.0.0.1/24, netem: {loss: 2%}}}}\n"
            "  b: {interfaces: {e: 10.0.0.2/24}}\nlinks: [{ends: [a:e, b:e], netem: {delay: 5ms}}]\n")
    t2 = check_text(text, "x.yml").topology
    assert t2 is not None
    assert t2.interface("a", "e").netem == Netem(loss=2.0) and t2.interface("b", "e").netem == Netem(delay_us=5000)
    links = {link.index: impairments(t, link) for link in t.links}
    assert links == {0: [], 1: ["netem 20ms ±2ms, loss 1%, each way"], 2: ["netem from b1: 2mbit"]}


def test_the_plan_sets_netem_after_the_links_are_up_and_before_routes() -> None:
    t = check_file(WAN).topology
    assert t is not None
    p = plan(t, sandbox_prefix="t-")
    kinds = [type(op) for op in p.operations]
    sets = [op for op in p.operations if isinstance(op, SetNetem)]
    assert [(op.netns, op.ifname) for op in sets] == [("t-ra", "wan0"), ("t-rb", "wan0"), ("t-b1", "eth0")]
    first = kinds.index(SetNetem)
    assert max(i for i, k in enumerate(kinds) if k is LinkUp) < first < kinds.index(AddRoute)
    script = render_setup(p)
    assert "ip netns exec t-ra tc qdisc replace dev wan0 root netem delay 20ms 2ms loss 1%\n" in script
    assert "ip netns exec t-b1 tc qdisc replace dev eth0 root netem rate 2mbit\n" in script
    assert "for tool in ip sysctl tc; do" in script  # checked before a step runs
    assert "netem" not in render_teardown(p)  # the namespaces go, and their qdiscs with them


def test_real_mode_leaves_an_existing_interface_s_netem_alone_and_says_so() -> None:
    text = ("nodes:\n  host: {kind: host, interfaces: {eth0: 192.168.1.2/24}}\n"
            "  lan: {kind: external, interfaces: {eth0: 192.168.1.3/24}}\n"
            "links: [{ends: [host:eth0, lan:eth0], netem: {delay: 5ms}}]\n")
    t = check_text(text, "x.yml").topology
    assert t is not None
    real = plan(t)
    assert not any(isinstance(op, SetNetem) for op in real.operations)
    assert any("netem (delay 5ms) is not set" in n for n in real.notes)
    assert sum(isinstance(op, SetNetem) for op in plan(t, sandbox_prefix="t-").operations) == 2


def test_status_reports_netem_missing_different_and_extra_and_converge_repairs_each() -> None:
    t = check_file(WAN).topology
    assert t is not None
    p = plan(t, sandbox_prefix="t-")
    live = built(p)
    assert diff(p, live, None).count("missing") == 0
    ra, rb, a1 = live.namespaces["t-ra"], live.namespaces["t-rb"], live.namespaces["t-a1"]
    del ra.qdiscs["wan0"]  # `tc qdisc del` by hand
    rb.qdiscs["wan0"] = ("netem", Netem(delay_us=20_000, loss=1.0))  # changed by hand: no jitter
    a1.qdiscs["eth0"] = ("netem", Netem(delay_us=100_000))  # where the file sets none
    a1.links["eth0"] = LiveLink("eth0", "veth", up=True)
    d = diff(p, live, None)
    got = {(c.state, c.what) for c in d.changes}
    assert ("missing", "ra (t-ra): set netem delay 20ms 2ms loss 1% on wan0") in got
    assert ("drifted", "rb (t-rb): set netem delay 20ms 2ms loss 1% on wan0") in got
    assert ("extra", "t-a1: netem delay 100ms on eth0 (the file sets none)") in got
    assert len(d.changes) == 3
    repair = [op for c in d.changes for op in c.ops]
    assert DeleteNetem("a1", "t-a1", "eth0") in repair
    assert sum(isinstance(op, SetNetem) for op in repair) == 2
    other = NsState(qdiscs={"wan0": ("noqueue", None)})
    assert qdisc.from_options({}).empty and other.qdiscs["wan0"][1] is None


def test_the_schema_knows_both_forms() -> None:
    from topograph.front.schema import schema
    s = schema()
    assert {"$ref": "#/$defs/LinkDoc"} in s["properties"]["links"]["items"]["anyOf"]
    assert set(s["$defs"]["NetemDoc"]["properties"]) == {"delay", "jitter", "loss", "rate", "duplicate", "reorder",
                                                          "corrupt"}


def test_a_bridge_port_end_takes_netem_and_the_plan_sets_it_on_the_port() -> None:
    text = ("nodes:\n  red: {interfaces: {veth-red: 192.168.15.1/24}}\n"
            "  host: {bridges: {v-net-0: 192.168.15.5/24}, interfaces: {veth-red-br: {netem: {delay: 5ms}}}}\n"
            "links: [[red:veth-red, v-net-0:veth-red-br]]\n")
    result = check_text(text, "x.yml")
    assert result.ok and result.topology is not None, [d.message for d in result.report]
    assert result.topology.interface("host", "veth-red-br").netem == Netem(delay_us=5000)
    p = plan(result.topology, sandbox_prefix="t-")
    assert [op for op in p.operations if isinstance(op, SetNetem)] == \
        [SetNetem("host", "t-host", "veth-red-br", Netem(delay_us=5000))]
