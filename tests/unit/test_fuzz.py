"""Property tests: random and mangled topology text never raises, it only produces diagnostics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLES
from topograph.cli import main
from topograph.front.codes import CODES
from topograph.pipeline import Checked, check_text

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI_FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                             HealthCheck.function_scoped_fixture])
SAMPLE_TEXTS = [s.read_text() for s in SAMPLES]
_DIAG_LINE = re.compile(r"^\S.*:\d+:\d+: (error|warning)\[(TG\d{3})\]: \S")


def checked(text: str) -> Checked:
    """check_text must return, whatever the text; its diagnostics must be well formed."""
    result = check_text(text, "x.yml")
    for d in result.report:
        assert d.code in CODES, d.code
        assert d.severity is CODES[d.code][0]
        assert d.pos.file == "x.yml" and d.pos.line >= 1 and d.pos.col >= 1
        assert d.message and "\n" not in d.message
    if result.ok:
        assert result.topology is not None and result.graph is not None
    else:
        assert result.report.has_errors or result.topology is None
    return result


# -- raw text ---------------------------------------------------------------------------------

# pieces of text, not single characters: YAML punctuation, topology words, and any character at all
YAMLISH = st.lists(
    st.one_of(
        st.sampled_from([*":-[]{},#&*!|>'\"%@?~=\n\n\n\t    ./0123456789", ": ", "- ", "\n  ", "\n    "]),
        st.sampled_from(["nodes", "links", "lab", "kind", "host", "interfaces", "bridges", "routes", "to", "via", "lo",
                         "red", "10.0.0.1/24", "default", "<<", "&a", "*a", "!!str", "---", "..."]),
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
    ),
    max_size=120,
).map("".join)


@FUZZ
@given(YAMLISH)
def test_random_text_never_raises(text: str) -> None:
    checked(text)


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_unicode_never_raises(text: str) -> None:
    checked(text)


# -- random YAML data -------------------------------------------------------------------------

KEYS = ["lab", "description", "nodes", "links", "expect", "kind", "forwarding", "rp_filter", "interfaces", "bridges",
        "routes", "nat", "port_forwards", "address", "mtu", "mac", "up", "to", "via", "dev", "metric", "masquerade",
        "out", "proto", "port", "in", "from", "reach", "note", "red", "blue", "host", "lo", "eth0", "v-net-0"]
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30), st.just(2**64), st.just(-1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["default", "host", "external", "namespace", "tcp", "icmp", "udp", "10.0.0.1/24", "10.0.0.0/24",
                     "fd00::1/64", "::/0", "0.0.0.0/0", "10.0.0.1", "red:veth0", "blue:veth0", "v-net-0:p", "",
                     "a" * 300, "é", "\u202e", "\x00", "\U0001d52b\U0001d52c\U0001d521\U0001d522",
                     "02:00:00:00:00:01", "255.255.255.255/32", "1.2.3.4:80"]),
    st.text(max_size=20),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5)),
    max_leaves=15,
)


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None)


@FUZZ
@given(DATA)
def test_random_yaml_data_never_raises(data: Any) -> None:
    checked(dump(data))


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), DATA, max_size=6))
def test_random_top_level_mappings_never_raise(data: dict[str, Any]) -> None:
    checked(dump(data))


# -- well-shaped topologies with random names and numbers (reach build and validate) -----------

NAMES = st.sampled_from(["red", "blue", "host", "lan", "r1", "bad name", "x" * 50, "-x"])
IFNAMES = st.sampled_from(["eth0", "eth1", "veth0", "lo", "v-net-0", "p1", "p2", "a-very-long-interface", "bad;if"])
ADDRS = st.sampled_from(["10.0.0.1/24", "10.0.0.2/24", "10.0.0.1/24", "10.0.1.1/24", "10.0.0.0/24", "10.0.0.255/24",
                         "10.0.0.9/23", "10.0.0.1/32", "fd00::1/64", "fd00::2/64", "fe80::1/64", "10.0.0.1", "nope",
                         "192.168.1.1/31", "0.0.0.0/0"])
GATEWAYS = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.1.1", "fd00::2", "fe80::1", "10.0.0.2/24", "x"])
PREFIXES = st.sampled_from(["default", "10.0.0.0/24", "10.1.0.0/16", "10.1.0.1/16", "::/0", "fd00:1::/64", "bogus"])
IFACE = st.one_of(st.none(), ADDRS, st.lists(ADDRS, max_size=3),
                  st.fixed_dictionaries({}, optional={"address": st.lists(ADDRS, max_size=2),
                                                      "mtu": st.integers(60, 70000), "up": st.booleans(),
                                                      "mac": st.sampled_from(["02:00:00:00:00:01", "01:00:00:00:00:01",
                                                                              "zz"])}))
ROUTE = st.fixed_dictionaries({"to": PREFIXES}, optional={"via": GATEWAYS, "dev": IFNAMES,
                                                          "metric": st.integers(0, 10)})
NODE = st.fixed_dictionaries({}, optional={
    "kind": st.sampled_from(["namespace", "host", "external"]),
    "forwarding": st.booleans(),
    "interfaces": st.dictionaries(IFNAMES, IFACE, max_size=3),
    "bridges": st.dictionaries(st.sampled_from(["v-net-0", "br1", "lo", "red"]), IFACE, max_size=2),
    "routes": st.lists(ROUTE, max_size=3),
    "nat": st.lists(st.fixed_dictionaries({"masquerade": PREFIXES, "out": IFNAMES}), max_size=2),
    "port_forwards": st.lists(st.fixed_dictionaries(
        {"port": st.integers(1, 65535), "to": st.sampled_from(["10.0.0.2:80", "10.0.0.2", "[fd00::2]:80", "fd00::2:80",
                                                                "10.0.0.2:0", "x:1"])},
        optional={"proto": st.sampled_from(["tcp", "udp"]), "in": IFNAMES}), max_size=2),
})
END = st.builds(lambda n, i: f"{n}:{i}", st.one_of(NAMES, st.sampled_from(["v-net-0", "br1"])), IFNAMES)
TOPOLOGY = st.fixed_dictionaries(
    {"nodes": st.dictionaries(NAMES, NODE, min_size=1, max_size=4)},
    optional={
        "links": st.lists(st.lists(END, min_size=1, max_size=3), max_size=5),
        "expect": st.lists(st.fixed_dictionaries(
            {"from": NAMES, "to": st.one_of(NAMES, st.sampled_from(["10.0.0.2", "fd00::2", "nowhere"]))},
            optional={"proto": st.sampled_from(["icmp", "tcp"]), "port": st.integers(1, 65535),
                      "reach": st.booleans()}), max_size=3),
    },
)


@FUZZ
@given(TOPOLOGY)
def test_random_topologies_never_raise(data: dict[str, Any]) -> None:
    checked(dump(data))


# -- sound names and addresses, random wiring (reach the semantic checks and the simulator) -----

GOOD_ADDRS = st.sampled_from(["10.0.0.1/24", "10.0.0.2/24", "10.0.0.3/24", "10.0.1.1/24", "10.0.1.2/24", "10.0.0.9/23",
                              "192.168.1.2/24", "fd00::1/64", "fd00::2/64", "fd00:1::1/64", "10.9.9.9/32"])
V4_ROUTE = st.fixed_dictionaries({"to": st.sampled_from(["default", "10.0.1.0/24", "10.1.0.0/16", "0.0.0.0/0"]),
                                  "via": st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.1.1", "192.168.1.1"])},
                                 optional={"metric": st.integers(0, 2)})
V6_ROUTE = st.fixed_dictionaries({"to": st.sampled_from(["::/0", "fd00:1::/64"]),
                                  "via": st.sampled_from(["fd00::1", "fd00::2", "fe80::1"])})


@st.composite
def wired_topologies(draw: st.DrawFn) -> dict[str, Any]:
    """Sound names, a few subnets and random wiring: most examples get through to the semantic checks."""
    names = draw(st.lists(st.sampled_from(["red", "blue", "green", "host", "lan", "r1"]), min_size=1, max_size=5,
                          unique=True))
    nodes: dict[str, Any] = {}
    for n in names:
        kind = "host" if n == "host" else draw(st.sampled_from(["namespace", "namespace", "namespace", "external"]))
        nodes[n] = {"kind": kind, "forwarding": draw(st.booleans()), "interfaces": {}}
        if draw(st.integers(0, 3)) == 0:
            nodes[n]["bridges"] = {f"br-{n}": draw(st.one_of(st.none(), GOOD_ADDRS))}
    pool = [f"{n}:eth{k}" for n in names for k in range(3)]
    pool += [f"{br}:p{k}" for n in names for br in nodes[n].get("bridges", {}) for k in range(3)]
    links: list[list[str]] = []
    used: set[str] = set()
    for _ in range(draw(st.integers(0, 6))):
        a, b = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
        if a != b and a not in used and b not in used:
            links.append([a, b])
            used |= {a, b}
    for end in sorted(used):
        owner, _, ifname = end.partition(":")
        if owner in nodes and draw(st.booleans()):
            nodes[owner]["interfaces"][ifname] = draw(st.one_of(
                GOOD_ADDRS, st.lists(GOOD_ADDRS, max_size=2),
                st.fixed_dictionaries({"address": st.lists(GOOD_ADDRS, max_size=2)},
                                      optional={"up": st.booleans(), "mtu": st.integers(1280, 9000)})))
    for n in names:
        ifs = sorted(nodes[n]["interfaces"]) or ["lo"]
        nodes[n]["routes"] = draw(st.lists(st.one_of(V4_ROUTE, V6_ROUTE, st.fixed_dictionaries(
            {"to": st.sampled_from(["10.2.0.0/16", "default"]), "dev": st.sampled_from(ifs)})), max_size=3))
        if draw(st.integers(0, 3)) == 0:
            nodes[n]["nat"] = [{"masquerade": draw(st.sampled_from(["10.0.0.0/24", "10.0.0.0/23", "fd00::/64"])),
                                "out": draw(st.sampled_from(ifs))}]
        if draw(st.integers(0, 3)) == 0:
            nodes[n]["port_forwards"] = [{"port": 80, "to": draw(st.sampled_from(["10.0.0.2:80", "10.0.1.2",
                                                                                   "[fd00::2]:80"]))}]
    expect = draw(st.lists(st.fixed_dictionaries(
        {"from": st.sampled_from(names), "to": st.one_of(st.sampled_from(names), st.sampled_from(["10.0.0.2", "fd00::2"]))},
        optional={"reach": st.booleans()}), max_size=3))
    return {"nodes": nodes, "links": links, "expect": expect}


@FUZZ
@given(wired_topologies())
def test_wired_topologies_never_raise(data: dict[str, Any]) -> None:
    checked(dump(data))


# -- mangled samples ----------------------------------------------------------------------------

def _mutate(text: str, data: st.DataObject) -> str:
    lines = text.splitlines(keepends=True) or [""]
    op = data.draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "indent", "truncate", "token"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "indent":
        lines[i] = data.draw(st.sampled_from(["", " ", "  ", "\t", "      "])) + lines[i].lstrip(" ")
    elif op in ("swap", "insert", "replace") and lines[i]:
        line = lines[i]
        j = data.draw(st.integers(0, len(line) - 1))
        if op == "swap" and j + 1 < len(line):
            line = line[:j] + line[j + 1] + line[j] + line[j + 2:]
        elif op == "insert":
            line = line[:j] + data.draw(st.text(min_size=1, max_size=3)) + line[j:]
        else:
            line = line[:j] + data.draw(st.sampled_from(list(":,[]{}#&*!'\"-? 0x\u00e9"))) + line[j + 1:]
        lines[i] = line
    elif op == "truncate":
        return "".join(lines)[: data.draw(st.integers(0, len(text)))]
    elif op == "token":
        tokens = re.findall(r"[\w./:-]+", lines[i])
        if tokens:
            old = data.draw(st.sampled_from(tokens))
            new = data.draw(st.one_of(st.sampled_from(["99999999999999999999999", "-1", "null", "true", "[]", "{}",
                                                       "10.0.0.256/24", "fd00::/129", "0", "~", "\U0001d535", "a" * 40]),
                                      st.text(max_size=6)))
            lines[i] = lines[i].replace(old, new, 1)
    return "".join(lines)


@FUZZ
@given(st.sampled_from(SAMPLE_TEXTS), st.data())
def test_mangled_samples_never_raise(text: str, data: st.DataObject) -> None:
    for _ in range(data.draw(st.integers(1, 4))):
        text = _mutate(text, data)
    checked(text)


# -- pathological shapes ----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "nodes: " + "[" * 5000 + "]" * 5000 + "\n",
    "nodes: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n",
    "nodes:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)),
    "nodes: {red: {interfaces: {e: {mtu: " + "9" * 5000 + "}}}}\n",
    "nodes: {red: {routes: [{to: default, metric: 1e999}]}}\n",
    "a: &a [*a]\nnodes: {}\n",
    "\ufeffnodes: {red: {}}\n",
    "nodes: {\u202ered: {}}\n",
    "nodes:\r\n  red: {}\r\n",
    "%YAML 1.2\n---\nnodes: {}\n",
    "%TAG ! tag:example.com,2000:\n---\nnodes: !foo {}\n",
], ids=["deep-lists", "deep-maps", "deep-block", "huge-int", "huge-float", "recursive-alias", "bom", "bidi", "crlf",
        "directive", "tag-directive"])
def test_pathological_documents(text: str) -> None:
    checked(text)


def test_a_huge_integer_is_reported_not_overflowing() -> None:
    result = checked("nodes:\n  red: {interfaces: {lo: {mtu: " + "9" * 5000 + "}}}\n")
    assert [d.code for d in result.report] == ["TG011"]
    assert len(next(iter(result.report)).message) < 300  # the number is abbreviated in the message


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e3", "15.0"])
def test_floats_are_wrong_types_for_integers(value: str) -> None:
    result = checked(f"nodes: {{red: {{routes: [{{to: default, via: 10.0.0.1, metric: {value}}}]}}}}\n")
    assert [(d.code, d.path) for d in result.report] == [("TG011", "nodes.red.routes[0].metric")]


# -- the command line on random files ------------------------------------------------------------

@CLI_FUZZ
@given(st.one_of(YAMLISH, DATA.map(dump), TOPOLOGY.map(dump), wired_topologies().map(dump),
                 st.tuples(st.sampled_from(SAMPLE_TEXTS), st.data()).map(lambda t: _mutate(*t))))
def test_the_cli_exits_0_or_1_without_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stdout == ""
    for line in result.stderr.splitlines():
        assert line.startswith("  ") or _DIAG_LINE.match(line) or re.match(r"^\d+ errors?, \d+ warnings?$", line) \
            or line.startswith(f"{path}: lab "), line


# -- names with control characters: refused by check and by --sandbox ----------------------------

# a '^...$' pattern let `$` match before a final newline, so "red\n" passed as a name; every control character
# (and the unicode line and paragraph separators, NEL, DEL) must be refused wherever it stands, the end included
CONTROL = st.sampled_from(["\n", "\r", "\r\n", "\t", "\x00", "\x7f", "\x0b", "\x0c", "\x1b", "\x85", "\u2028", "\u2029"])
WORD = st.from_regex(r"[a-z][a-z0-9-]{0,5}", fullmatch=True)
TAIL = st.from_regex(r"[a-z0-9-]{0,5}", fullmatch=True)
BAD_NAMES = st.builds(lambda a, c, b: a + c + b, WORD, CONTROL, st.one_of(st.just(""), TAIL))  # "" : at the end


def _quoted(text: str) -> str:
    """`text` as a YAML double-quoted scalar, every character outside a plain word escaped (DEL or NEL raw in the
    file would be a YAML error of its own, TG001, not the name check under test)."""
    return '"' + "".join(c if c.isascii() and (c.isalnum() or c in "_.:/-") else f"\\u{ord(c):04x}" if ord(c) < 0x10000
                         else f"\\U{ord(c):08x}" for c in text) + '"'


def _codes(text: str) -> set[str]:
    result = checked(text)
    assert not result.ok
    return {d.code for d in result.report if d.is_error}


@FUZZ
@given(BAD_NAMES, st.sampled_from(["lab", "node", "interface", "bridge", "link end", "mac"]))
@example("red\n", "node")
@example("veth-red\n", "interface")
@example("v-net-0\n", "bridge")
@example("seed\n", "lab")
@example("e\u2028", "link end")
@example("02:00:00:00:00:01\n", "mac")
def test_control_characters_in_names_are_refused_by_check(name: str, where: str) -> None:
    q = _quoted(name)
    text = {
        "lab": f"lab: {q}\nnodes: {{red: {{}}}}\n",
        "node": f"nodes:\n  {q}: {{interfaces: {{e: 10.0.0.1/24}}}}\n  b: {{interfaces: {{e: 10.0.0.2/24}}}}\n"
                f"links: [[{_quoted(name + ':e')}, b:e]]\n",
        "interface": f"nodes:\n  a: {{interfaces: {{{q}: 10.0.0.1/24}}}}\n  b: {{}}\nlinks: [[{_quoted('a:' + name)}, b:e]]\n",
        "bridge": f"nodes:\n  a: {{bridges: {{{q}: 10.0.0.1/24}}}}\n  b: {{}}\nlinks: [[{_quoted(name + ':p')}, b:e]]\n",
        "link end": "nodes:\n  a: {}\n  b: {}\nlinks: [[" + _quoted("a:" + name) + ", b:e]]\n",
        "mac": f"nodes:\n  a: {{interfaces: {{e: {{mac: {q}}}}}}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n",
    }[where]
    want = {"lab": "TG100", "node": "TG100", "mac": "TG207"}.get(where, "TG106")
    assert want in _codes(text)


@CLI_FUZZ
@given(BAD_NAMES, st.sampled_from(["compile", "apply", "status", "destroy", "verify", "exec"]))
@example("t1-\n", "compile")
@example("t1-\n", "apply")
def test_control_characters_in_a_sandbox_prefix_are_refused(name: str, command: str) -> None:
    from topograph import kernel_names

    assert kernel_names.prefix_problem(name) is not None
    with pytest.raises(ValueError):
        kernel_names.netns_name("red", name)
    with pytest.raises(ValueError):
        kernel_names.netns_name(name)
    seed = str(SAMPLES[0].parent / "06-port-forward.yml")
    tail = ["red", "--", "true"] if command == "exec" else []
    result = CliRunner().invoke(main, [command, "--sandbox", name, seed, *tail])
    assert result.exit_code == 2, result.output  # a usage error, before anything is read or touched
    assert result.stdout == ""
    assert "--sandbox" in result.stderr and "Traceback" not in result.stderr


# -- services (run:): a name is a file name, a command shell text (tabs and newlines are its own) ------------------

@FUZZ
@given(WORD, CONTROL, TAIL, st.sampled_from(["name", "command"]))
@example("sleep", "\x00", " 100", "command")  # passed check, then apply failed at its last step: embedded null byte
@example("web", "\n", "", "name")
@example("python3", "\x1b", "[31m", "command")
def test_control_characters_in_services_are_refused_by_check(head: str, c: str, tail: str, where: str) -> None:
    entry = f"{{name: {_quoted(head + c + tail)}, cmd: sleep}}" if where == "name" else \
        f"{{name: svc, cmd: {_quoted(head + ' ' + c + tail)}}}"
    text = f"nodes:\n  a:\n    run: [{entry}]\n"
    result = checked(text)
    command = head + " " + c + tail
    if where == "command" and (c in "\t\n" or (not tail and c.isspace())):
        # shell text keeps tabs and newlines; white space at the end is trimmed: what runs holds no control character
        assert result.ok, [d.message for d in result.report]
        assert result.topology is not None
        [service] = result.topology.node("a").services
        assert service.cmd == command.strip()
    else:
        assert {d.code for d in result.report if d.is_error} == {"TG606" if where == "name" else "TG607"}


# -- names from the command line: one line on stderr, whatever control character they hold ------------------------

@CLI_FUZZ
@given(BAD_NAMES, st.sampled_from(["trace-src", "trace-dst", "fail", "logs-node", "logs-service", "capture-node",
                                   "capture-interface", "exec-node", "scan-netns", "destroy-lab"]))
@example("blue\n", "scan-netns")  # 'no namespace blue' and ' in /run/netns' on two lines
@example("blue\n", "logs-service")
def test_control_characters_in_command_line_names_give_one_line(name: str, where: str) -> None:
    from topograph.cli import live as live_command

    seed = str(SAMPLES[0].parent / "15-seed-web.yml")
    args = {
        "trace-src": ["trace", seed, name, "blue"],
        "trace-dst": ["trace", seed, "red", name],
        "fail": ["reach", seed, "--fail", name],
        "logs-node": ["logs", "--sandbox", "fz-", seed, name],
        "logs-service": ["logs", "--sandbox", "fz-", seed, f"blue:{name}"],
        "capture-node": ["capture", "--sandbox", "fz-", seed, f"{name}:eth0"],
        "capture-interface": ["capture", "--sandbox", "fz-", seed, f"blue:{name}"],
        "exec-node": ["exec", "--sandbox", "fz-", seed, name, "--", "true"],
        "scan-netns": ["scan", "--netns", name],
        "destroy-lab": ["destroy", "--lab", name],
    }[where]
    with pytest.MonkeyPatch.context() as mp:  # no namespace is read or entered: every name here is refused first
        mp.setattr(live_command, "privilege_problem", lambda: None)
        mp.setattr("topograph.scan.targets.list_netns", lambda: {"red"})
        result = CliRunner().invoke(main, args)
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("topograph: ") and "Traceback" not in result.stderr, result.stderr
    assert all(line.startswith(("topograph: ", "  hint: ")) for line in lines), result.stderr


# -- netem values: numbers, units, white space and control characters ---------------------------------------------

_UNITS = {"delay": ["us", "ms", "s"], "jitter": ["us", "ms", "s"], "rate": ["bit", "kbit", "mbit", "gbit", "bps", "kbps"],
          "loss": ["%"], "duplicate": ["%"], "reorder": ["%"], "corrupt": ["%"]}
DECIMAL = st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 10**6), st.from_regex(r"[0-9]{1,12}", fullmatch=True))
NUMBER = st.one_of(st.integers(0, 10**12).map(str), DECIMAL,
                   st.sampled_from(["1e3", "-1", "nan", "inf", "\u0665", "\uff15", "1_0", "99.9999999", "0.0000005",
                                    "9" * 400, "4294967295", "34359738360"]))
SPACE = st.sampled_from(["", "", " ", "\t", "\n", "\r", "\x00", "\x0b", "\u2028", "\x1b"])


@FUZZ
@given(st.sampled_from(list(_UNITS)), st.data())
@example("delay", None)  # "50ms\n": white space around a value is tolerated, and tc is given the value alone
@example("loss", None)  # "99.9999999%" passed as less than 100% and reached tc as 'loss 100%' (TG702's case)
def test_netem_values_are_refused_or_reach_tc_as_a_clean_number_in_range(field: str, data: st.DataObject | None) -> None:
    from topograph.front.netem import MAX_RATE_BIT, MAX_TIME_US, parse_percent, parse_rate, parse_time

    if data is None:
        value: Any = {"delay": "50ms\n", "loss": "99.9999999%"}[field]
    else:
        value = data.draw(st.one_of(
            st.builds(lambda a, n, s, u, b: a + n + s + u + b, SPACE, NUMBER, st.sampled_from(["", "", " "]),
                      st.sampled_from(_UNITS[field] + ["", "MS", "ms\x00"]), SPACE),
            st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=8)))
    extra = {"delay": "10ms"} if field in ("jitter", "reorder") else {}
    netem = "{" + ", ".join(f"{k}: {_quoted(v) if isinstance(v, str) else v}" for k, v in {field: value, **extra}.items()) + "}"
    result = checked(f"nodes:\n  a: {{}}\n  b: {{}}\nlinks:\n  - ends: [a:e, b:e]\n    netem: {netem}\n")
    if not result.ok:
        assert {d.code for d in result.report if d.is_error} <= {"TG011", "TG700", "TG702"}, list(result.report)
        return
    assert result.topology is not None
    [end] = [i for i in result.topology.node("a").interfaces if i.name == "e"]
    set_ = end.netem
    if set_ is None:  # zero: nothing to set
        return
    words = set_.tc_words()
    assert words.isascii() and words.isprintable(), words
    for name, text in zip(words.split()[::2], words.split()[1::2], strict=False):  # what tc reads back means the same
        if name == "delay":
            assert parse_time(text) == set_.delay_us <= MAX_TIME_US
        elif name == "rate":
            assert parse_rate(text) == set_.rate_bit <= MAX_RATE_BIT
        else:
            assert parse_percent(text) == pytest.approx(dict(set_.percents())[name], abs=1e-6)
            assert name != "loss" or text != "100%"  # TG702: a link that passes nothing is written up: false
