"""Packet filters on the diagram: each chain's policy and rule count, the rules in order (--rules), the listeners,
the legend's key to them, and the chain and rule that denied a flow drawn with --trace."""

from __future__ import annotations

import html
import ipaddress
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.labs import star
from tests.conftest import ROOT
from topograph.cli import main
from topograph.model import Hook, Proto, Topology
from topograph.pipeline import Checked, check_file, check_text
from topograph.render import Options, filters, style, to_dot
from topograph.render.layout import arrange
from topograph.render.path import overlay
from topograph.sim.trace import Action, Disposition, Flow, FlowResult, Hop, Step, Trace

GOLDEN = ROOT / "tests" / "golden" / "render"
LAB = GOLDEN / "firewall.yml"


def checked(path: Path = LAB) -> tuple[Checked, Topology]:
    c = check_file(path)
    assert c.ok and c.topology is not None, [d.render() for d in c.report]
    return c, c.topology


def box(dot: str, vertex: str) -> str:
    """The DOT statement of one box (each is one line)."""
    found = [line for line in dot.splitlines() if re.match(rf'\t+"?{re.escape(vertex)}"? \[label=<', line)]
    assert len(found) == 1, vertex
    return found[0]


def plain(html_text: str) -> str:
    """A label's text as read on the picture: tags dropped, non-breaking spaces as spaces."""
    text = re.sub(r"<BR[^>]*>", "\n", html_text)
    return html.unescape(re.sub(r"<[^>]*>", "", text)).replace("\xa0", " ")


def words(html_text: str) -> str:
    """A label's words in one line: wrapped lines joined."""
    return " ".join(plain(html_text).split())


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["render", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("args", "name"), [([], "firewall"), (["--no-rules"], "firewall-no-rules")])
def test_golden_firewall_dot(args: list[str], name: str, golden: Callable[[Path, str], None]) -> None:
    code, out, err = run(str(LAB), "--dot", *args)
    assert code == 0, err
    golden(GOLDEN / f"{name}.dot", out)


def test_summary_gives_each_chain_its_policy_and_rule_count_in_its_verdict_colour() -> None:
    c, t = checked()
    dot = to_dot(t, c.graph, Options(rules=False))
    host = box(dot, "host")
    assert "filter  in drop (5) · fwd drop (3) · out accept (0)" in plain(host)
    assert f'COLOR="{style.DENY}">in&#160;drop&#160;(5)<' in host
    assert f'COLOR="{style.ALLOW}">out&#160;accept&#160;(0)<' in host
    for name in ("red", "blue", "lan", "internet"):  # no filter section: no filter row
        assert "filter" not in plain(box(dot, name)), name
    assert "accept state established,related" not in plain(dot)  # the rules only with --rules
    assert "listens" not in plain(dot)


def test_rules_are_listed_numbered_in_order_with_the_policy_last() -> None:
    c, t = checked()
    text = plain(box(to_dot(t, c.graph, Options(rules=True)), "host"))
    for chain in t.node("host").filter:
        listed = [f"{i + 1:>2} {r.action!s:<6} {r.describe()[len(r.action):].strip()}" for i, r in enumerate(chain.rules)]
        expected = [str(chain.hook), *listed, f"   policy {chain.policy}"]
        start = text.index(f"{chain.hook}\n 1 ")  # the chain's heading, then its first rule
        positions = [text.index(line, start) for line in expected]
        assert positions == sorted(positions), chain.hook
    assert " 4 reject udp dport 1000-2000" in text and " 5 reset  tcp" in text


def test_actions_are_coloured_by_verdict() -> None:
    c, t = checked()
    host = box(to_dot(t, c.graph, Options(rules=True)), "host")
    for action, colour in (("accept", style.ALLOW), ("reject", style.DENY), ("reset&#160;", style.DENY)):
        assert re.search(rf'<B><FONT [^>]*COLOR="{colour}">{action}', host), action
    assert not re.search(rf'<B><FONT [^>]*COLOR="{style.ALLOW}">(reject|reset|drop)', host)


def test_listeners_are_shown_with_the_rules_on_any_node() -> None:
    c, t = checked()
    dot = to_dot(t, c.graph, Options(rules=True))
    assert "listens  tcp/22 udp/53" in plain(box(dot, "host"))
    assert "listens  tcp/80" in plain(box(dot, "blue"))  # blue filters nothing, but a server listens there
    assert "listens" not in plain(box(dot, "red"))


def test_rules_follow_routes_unless_asked() -> None:
    c, t = checked()
    assert Options().with_rules(t) and not Options(routes=False).with_rules(t)
    assert Options(routes=False, rules=True).with_rules(t) and not Options(rules=False).with_rules(t)
    assert " 1 accept state" in plain(to_dot(t, c.graph, Options(routes=False, rules=True)))


def test_legend_explains_the_filter_marks_only_where_drawn() -> None:
    c, t = checked()
    with_rules, without = to_dot(t, c.graph, Options(rules=True)), to_dot(t, c.graph, Options(rules=False))
    legend_of = {k: plain(dot.split("label=<", 1)[1].split("\n", 1)[0]) for k, dot in (("r", with_rules), ("n", without))}
    assert "filter fwd drop (3) chain, policy (rules)" in legend_of["r"] and "accept/drop verdict" in legend_of["r"]
    assert "chain, policy (rules)" in legend_of["n"] and "verdict" not in legend_of["n"]
    plain_lab = check_file(ROOT / "samples" / "06-port-forward.yml")
    assert plain_lab.topology is not None
    assert "chain, policy" not in to_dot(plain_lab.topology, plain_lab.graph)


