"""nft's JSON (as `nft -j list ruleset` prints it) -> the file's nat, port_forwards and filter: every form
topograph loads maps back; anything else is a note, never dropped silently."""

from __future__ import annotations

from typing import Any

import pytest

from topograph.scan.nftmap import Unmappable, filter_rule, map_ruleset, parse_rule

T = "topograph-lab"


def m(left: dict[str, Any], right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def meta(key: str) -> dict[str, Any]:
    return {"meta": {"key": key}}


def payload(proto: str, field: str) -> dict[str, Any]:
    return {"payload": {"protocol": proto, "field": field}}


def prefix(addr: str, n: int) -> dict[str, Any]:
    return {"prefix": {"addr": addr, "len": n}}


def chain(name: str, hook: str, kind: str = "filter", policy: str = "accept", family: str = "inet",
          table: str = T) -> dict[str, Any]:
    return {"chain": {"family": family, "table": table, "name": name, "handle": 1, "type": kind, "hook": hook,
                      "prio": 0, "policy": policy}}


def rule(chain_name: str, *expr: dict[str, Any], family: str = "inet", table: str = T) -> dict[str, Any]:
    return {"rule": {"family": family, "table": table, "chain": chain_name, "handle": 2, "expr": list(expr)}}


FIB_LOCAL = m({"fib": {"result": "type", "flags": ["daddr"]}}, "local")


def test_topograph_tables_map_back() -> None:
    """The seed firewall's table as nft lists it (samples/09, 10, 12 forms)."""
    objects = [
        chain("prerouting", "prerouting", "nat"), chain("nat_output", "output", "nat"),
        chain("postrouting", "postrouting", "nat"), chain("input", "input", policy="drop"),
        chain("forward", "forward", policy="drop"),
        rule("prerouting", m(meta("iifname"), "eth0"), m(meta("nfproto"), "ipv4"), FIB_LOCAL,
             m(payload("tcp", "dport"), 8080), {"dnat": {"family": "ip", "addr": "172.18.0.2", "port": 80}}),
        rule("prerouting", m(payload("ip6", "daddr"), "2001:db8:1::2"), m(payload("tcp", "dport"), 80),
             {"dnat": {"family": "ip6", "addr": "fd00:15::2", "port": 80}}),
        rule("nat_output", m(payload("ip6", "daddr"), "2001:db8:1::2"), m(payload("tcp", "dport"), 80),
             {"dnat": {"family": "ip6", "addr": "fd00:15::2", "port": 80}}),
        rule("postrouting", m(payload("ip", "saddr"), prefix("172.17.0.0", 16)), m(meta("oifname"), "eth0"),
             {"masquerade": None}),
        rule("postrouting", m(payload("ip", "saddr"), prefix("192.168.15.0", 24)),
             m(payload("ip", "daddr"), prefix("198.51.100.0", 24)), m(meta("oifname"), "wan0"),
             {"snat": {"family": "ip", "addr": "203.0.113.3"}}),
        rule("input", m({"ct": {"key": "state"}}, ["established", "related"], "in"), {"accept": None}),
        rule("input", m(payload("ip", "protocol"), "icmp"), {"accept": None}),
        rule("input", m(meta("l4proto"), "ipv6-icmp"), {"accept": None}),
        rule("input", m(payload("tcp", "dport"), {"range": [23, 1023]}), {"reject": {"type": "tcp reset"}}),
        rule("forward", m(meta("iifname"), "br-app"), m(meta("oifname"), "docker0"),
             {"reject": {"type": "icmpx", "expr": "port-unreachable"}}),
        rule("forward", {"counter": {"packets": 3, "bytes": 180}}, m(payload("ip", "daddr"), "172.18.0.2"),
             m(payload("tcp", "dport"), 80), {"accept": None}),
    ]
    mapped = map_ruleset(objects, {4, 6})
    assert mapped.notes == []
    assert mapped.port_forwards == [
        {"proto": "tcp", "port": 8080, "to": "172.18.0.2:80", "in": "eth0"},
        {"proto": "tcp", "port": 80, "to": "[fd00:15::2]:80", "address": "2001:db8:1::2", "local": True}]
    assert mapped.nat == [{"masquerade": "172.17.0.0/16", "out": "eth0"},
                          {"snat": "192.168.15.0/24", "to": "203.0.113.3", "out": "wan0", "dst": "198.51.100.0/24"}]
    assert mapped.filter == {
        "input": {"policy": "drop", "rules": [
            {"state": ["established", "related"], "action": "accept"}, {"proto": "icmp", "action": "accept"},
            {"proto": "icmpv6", "action": "accept"}, {"proto": "tcp", "dport": "23-1023", "action": "reset"}]},
        "forward": {"policy": "drop", "rules": [
            {"in": "br-app", "out": "docker0", "action": "reject"},
            {"to": "172.18.0.2", "proto": "tcp", "dport": 80, "action": "accept"}]}}


def test_foreign_tables_map_where_the_format_says_them() -> None:
    """iptables-nft style tables of the ip family: exact on a node without IPv6 addresses, notes on one with."""
    objects = [chain("INPUT", "input", policy="drop", family="ip", table="filter"),
               rule("INPUT", m(payload("tcp", "dport"), 22), {"accept": None}, family="ip", table="filter")]
    assert map_ruleset(objects, {4}).filter == {"input": {"policy": "drop", "rules": [
        {"proto": "tcp", "dport": 22, "action": "accept"}]}}
    both = map_ruleset(objects, {4, 6})
    assert both.filter == {}
    assert len(both.notes) == 2 and "policy drop for IPv4 only" in both.notes[0] and "IPv4 only" in both.notes[1]


@pytest.mark.parametrize(("expr", "why"), [
    ([m(meta("mark"), 1), {"accept": None}], "meta mark"),
    ([m(payload("tcp", "dport"), 22), {"jump": {"target": "other"}}], "verdict jump"),
    ([m(payload("ip", "saddr"), "10.0.0.1"), m(payload("ip6", "daddr"), "::1"), {"drop": None}], "both IPv4 and IPv6"),
    ([{"log": {"prefix": "x"}}, {"accept": None}], "verdict log"),
    ([{"counter": None}], "no verdict"),
    ([m(payload("tcp", "dport"), 22, "!="), {"drop": None}], "operator !="),
    ([{"reject": {"type": "icmp", "expr": "host-unreachable"}}], "reject with icmp host-unreachable"),
])
def test_other_forms_are_unmappable(expr: list[dict[str, Any]], why: str) -> None:
    with pytest.raises(Unmappable, match=why):
        filter_rule(parse_rule(expr, None), {4})


def test_unmappable_rules_chains_and_tables_become_notes() -> None:
    objects = [
        chain("input", "input"), rule("input", m(meta("mark"), 1), {"drop": None}),
        chain("pre", "prerouting", kind="filter"), rule("pre", {"drop": None}),
        chain("in2", "input", table="other"), rule("in2", {"drop": None}, table="other"),
        {"chain": {"family": "bridge", "table": "br", "name": "f", "type": "filter", "hook": "forward",
                   "prio": 0, "policy": "drop"}},
        chain("post", "postrouting", "nat"), rule("post", m(payload("ip", "saddr"), "10.0.0.0/8"), {"masquerade": None}),
    ]
    mapped = map_ruleset(objects, {4})
    # the first input chain says nothing the file can (its one rule is a note): the second one is the node's
    assert mapped.filter == {"input": {"policy": "accept", "rules": [{"action": "drop"}]}}
    assert mapped.nat == []
    text = "\n".join(mapped.notes)
    assert len(mapped.notes) == 4, text
    assert '[{"match":{"op":"==","left":{"meta":{"key":"mark"}},"right":1}},{"drop":null}]' in text
    assert "chain pre (type filter, hook prerouting): not read" in text and "chain f (bridge family)" in text
    assert "(masquerade the format cannot say)" in text  # a masquerade without an out interface
