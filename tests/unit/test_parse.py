"""The document's shape: pydantic errors become TG010/TG011/TG012 with document paths, positions and hints."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from topograph.front import document as doc
from topograph.front.diagnostics import Diagnostic, Pos, Report
from topograph.front.loader import load_text
from topograph.front.shape import _clean_loc, shape


def run(text: str) -> tuple[doc.TopologyDoc | None, list[Diagnostic]]:
    report = Report()
    source = load_text(text, "t.yml", report)
    assert source is not None, [d.render() for d in report]
    return shape(source, report), list(report)


def one(text: str) -> Diagnostic:
    result, diags = run(text)
    assert result is None
    assert len(diags) == 1, [d.render() for d in diags]
    return diags[0]


def test_a_sound_document_with_shorthands() -> None:
    result, diags = run(
        "nodes:\n"
        "  red:\n"
        "    interfaces: {a: 10.0.0.1/24, b: [10.0.1.1/24, fd00::1/64], c: null, d: {address: 10.0.2.1/24, mtu: 1400}}\n"
        "  host: {kind: host}\n"
        "  lan:\n"
    )
    assert not diags and result is not None
    red = result.nodes["red"]
    assert red.interfaces["a"].address == ["10.0.0.1/24"]
    assert red.interfaces["b"].address == ["10.0.1.1/24", "fd00::1/64"]
    assert red.interfaces["c"] == doc.InterfaceDoc()
    assert red.interfaces["d"].mtu == 1400 and red.interfaces["d"].up is True
    assert result.nodes["host"].kind == "host"
    assert result.nodes["lan"] == doc.NodeDoc()  # `lan:` with nothing is an empty namespace
    assert result.links == [] and result.expect == [] and result.lab is None


def test_aliases_in_and_from_are_accepted() -> None:
    result, diags = run(
        "nodes: {red: {forwarding: true, port_forwards: [{port: 80, to: 10.0.0.2:80, in: eth0}]}}\n"
        "expect: [{from: red, to: blue}]\n"
    )
    assert not diags and result is not None
    assert result.nodes["red"].port_forwards[0].in_ == "eth0"
    assert result.expect[0].from_ == "red"


def test_unknown_key_with_did_you_mean() -> None:
    d = one("nodes:\n  red:\n    interface: {a: 10.0.0.1/24}\n")
    assert (d.code, d.pos, d.path) == ("TG010", Pos("t.yml", 3, 5), "nodes.red.interface")
    assert d.message == "unknown key 'interface' in nodes.red"
    assert d.hint == "did you mean 'interfaces'?"


def test_unknown_key_with_two_near_matches() -> None:
    d = one("nodes: {}\nexpect: [{from: a, to: b, proto: tcp, prot: 80}]\n")
    assert d.hint == "did you mean 'port' or 'proto'?"


def test_unknown_key_synonym() -> None:
    d = one("nodes: {red: {routes: [{to: default, gateway: 10.0.0.1}]}}\n")
    assert d.code == "TG010" and d.hint == "did you mean 'via'?"


def test_unknown_key_without_a_near_match_lists_the_allowed_ones() -> None:
    d = one("nodes: {red: {colour: blue}}\n")
    assert d.hint is not None and d.hint.startswith("allowed here: kind, forwarding")


def test_unknown_key_inside_an_interface_and_a_bridge() -> None:
    _, diags = run("nodes: {r: {interfaces: {e: {adress: x}}, bridges: {b: {stp: true}}}}\n")
    assert [(d.code, d.path) for d in diags] == [("TG010", "nodes.r.interfaces.e.adress"), ("TG010", "nodes.r.bridges.b.stp")]
    assert diags[0].hint == "did you mean 'address'?"


def test_a_typo_does_not_also_report_the_missing_key() -> None:
    d = one("nodes: {}\nexpect: [{from: red, too: blue}]\n")
    assert d.code == "TG010" and "'too'" in d.message


def test_comma_inside_flow_mapping_is_explained() -> None:
    d = one("nodes: {}\nexpect: [{from: a, to: b, note: red, blue}]\n")
    assert d.code == "TG010" and "comma" in (d.hint or "")


@pytest.mark.parametrize(("text", "path", "line", "col"), [
    ("nodes: {red: {kind: router}}\n", "nodes.red.kind", 1, 21),
    ("nodes: {red: {forwarding: maybe}}\n", "nodes.red.forwarding", 1, 27),
    ("nodes: {red: {interfaces: {e: {mtu: 20}}}}\n", "nodes.red.interfaces.e.mtu", 1, 37),
    ("nodes: {red: {routes: {to: default}}}\n", "nodes.red.routes", 1, 23),
    ("nodes: {red: {routes: [{to: default, metric: -1}]}}\n", "nodes.red.routes[0].metric", 1, 46),
    ("nodes: {red: {port_forwards: [{port: 70000, to: x}]}}\n", "nodes.red.port_forwards[0].port", 1, 38),
    ("nodes: {red: []}\n", "nodes.red", 1, 14),
    ("nodes: []\n", "nodes", 1, 8),
    ("nodes: {}\nlinks: [[a:b, 5]]\n", "links[0][1]", 2, 15),
    ("nodes: {}\nlinks: a:b\n", "links", 2, 8),
    ("nodes: {}\nexpect: [{from: a, to: b, proto: sctp}]\n", "expect[0].proto", 2, 34),
    ("lab: 5\nnodes: {}\n", "lab", 1, 6),
])
def test_wrong_types(text: str, path: str, line: int, col: int) -> None:
    d = one(text)
    assert (d.code, d.path, d.pos.line, d.pos.col) == ("TG011", path, line, col)
    assert d.message.startswith(path)


def test_wrong_type_messages_do_not_leak_class_names() -> None:
    _, diags = run("nodes: {red: {interfaces: {e: 5}, routes: [5], nat: [5], port_forwards: [5]}, b: 5}\nexpect: [5]\n")
    assert len(diags) == 6
    for d in diags:
        assert d.code == "TG011" and "Doc" not in d.message and "instance" not in d.message, d.message
    assert "an address in CIDR form, a list of addresses, or a mapping" in diags[0].message


def test_quoted_number_and_boolean_get_a_quote_hint() -> None:
    _, diags = run('nodes: {red: {interfaces: {e: {mtu: "1500", up: "false"}}}}\n')
    assert [d.hint for d in diags] == ["write it without quotes", "write it without quotes"]


@pytest.mark.parametrize(("text", "hint"), [
    ("nodes: {}\nexpect: [{from: no, to: a}]\n", "put it in quotes: YAML reads yes, no, on and off as true or false"),
    ("lab: 1\nnodes: {}\n", "put it in quotes: YAML reads it as a number"),
    ("description: 1.5\nnodes: {}\n", "put it in quotes: YAML reads it as a number"),
])
def test_yaml_1_1_surprises_get_a_quote_hint(text: str, hint: str) -> None:
    assert one(text).hint == hint


def test_expectation_proto_hint_lists_its_own_protocols() -> None:
    d = one("nodes: {}\nexpect: [{from: a, to: b, proto: sctp}]\n")
    assert d.hint == "write it like: proto: icmp | tcp | udp"


def test_hint_is_about_the_place_not_a_distant_parent() -> None:
    d = one("nodes: {red: {routes: [{to: default, via: x, metric: -1}]}}\n")
    assert d.hint is None  # the pydantic message says it all; a routes example would only distract


def test_address_error_in_a_shorthand_list_points_at_the_element() -> None:
    d = one("nodes:\n  red:\n    interfaces: {e: [10.0.0.1/24, 5]}\n")
    assert d.code == "TG011" and d.pos == Pos("t.yml", 3, 35)


@pytest.mark.parametrize(("text", "message"), [
    ("- a\n- b\n", "not a list"),
    ("hello\n", "not 'hello'"),
    ("5\n", "not 5"),
])
def test_document_not_a_mapping(text: str, message: str) -> None:
    d = one(text)
    assert d.code == "TG011" and d.pos == Pos("t.yml", 1, 1) and message in d.message
    assert "'nodes:'" in d.message


@pytest.mark.parametrize(("text", "path", "where"), [
    ("lab: x\n", "nodes", "the document"),
    ("nodes: {r: {routes: [{via: 10.0.0.1}]}}\n", "nodes.r.routes[0].to", "nodes.r.routes[0]"),
    ("nodes: {r: {port_forwards: [{to: 10.0.0.1:80}]}}\n", "nodes.r.port_forwards[0].port", "nodes.r.port_forwards[0]"),
    ("nodes: {}\nexpect: [{to: r}]\n", "expect[0].from", "expect[0]"),
])
def test_missing_keys(text: str, path: str, where: str) -> None:
    d = one(text)
    assert (d.code, d.path) == ("TG012", path)
    assert d.message == f"{where} needs the key {path.rsplit('.', 1)[-1]!r}"
    assert d.hint is not None and d.hint.startswith("write it like:")


def test_every_shape_error_is_reported_at_once() -> None:
    _, diags = run(
        "nodes:\n"
        "  red: {kind: x, forwardng: true, routes: [{via: 1.2.3.4}]}\n"
        "  blue: 5\n"
        "links: [[a:b, 3]]\n"
        "expect: [{from: red}]\n"
        "extra: 1\n"
    )
    assert sorted(d.code for d in diags) == ["TG010", "TG010", "TG011", "TG011", "TG011", "TG012", "TG012"]
    assert [d.pos.line for d in diags] == sorted(d.pos.line for d in diags)


def test_clean_loc_drops_only_pydantic_pseudo_steps() -> None:
    assert _clean_loc(("nodes", "r", "function-before[_shorthand(), InterfaceDoc]", "mtu")) == ("nodes", "r", "mtu")
    assert _clean_loc(("nodes", "a[1]", "kind")) == ("nodes", "kind")  # without a source it cannot tell


def test_a_user_key_that_looks_like_a_pseudo_step_keeps_its_place() -> None:
    _, diags = run("nodes:\n  a[1]: {kind: x}\n")
    (d,) = diags
    assert d.path == "nodes['a[1]'].kind" and d.pos == Pos("t.yml", 2, 16)


def test_known_keys_use_aliases() -> None:
    assert "from" in doc.known_keys(doc.ExpectDoc) and "in" in doc.known_keys(doc.PortForwardDoc)


@pytest.mark.parametrize(("text", "model"), [
    ("nodes: {a: [1]}\n", doc.NodeDoc),
    ("nodes: {a: {routes: [5]}}\n", doc.RouteDoc),
    ("nodes: {a: {nat: [5]}}\n", doc.NatDoc),
    ("nodes: {a: {port_forwards: [5]}}\n", doc.PortForwardDoc),
    ("nodes: {a: {}}\nexpect: [5]\n", doc.ExpectDoc),
    ("nodes: {a: {interfaces: {e: 5}}}\n", doc.InterfaceDoc),
])
def test_a_wrong_shape_names_every_key_the_mapping_may_hold(text: str, model: type[BaseModel]) -> None:
    """The list of keys comes from the document class, so a new field is named too (rp_filter was not)."""
    (d,) = run(text)[1]
    keys = [f.alias or name for name, f in model.model_fields.items()]
    assert d.code == "TG011" and ("a mapping of " + ", ".join(keys)) in d.message, d.message
