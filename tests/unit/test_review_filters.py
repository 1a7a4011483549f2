"""The review page's node cards list each node's filter chains (policy and rules in order) and its listeners."""

from __future__ import annotations

import re

from tests.conftest import ROOT
from tests.unit.test_review import context, dot_digest
from topograph.pipeline import check_file
from topograph.review.page import build_page, to_html, to_markdown
from topograph.review.sections import nodes
from topograph.review.views import ChainView, RuleRow

LAB = ROOT / "tests" / "golden" / "render" / "firewall.yml"


def test_node_views_carry_chains_rules_and_listeners() -> None:
    views = {v.name: v for v in nodes(context(LAB))}
    host = views["host"]
    assert [c.hook for c in host.filter] == ["input", "forward"]  # the chains the file writes, in hook order
    forward = host.filter[1]
    assert forward == ChainView("forward", "drop", (
        RuleRow(1, "accept", "state established,related", True),
        RuleRow(2, "accept", "from 192.168.15.0/24", True),
        RuleRow(3, "accept", "to 192.168.15.2 tcp dport 80", True)))
    assert host.filter[0].rules[3:] == (RuleRow(4, "reject", "udp dport 1000-2000", False), RuleRow(5, "reset", "tcp", False))
    assert host.listen == ("tcp/22", "udp/53") and views["blue"].listen == ("tcp/80",)
    assert views["red"].filter == () and views["red"].listen == ()


def test_a_chain_of_rules_that_match_everything_says_so() -> None:
    text = ("lab: x\nnodes:\n  a:\n    interfaces: {e: 10.0.0.1/24}\n"
            "    filter: {output: {policy: accept, rules: [{action: drop}]}}\n"
            "  b: {interfaces: {e: 10.0.0.2/24}}\nlinks: [[a:e, b:e]]\n")
    (chain,) = {v.name: v for v in nodes(context(text))}["a"].filter
    assert chain == ChainView("output", "accept", (RuleRow(1, "drop", "every packet", False),))


def _pages() -> tuple[str, str]:
    c = check_file(LAB)
    assert c.ok and c.topology is not None
    page = build_page(c.topology, c.graph, (), dot_digest)
    return to_html(page).text, to_markdown(page, "firewall").text


def test_html_card_lists_rules_in_order_with_verdicts_styled() -> None:
    html, _ = _pages()
    card = html[html.index('<div class="card" id="node-host">'):html.index('<div class="card" id="node-lan">')]
    assert '<strong>filter input</strong> <span class="facts">policy <span class="deny">drop</span>, 5 rules</span>' in card
    items = re.findall(r'<li class="mono"><span class="(allow|deny)">(\w+)</span> ([^<]*)</li>', card)
    assert items[:5] == [("allow", "accept", "state established,related"), ("allow", "accept", "in v-net-0"),
                         ("allow", "accept", "from 192.168.1.0/24 tcp dport 22"),
                         ("deny", "reject", "udp dport 1000-2000"), ("deny", "reset", "tcp")]
    assert card.index("filter input") < card.index("filter forward") < card.index("listens")
    assert ".deny {" in html and ".allow {" in html
    red = html[html.index('<div class="card" id="node-red">'):html.index('<div class="card" id="node-blue">')]
    assert "<strong>filter" not in red and "listens" not in red


def test_markdown_lists_rules_numbered() -> None:
    _, md = _pages()
    host = md[md.index("### host (host)"):md.index("### lan (external)")]
    assert ("filter forward: policy **drop**, 3 rules\n\n1. accept `state established,related`\n"
            "2. accept `from 192.168.15.0/24`\n3. accept `to 192.168.15.2 tcp dport 80`\n") in host
    assert "4. **reject** `udp dport 1000-2000`\n5. **reset** `tcp`\n" in host
    assert "listens: `tcp/22` `udp/53`" in host