def test_a_filtering_namespace_is_not_packed_into_a_grid() -> None:
    text = star(14).replace("ns3: {interfaces: {eth0: 10.0.0.5/16},",
                            "ns3: {filter: {input: {policy: drop}}, interfaces: {eth0: 10.0.0.5/16},")
    c = check_text(text, "star.yml")
    assert c.ok and c.topology is not None, [d.render() for d in c.report]
    gridded = arrange(c.topology).gridded
    assert "ns3" not in gridded and "ns4" in gridded
    assert "in drop (0)" in plain(box(to_dot(c.topology, c.graph), "ns3"))


# --trace: a flow a filter denied (the simulator's FILTER step, made by hand here)

def _rule_line(t: Topology, hook: Hook, index: int) -> int:
    pos = t.node("host").chain(hook).rules[index].pos  # type: ignore[union-attr]
    assert pos is not None
    return pos.line


def _ssh_from_internet(detail: str, disposition: Disposition = Disposition.FILTER_REJECTED) -> FlowResult:
    request = Trace(disposition, (
        Hop("internet", (Step(Action.ORIGINATED, "tcp 203.0.113.1 -> 203.0.113.2:22"),
                         Step(Action.ROUTED, "route 203.0.113.0/24 dev eth0"))),
        Hop("host", (Step(Action.RECEIVED, "in wan0"), Step(Action.FILTER, detail))),
    ))
    return FlowResult(Flow("internet", ipaddress.ip_address("203.0.113.2"), Proto.TCP, 22), disposition, "host",
                      "host's input chain reset the connection", request)


def _drawn(result: FlowResult, rules: bool = True) -> str:
    c, t = checked()
    return to_dot(t, c.graph, Options(rules=rules), overlay(t, c.graph, result))


def test_the_rule_that_denied_a_traced_flow_is_marked_by_its_line(golden: Callable[[Path, str], None]) -> None:
    _, t = checked()
    result = _ssh_from_internet(f"input: rule 5 ({LAB.name}:{_rule_line(t, Hook.INPUT, 4)}) reset")
    dot = _drawn(result)
    host = plain(box(dot, "host"))
    assert re.search(r" 5 reset  tcp  ◀ denied the flow", host)
    assert host.count("◀ denied the flow") == 1
    assert f'<B><U><FONT FACE="{style.MONO}" POINT-SIZE="10" COLOR="{style.DENY}">in&#160;drop' in box(dot, "host")
    assert "denied by host's input chain, rule 5: reset tcp" in words(box(dot, "_verdict"))
    golden(GOLDEN / "trace-firewall-internet-ssh-reset.dot", dot)


def test_without_the_rules_the_marker_still_names_chain_and_rule() -> None:
    _, t = checked()
    dot = _drawn(_ssh_from_internet(f"input rule at {LAB}:{_rule_line(t, Hook.INPUT, 3)}:13 reject"), rules=False)
    assert "◀ denied the flow" not in dot
    assert "denied by host's input chain, rule 4: reject udp dport 1000-2000" in words(box(dot, "_verdict"))


def test_a_policy_drop_marks_the_policy_line() -> None:
    dot = _drawn(_ssh_from_internet("forward: policy drop", Disposition.FILTER_DROPPED))
    host = plain(box(dot, "host"))
    assert host.count("◀ denied the flow") == 1
    forward = host[host.index("forward\n 1 "):]
    assert "policy drop  ◀ denied the flow" in forward
    assert "denied by host's forward chain, its policy: drop" in words(box(dot, "_verdict"))


def test_a_reply_denied_on_its_way_back_is_found_in_the_reply() -> None:
    _, t = checked()
    ok = _ssh_from_internet("input: accept (rule 3)", Disposition.DELIVERED)
    reply = Trace(Disposition.FILTER_DROPPED, (
        Hop("host", (Step(Action.ORIGINATED, "tcp 203.0.113.2:22 -> 203.0.113.1"),
                     Step(Action.FILTER, "output: policy drop"))),
    ))
    result = FlowResult(ok.flow, Disposition.FILTER_DROPPED, "host", "host's output chain dropped the reply",
                        Trace(Disposition.DELIVERED, ok.request.hops), reply)
    found = filters.denied(result, {n.name: n for n in t.nodes})
    assert found == filters.Denied("host", Hook.OUTPUT, None, "output: policy drop")


@pytest.mark.parametrize("disposition", [Disposition.DELIVERED, Disposition.NO_ROUTE])
def test_no_denial_is_marked_for_other_outcomes(disposition: Disposition) -> None:
    dot = _drawn(_ssh_from_internet("input: rule 3 accept", disposition))
    assert "denied" not in plain(dot) and "<U>" not in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' is not installed")
def test_svg_of_the_firewall_names_policies_and_rules(tmp_path: Path) -> None:
    out = tmp_path / "fw.svg"
    code, _, err = run(str(LAB), "-o", str(out), "--rules")
    assert code == 0, err
    text = html.unescape(out.read_text()).replace("\xa0", " ")
    for expected in ("in drop (5)", "fwd drop (3)", "out accept (0)", "dport 1000-2000", "tcp/22 udp/53"):
        assert expected in text, expected
