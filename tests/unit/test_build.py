"""Building the typed model: endpoints, bridge ports, external links, loopback, routes, NAT, forwards, expectations."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.conftest import SAMPLES
from topograph.front.diagnostics import Diagnostic, Report
from topograph.front.loader import load_text
from topograph.front.resolve import build
from topograph.front.shape import shape
from topograph.model import LOOPBACK, Endpoint, NodeKind, Proto, RpFilter, Topology


def make(text: str, file: str = "lab.yml") -> tuple[Topology, list[Diagnostic]]:
    report = Report()
    source = load_text(text, file, report)
    assert source is not None
    document = shape(source, report)
    assert document is not None, [d.render() for d in report]
    topology = build(source, document, report)
    return topology, list(report)


def clean(text: str, file: str = "lab.yml") -> Topology:
    topology, diags = make(text, file)
    assert not [d for d in diags if d.is_error], [d.render() for d in diags]
    return topology


def errors(text: str) -> list[tuple[str, int]]:
    return [(d.code, d.pos.line) for d in make(text)[1] if d.is_error]


SEED = (SAMPLES[0].parent / "06-port-forward.yml").read_text()


def test_seed_lab() -> None:
    t = clean(SEED)
    assert t.name == "seed" and t.file == "lab.yml"
    assert [n.name for n in t.nodes] == ["red", "blue", "host", "lan", "internet"]
    host = t.node("host")
    assert host.kind is NodeKind.HOST and host.forwarding
    assert [i.name for i in host.interfaces] == ["lo", "v-net-0", "eth0", "wan0", "veth-red-br", "veth-blue-br"]
    assert t.host is host
    assert t.node("lan").kind is NodeKind.EXTERNAL and t.node("red").kind is NodeKind.NAMESPACE


def test_loopback_is_always_first() -> None:
    t = clean("nodes:\n  a: {interfaces: {x: 10.0.0.1/24, lo: 10.255.0.1/32}}\n  b: {interfaces: {x: 10.0.0.2/24}}\n"
              "links: [[a:x, b:x]]\n")
    for node in t.nodes:
        assert node.interfaces[0].name == LOOPBACK
    assert t.interface("a", "lo").addresses == (ipaddress.ip_interface("10.255.0.1/32"),)
    assert t.interface("b", "lo").addresses == ()


def test_link_endpoints_resolve() -> None:
    t = clean(SEED)
    first = t.links[0]
    assert first.a == Endpoint("red", "veth-red") and first.b == Endpoint("host", "veth-red-br")
    assert str(first.a) == "red:veth-red" and first.index == 0 and not first.external
    assert first.pos is not None and first.pos.line == 32


def test_bridge_ports_belong_to_the_bridge_owner() -> None:
    t = clean(SEED)
    port = t.interface("host", "veth-red-br")
    assert port.bridge == "v-net-0" and not port.is_bridge and port.addresses == ()
    bridge = t.interface("host", "v-net-0")
    assert bridge.is_bridge and bridge.bridge is None
    assert bridge.addresses == (ipaddress.ip_interface("192.168.15.5/24"),)
    assert t.node("host").bridges == (bridge,)
    assert t.interface("red", "veth-red").bridge is None


def test_bridge_in_a_namespace() -> None:
    t = clean("nodes:\n  r: {bridges: {sw: 10.0.0.1/24}}\n  a: {interfaces: {e: 10.0.0.2/24}}\nlinks: [[a:e, sw:p-a]]\n")
    assert t.interface("r", "p-a").bridge == "sw"
    assert t.links[0].b == Endpoint("r", "p-a")


def test_external_links_are_flagged() -> None:
    t = clean(SEED)
    flags = {(str(link.a), str(link.b)): link.external for link in t.links}
    assert flags == {("red:veth-red", "host:veth-red-br"): False, ("blue:veth-blue", "host:veth-blue-br"): False,
                     ("host:eth0", "lan:eth0"): True, ("host:wan0", "internet:eth0"): True}


def test_interfaces_created_by_links_need_no_declaration() -> None:
    t = clean("nodes:\n  a: {}\n  b: {}\nlinks: [[a:veth0, b:veth0]]\n")
    assert [i.name for i in t.node("a").interfaces] == ["lo", "veth0"]


def test_interface_options() -> None:
    t = clean("nodes:\n  a: {interfaces: {e: {address: [10.0.0.1/24, 'fd00::1/64'], mtu: 9000, mac: '02:AA:00:00:00:01', "
              "up: false}}}\n  b: {interfaces: {e: 10.0.0.2/24}}\nlinks: [[a:e, b:e]]\n")
    e = t.interface("a", "e")
    assert e.mtu == 9000 and e.mac == "02:aa:00:00:00:01" and e.up is False
    assert [str(a) for a in e.addresses] == ["10.0.0.1/24", "fd00::1/64"]


def test_lab_name_defaults_to_file_stem() -> None:
    assert clean("nodes: {a: {}}\n", "my-lab.yml").name == "my-lab"
    assert clean("lab: named\nnodes: {a: {}}\n", "x.yml").name == "named"


def test_rp_filter_and_description() -> None:
    t = clean("description: hello\nnodes: {a: {rp_filter: strict}}\n")
    assert t.description == "hello" and t.node("a").rp_filter is RpFilter.STRICT and RpFilter.STRICT.sysctl == 1


ROUTES = """\
nodes:
  a:
    interfaces: {e: [10.0.0.1/24, "fd00::1/64"]}
    routes:
      - {to: default, via: 10.0.0.2}
      - {to: default, via: "fd00::2"}
      - {to: "::/0", via: "fd00::2", metric: 5}
      - {to: 10.9.0.0/16, dev: e}
      - {to: 10.8.0.0/16, via: 10.0.0.2, dev: e, metric: 100}
  b: {interfaces: {e: [10.0.0.2/24, "fd00::2/64"]}}
links: [[a:e, b:e]]
"""


def test_routes_default_v4_and_v6() -> None:
    routes = clean(ROUTES).node("a").routes
    assert [str(r.to) for r in routes] == ["0.0.0.0/0", "::/0", "::/0", "10.9.0.0/16", "10.8.0.0/16"]
    assert [r.is_default for r in routes] == [True, True, True, False, False]
    assert [r.family for r in routes] == [4, 6, 6, 4, 4]
    assert str(routes[0]) == "default via 10.0.0.2"
    assert str(routes[3]) == "10.9.0.0/16 dev e"
    assert str(routes[4]) == "10.8.0.0/16 via 10.0.0.2 dev e metric 100"
    assert routes[2].metric == 5 and routes[0].pos is not None and routes[0].pos.line == 5


def test_nat_and_port_forwards() -> None:
    t = clean(SEED)
    host = t.node("host")
    assert [(str(m.source), m.out) for m in host.nat] == [("192.168.15.0/24", "eth0"), ("192.168.15.0/24", "wan0")]
    (fwd,) = host.port_forwards
    assert fwd.proto is Proto.TCP and fwd.port == 80 and str(fwd.to_address) == "192.168.15.2" and fwd.to_port == 80
    assert fwd.target == "192.168.15.2:80"


@pytest.mark.parametrize(("target", "address", "port"), [
    ("10.0.0.2:8080", "10.0.0.2", 8080),
    ("10.0.0.2", "10.0.0.2", 80),  # the port defaults to the forwarded one
    ("[fd00::2]:8080", "fd00::2", 8080),
    ("[fd00::2]", "fd00::2", 80),
])
def test_port_forward_targets(target: str, address: str, port: int) -> None:
    t = clean("nodes:\n  a: {forwarding: true, interfaces: {e: [10.0.0.1/24, 'fd00::1/64']}, "
              f"port_forwards: [{{port: 80, to: '{target}', in: e}}]}}\n"
              "  b: {interfaces: {e: [10.0.0.2/24, 'fd00::2/64']}}\nlinks: [[a:e, b:e]]\n")
    (fwd,) = t.node("a").port_forwards
    assert (str(fwd.to_address), fwd.to_port, fwd.in_interface) == (address, port, "e")
    assert fwd.target == (f"[{address}]:{port}" if ":" in address else f"{address}:{port}")


def test_expectations() -> None:
    t = clean(SEED)
    first, second, third, fourth, fifth = t.expectations
    assert second.note == "masqueraded as 192.168.1.2"
    assert (first.src, first.dst, first.dst_node, first.dst_address) == ("red", "blue", "blue", None)
    assert third.dst_address == ipaddress.ip_address("198.51.100.8") and third.dst_node is None
    assert fourth.proto is Proto.TCP and fourth.port == 80
    assert fifth.reach is False and str(fifth) == "lan -/-> blue (icmp)"
    assert str(fourth) == "lan -> 192.168.1.2 (tcp/80)"


def test_primary_address_and_owner() -> None:
    t = clean(SEED)
    assert str(t.node("internet").primary_address) == "203.0.113.1"  # loopback's address comes last
    assert t.owner_of(ipaddress.ip_address("198.51.100.8")) == t.interface("internet", "lo")
    assert t.owner_of(ipaddress.ip_address("192.0.2.1")) is None


# -- errors of the build stage --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("nodes: {a: {}}\nlinks: [[a:x, nope:y]]\n", [("TG101", 2)]),
    ("nodes: {a: {}, b: {}}\nlinks: [[a:x, b:y], [a:x, b:z]]\n", [("TG104", 2)]),
    ("nodes: {a: {}, b: {}}\nlinks: [[a:x, b:y, a:z]]\n", [("TG108", 2)]),
    ("nodes: {a: {}, b: {}}\nlinks: [[a, b:y]]\n", [("TG108", 2)]),
    ("nodes: {a: {}, b: {}}\nlinks: [[a:lo, b:y]]\n", [("TG109", 2)]),
    ("nodes: {a: {bridges: {br: null}}, b: {}}\nlinks: [[a:br, b:y]]\n", [("TG109", 2)]),
    ("nodes: {a: {}, x: {kind: external}}\nlinks: [[a:e, x:e]]\n", [("TG110", 2)]),
    ("nodes: {a: {interfaces: {e: 10.0.0.1/24}}}\n", [("TG111", 1)]),
    ("nodes: {a: {kind: host}, b: {kind: host}}\n", [("TG107", 1)]),
    ("nodes: {a: {bridges: {lo: null}}}\n", [("TG103", 1)]),
    ("nodes: {a: {bridges: {a: null}}}\n", [("TG103", 1)]),
    ("nodes: {a: {bridges: {br: null}}, b: {bridges: {br: null}}}\n", [("TG103", 1)]),
    ("nodes: {a: {bridges: {br: null}, interfaces: {br: null}}}\n", [("TG103", 1)]),
    ("nodes: {a: {}, b: {}}\nlinks: [[a:averyveryverylongname, b:y]]\n", [("TG105", 2)]),
    ("nodes: {a: {}, b: {}}\nlinks: [['a:x;y', b:y]]\n", [("TG106", 2)]),
    ("nodes: {'a b': {}}\n", [("TG100", 1)]),
    ("lab: 'bad lab'\nnodes: {a: {}}\n", [("TG100", 1)]),
    # a trailing newline passed the old ^...$ match: full-match semantics refuse it
    ('lab: "seed\\n"\nnodes: {a: {}}\n', [("TG100", 1)]),
    ('nodes: {"a\\n": {}}\n', [("TG100", 1)]),
    ('nodes: {a: {}, b: {}}\nlinks: [["a:x\\n", b:y]]\n', [("TG106", 2)]),
])
def test_reference_errors(text: str, expected: list[tuple[str, int]]) -> None:
    assert errors(text) == expected


def test_every_build_error_is_reported_at_once() -> None:
    found = errors(
        "nodes:\n"
        "  a: {interfaces: {e: 10.0.0.1}, routes: [{to: 10.1.0.1/16, via: 10.0.0.2}, {to: default}]}\n"
        "  b: {interfaces: {e: 10.0.0.2/24}}\n"
        "links: [[a:e, b:e], [a:q, c:q]]\n"
        "expect: [{from: z, to: b, proto: tcp}]\n"
    )
    assert sorted(found) == [("TG101", 4), ("TG101", 5), ("TG200", 2), ("TG201", 2), ("TG301", 2), ("TG400", 5)]


def test_broken_links_do_not_cascade_into_unlinked_interfaces() -> None:
    found = errors("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.2/24}}\n"
                   "links: [[a:e, bb:e, x:y]]\n")
    assert found == [("TG108", 4)]
    found = errors("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.2/24}}\nlinks: [[a:e, bee:e]]\n")
    assert found == [("TG101", 4)]


def test_a_link_from_an_interface_to_itself() -> None:
    _, diags = make("nodes: {a: {}}\nlinks: [[a:e, a:e]]\n")
    (d,) = diags
    assert d.code == "TG104" and d.message == "both ends of links[0] are a:e"


def test_a_bad_interface_name_is_reported_once() -> None:
    found = errors("nodes:\n  a: {interfaces: {averyveryverylongname: 10.0.0.1/24}}\n  b: {}\n"
                   "links: [[a:averyveryverylongname, b:e]]\n")
    assert found == [("TG105", 2)]


@pytest.mark.parametrize(("value", "code"), [
    ("10.0.0.1", "TG200"), ("10.0.0.256/24", "TG200"), ("10.0.0.1/33", "TG200"), ("fd00::g/64", "TG200"),
    ("10.0.0.0/24", "TG206"), ("10.0.0.255/24", "TG206"),
    # a zone id: apply added fe80::1/64, then status said "missing" forever and a re-apply failed with "File exists"
    ("fe80::1%e/64", "TG208"), ("fd00::1%eth0/64", "TG208"),
    # IPv4 written as IPv6: the simulator predicted reach, the kernel does not answer
    ("::ffff:10.0.0.1/120", "TG209"), ("::ffff:10.0.0.1/96", "TG209"),
    # the kernel ignores 0.0.0.0 (status: missing forever) and refuses ::, IPv6 multicast and ::1 outside lo
    ("0.0.0.0/32", "TG210"), ("0.0.0.0/8", "TG210"), ("::/64", "TG210"), ("ff02::1/64", "TG210"), ("::1/128", "TG210"),
])
def test_bad_interface_addresses(value: str, code: str) -> None:
    assert errors(f"nodes:\n  a: {{interfaces: {{e: '{value}'}}}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n") == [(code, 2)]


@pytest.mark.parametrize("value", ["10.0.0.0/31", "10.0.0.1/31", "10.0.0.1/32", "fd00::/64", "fd00::ffff/64",
                                   "::10.0.0.1/96", "0.0.0.5/8"])
def test_addresses_the_kernel_accepts(value: str) -> None:
    assert errors(f"nodes:\n  a: {{interfaces: {{e: '{value}'}}}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n") == []


def test_address_in_a_shorthand_list_is_pointed_at() -> None:
    _, diags = make("nodes:\n  a: {interfaces: {e: [10.0.0.1/24, 10.0.0.300/24]}}\n  b: {}\nlinks: [[a:e, b:e]]\n")
    (d,) = diags
    assert (d.code, d.pos.line, d.pos.col) == ("TG200", 2, 37)


@pytest.mark.parametrize(("mac", "ok"), [
    ("02:00:00:00:00:01", True), ("52:54:00:12:34:56", True), ("01:00:5e:00:00:01", False), ("02:00:00:00:00", False),
    ("02-00-00-00-00-01", False), ("zz:00:00:00:00:01", False),
    ("00:00:00:00:00:00", False), ("ff:ff:ff:ff:ff:ff", False), ("02:00:00:00:00:01\n", False), ("00:00:00:00:00:01", True),
])
def test_macs(mac: str, ok: bool) -> None:
    found = errors(f"nodes:\n  a: {{interfaces: {{e: {{mac: {json.dumps(mac)}}}}}}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n")
    assert found == ([] if ok else [("TG207", 2)])


@pytest.mark.parametrize(("route", "code"), [
    ("{to: 10.0.0.1/8, via: 10.0.0.2}", "TG201"),
    ("{to: nowhere, via: 10.0.0.2}", "TG200"),
    ("{to: default, via: 10.0.0.2/24}", "TG200"),
    ("{to: default}", "TG301"),
    ("{to: default, dev: nope}", "TG102"),
    ("{to: 10.0.0.0/8, via: 'fd00::2'}", "TG205"),
    ("{to: 'fd00::/8', via: 10.0.0.2}", "TG205"),
    ("{to: 'fd00:9::/64', via: 'fe80::2%e'}", "TG208"),
    ("{to: 'fd00:9::%e/64', dev: e}", "TG208"),
    ("{to: 'fd00:9::/64', via: '::ffff:10.0.0.2'}", "TG209"),
    ("{to: '::ffff:10.9.0.0/112', dev: e}", "TG209"),
])
def test_bad_routes(route: str, code: str) -> None:
    found = errors(f"nodes:\n  a: {{interfaces: {{e: 10.0.0.1/24}}, routes: [{route}]}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n")
    assert found == [(code, 2)]


@pytest.mark.parametrize(("rule", "code"), [
    ("nat: [{masquerade: 10.0.0.1/24, out: e}]", "TG201"),
    ("nat: [{masquerade: 10.0.0.0/24, out: nope}]", "TG102"),
    ("port_forwards: [{port: 80, to: '10.0.0.2:99999'}]", "TG200"),
    ("port_forwards: [{port: 80, to: 'fd00::2:80'}]", "TG200"),
    ("port_forwards: [{port: 80, to: 'web:80'}]", "TG200"),
    ("port_forwards: [{port: 80, to: '10.0.0.2:80', in: nope}]", "TG102"),
    ("port_forwards: [{port: 80, to: '[fe80::2%e]:80'}]", "TG208"),
    ("port_forwards: [{port: 80, to: '[::ffff:10.0.0.2]:80'}]", "TG209"),
    ("nat: [{masquerade: 'fd00::%e/64', out: e}]", "TG208"),
    ("nat: [{masquerade: '::ffff:10.0.0.0/120', out: e}]", "TG209"),
])
def test_bad_nat_and_forwards(rule: str, code: str) -> None:
    found = errors(f"nodes:\n  a: {{forwarding: true, interfaces: {{e: 10.0.0.1/24}}, {rule}}}\n  b: {{}}\n"
                   "links: [[a:e, b:e]]\n")
    assert found == [(code, 2)]


def test_build_errors_carry_their_document_path() -> None:
    _, diags = make("nodes:\n  a: {interfaces: {e: [10.0.0.1/24, x]}, routes: [{to: default, dev: f}]}\n  b: {}\n"
                    "links: [[a:e, b:e]]\n")
    assert [(d.code, d.path) for d in diags] == [("TG200", "nodes.a.interfaces.e[1]"),
                                                 ("TG102", "nodes.a.routes[0].dev")]


def test_a_bridge_named_like_a_node_does_not_hide_the_node_s_links() -> None:
    found = errors("nodes:\n  red: {interfaces: {veth-red: 10.0.0.1/24}}\n  host: {kind: host, bridges: {red: null}}\n"
                   "  blue: {}\nlinks: [[red:veth-red, blue:e]]\n")
    assert found == [("TG103", 3)]


def test_unknown_names_get_did_you_mean() -> None:
    _, diags = make("nodes: {red: {}, blue: {}}\nlinks: [[red:e, bleu:e]]\nexpect: [{from: rde, to: bleu}]\n")
    assert [d.hint for d in diags] == ["did you mean 'blue'?", "did you mean 'red'?", "did you mean 'blue'?"]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_positions_looked_up_when_asked_are_where_the_names_are_written(sample: object) -> None:
    """Model objects resolve their position lazily (Where); each written interface and node points at its key."""
    text = sample.read_text()  # type: ignore[attr-defined]
    topology = clean(text, sample.name)  # type: ignore[attr-defined]
    lines = text.splitlines()
    for node in topology.nodes:
        assert node.pos is not None and lines[node.pos.line - 1][node.pos.col - 1:].startswith(node.name)
        for itf in node.interfaces:
            assert itf.where is not None
            path = itf.where.path
            if path[-1] == itf.name and path in itf.where.source.keys:  # type: ignore[attr-defined]  # declared
                assert itf.pos is not None
                assert lines[itf.pos.line - 1][itf.pos.col - 1:].startswith(itf.name), (node.name, itf.name, itf.pos)


def test_where_an_object_was_written_takes_no_part_in_equality() -> None:
    a = clean("nodes:\n  r: {interfaces: {lo: 10.9.0.1/32}}\n")
    b = clean("# moved down a line\nnodes:\n  r: {interfaces: {lo: 10.9.0.1/32}}\n")
    assert a.nodes == b.nodes and a.nodes[0].pos != b.nodes[0].pos


@pytest.mark.parametrize("name", ["red\n", "red\r\n", "red\t", "r\x00d", "red\x7f", "red\u2028", "red\u2029", "red\x85"])
def test_names_ending_in_or_holding_control_characters_are_refused(name: str) -> None:
    """A '^...$' pattern let `$` match before a final newline: "red\n" passed and made a namespace 'rx7-red\n'."""
    q = name.encode("unicode_escape").decode()
    assert errors(f'lab: "{q}"\nnodes:\n  "{q}": {{}}\n  b: {{}}\n') == [("TG100", 1), ("TG100", 3)]
    found = errors(f'nodes:\n  a: {{interfaces: {{"{q}": 10.0.0.1/24}}, bridges: {{"b{q}": {{}}}}}}\n  b: {{}}\n'
                   f'links: [["a:{q}", "b:e"], ["b:f", "b{q}:p"], ["b:g", "a:x{q}"]]\n')
    assert found == [("TG106", 2), ("TG106", 2), ("TG106", 4)]  # the interface, the bridge, the undeclared link end


@pytest.mark.parametrize("name", ["all", "default"])
def test_names_the_kernel_reserves_are_refused(name: str) -> None:
    """`ip link add all type veth ...` fails with EINVAL (measured): net.ipv4.conf.all/default are the sysctl tree's."""
    found = errors(f"nodes:\n  a: {{interfaces: {{{name}: 10.0.0.1/24}}, bridges: {{{name}: {{}}}}}}\n  b: {{}}\n"
                   f"links: [[a:{name}, b:{name}]]\n")
    assert ("TG115", 2) in found and ("TG115", 4) in found  # declared, and a link end that creates it
    assert errors(f"nodes:\n  a: {{bridges: {{{name.upper()}: {{}}}}}}\n  b: {{}}\n") == []  # 'ALL' is fine


def test_an_expectation_to_a_zone_or_mapped_address_is_refused() -> None:
    found = errors("nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.2/24}}\n"
                   "links: [[a:e, b:e]]\nexpect:\n  - {from: a, to: 'fe80::2%e'}\n  - {from: a, to: '::ffff:10.0.0.2'}\n")
    assert found == [("TG208", 6), ("TG209", 7)]
