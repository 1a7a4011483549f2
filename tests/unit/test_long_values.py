"""A long value (a 5,000-character name, address or command-line argument) is shown by its start in a message,
never repeated whole: every line topograph writes about it stays readable."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLES
from topograph.cli import main
from topograph.front.quoting import QUOTE_MAX, quote
from topograph.pipeline import check_text

#: No line of a diagnostic, a hint or a one-line CLI error may be longer than this, whatever value it quotes
#: (the longest line of the golden error logs is 263 characters, quoting short values).
LINE_MAX = 400

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI_FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# long values: a run of one name-like word, or any text at all (control characters, quotes and wide characters
# included); long enough that a value repeated whole breaks LINE_MAX
LONG = st.one_of(
    st.builds(lambda w, n: (w * n)[: max(LINE_MAX + 1, len(w))], st.from_regex(r"[a-z][a-z0-9.-]{0,9}", fullmatch=True),
              st.integers(LINE_MAX, 6000)),
    st.text(min_size=LINE_MAX + 1, max_size=3000).filter(lambda s: "\x00" not in s),
)
PLACES = ["lab", "node", "interface", "bridge", "link end", "link node", "mac", "address", "route", "unknown key",
          "key under node", "expect to", "expect from", "listen", "port", "netem", "via", "dev", "nat out", "filter in",
          "forward to", "service name", "expect through"]


def _yaml(text: str) -> str:
    """`text` as a YAML double-quoted scalar: every character outside a plain word escaped."""
    return '"' + "".join(c if c.isascii() and (c.isalnum() or c in "_.:/-") else f"\\u{ord(c):04x}" if ord(c) < 0x10000
                         else f"\\U{ord(c):08x}" for c in text) + '"'


def document(value: str, place: str) -> str:
    """A small topology with `value` at `place`. Keys are explicit (`? KEY`): YAML caps implicit keys at 1024."""
    v = _yaml(value)
    return {
        "lab": f"lab: {v}\nnodes: {{a: {{}}}}\n",
        "node": f"nodes:\n  ? {v}\n  : {{interfaces: {{e: 10.0.0.1/24}}}}\n  b: {{interfaces: {{e: 10.0.0.2/24}}}}\n"
                f"links: [[{_yaml(value + ':e')}, b:e]]\n",
        "interface": f"nodes:\n  a:\n    interfaces:\n      ? {v}\n      : 10.0.0.1/24\n  b: {{}}\n"
                     f"links: [[{_yaml('a:' + value)}, b:e]]\n",
        "bridge": f"nodes:\n  a:\n    bridges:\n      ? {v}\n      : 10.0.0.1/24\n  b: {{}}\n"
                  f"links: [[{_yaml(value + ':p')}, b:e]]\n",
        "link end": f"nodes: {{a: {{}}, b: {{}}}}\nlinks: [[{v}, b:e]]\n",
        "link node": f"nodes: {{a: {{}}, b: {{}}}}\nlinks: [[{_yaml(value + ':e')}, b:e]]\n",
        "mac": f"nodes:\n  a: {{interfaces: {{e: {{mac: {v}}}}}}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n",
        "address": f"nodes:\n  a: {{interfaces: {{e: {v}}}}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n",
        "route": f"nodes:\n  a: {{interfaces: {{e: 10.0.0.1/24}}, routes: [{{to: {v}, dev: e}}]}}\n  b: {{}}\n"
                 "links: [[a:e, b:e]]\n",
        "unknown key": f"nodes:\n  a:\n    ? {v}\n    : 1\n",
        "key under node": f"nodes:\n  ? {v}\n  : {{colour: red, interfaces: {{e: {{}}}}}}\n",
        "expect to": f"nodes: {{a: {{}}, b: {{}}}}\nexpect: [{{from: a, to: {v}}}]\n",
        "expect from": f"nodes: {{a: {{}}, b: {{}}}}\nexpect: [{{from: {v}, to: b}}]\n",
        "listen": f"nodes: {{a: {{listen: [{v}]}}}}\n",
        "port": f"nodes:\n  a:\n    filter: {{input: {{rules: [{{proto: tcp, dport: {v}, action: drop}}]}}}}\n",
        "netem": f"nodes:\n  a: {{interfaces: {{e: {{netem: {{delay: {v}}}}}}}}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n",
        "via": f"nodes:\n  a: {{interfaces: {{e: 10.0.0.1/24}}, routes: [{{to: default, via: {v}}}]}}\n  b: {{}}\n"
               "links: [[a:e, b:e]]\n",
        "dev": f"nodes:\n  a: {{interfaces: {{e: 10.0.0.1/24}}, routes: [{{to: default, dev: {v}}}]}}\n  b: {{}}\n"
               "links: [[a:e, b:e]]\n",
        "nat out": f"nodes:\n  a: {{forwarding: true, interfaces: {{e: 10.0.0.1/24}},\n"
                   f"      nat: [{{masquerade: 10.1.0.0/16, out: {v}}}]}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n",
        "filter in": f"nodes:\n  a:\n    filter: {{input: {{rules: [{{in: {v}, action: drop}}]}}}}\n",
        "forward to": f"nodes:\n  a: {{forwarding: true, interfaces: {{e: 10.0.0.1/24}},\n"
                      f"      port_forwards: [{{port: 80, to: {v}}}]}}\n  b: {{}}\nlinks: [[a:e, b:e]]\n",
        "service name": f"nodes:\n  a: {{run: [{{name: {v}, cmd: sleep 1}}]}}\n",
        "expect through": f"nodes:\n  ? {v}\n  : {{}}\n  b: {{}}\nexpect: [{{from: b, to: {_yaml(value + ':80')}}}]\n",
    }[place]


def lines_of_check(text: str) -> list[str]:
    result = check_text(text, "x.yml")
    assert not result.ok, "a long value must be an error somewhere"
    return [line for d in result.report for line in d.render().splitlines()]


def test_quote_keeps_short_values_as_repr_and_shortens_long_ones() -> None:
    assert quote("red") == "'red'"
    assert quote("it's") == '"it\'s"'
    assert quote("red\n") == "'red\\n'"
    assert quote(80) == "80"
    assert quote("a" * QUOTE_MAX) == repr("a" * QUOTE_MAX)
    assert quote("a" * 5000) == "'" + "a" * 32 + "…' (5,000 characters)"
    assert quote("\n" * 500) == "'" + "\\n" * 16 + "…' (500 characters)"  # escapes count: the start stays short
    assert quote(10**200).endswith("… (201 characters)")


@FUZZ
@given(LONG, st.sampled_from(PLACES))
@example("a" * 5000, "node")
@example("a" * 5000, "key under node")
@example("x" * 500 + "\n", "lab")
def test_no_diagnostic_line_repeats_a_long_value(value: str, place: str) -> None:
    lines = lines_of_check(document(value, place))
    too_long = [line[:120] + f"... ({len(line)})" for line in lines if len(line) > LINE_MAX]
    assert not too_long, too_long


@pytest.mark.parametrize("place", PLACES)
def test_a_long_value_is_named_by_its_start_and_length(place: str) -> None:
    value = "a" * 5000
    lines = lines_of_check(document(value, place))
    assert any("…' (5,0" in line for line in lines), lines  # 5,000 or 5,002 characters (a link end, 'a…:e')
    assert all(value[:100] not in line for line in lines), [line[:100] for line in lines]


# -- the command line: one line, whatever the length -------------------------------------------------------------

SEED = str(SAMPLES[0].parent / "15-seed-web.yml")


def _cli_args(value: str, where: str) -> list[str]:
    return {
        "sandbox-exec": ["exec", "--sandbox", value, SEED, "red", "--", "true"],
        "sandbox-apply": ["apply", "--sandbox", value, SEED],
        "destroy-lab": ["destroy", "--lab", value],
        "scan-lab": ["scan", "--lab", value, "--netns", "red"],
        "scan-netns": ["scan", "--netns", value],
        "trace-src": ["trace", SEED, value, "blue"],
        "trace-dst": ["trace", SEED, "red", value],
        "fail": ["reach", SEED, "--fail", value],
        "exec-node": ["exec", "--sandbox", "lv-", SEED, value, "--", "true"],
        "logs-node": ["logs", "--sandbox", "lv-", SEED, value],
        "logs-service": ["logs", "--sandbox", "lv-", SEED, f"blue:{value}"],
        "capture-node": ["capture", "--sandbox", "lv-", SEED, f"{value}:eth0"],
        "capture-interface": ["capture", "--sandbox", "lv-", SEED, f"blue:{value}"],
        "command": ["--", value],  # after '--': a command name even when it starts with '-'
    }[where]


def cli_lines(value: str, where: str) -> list[str]:
    from topograph.cli import live as live_command

    with pytest.MonkeyPatch.context() as mp:  # nothing is read from or done to the kernel: each value is refused first
        mp.setattr(live_command, "privilege_problem", lambda: None)
        mp.setattr("topograph.scan.targets.list_netns", lambda: {"red"})
        result = CliRunner().invoke(main, _cli_args(value, where))
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result.stderr.splitlines()


def test_a_long_sandbox_prefix_is_shown_by_its_start() -> None:
    lines = cli_lines("a" * 5000, "sandbox-exec")
    assert lines[-1] == ("Error: Invalid value for '--sandbox': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…' (5,000 characters) "
                         "is too long; keep it to 16 (e.g. 'tg1-')"), lines


def test_a_long_lab_name_is_shown_by_its_start(tmp_path: Path) -> None:
    lines = cli_lines("b" * 5000, "destroy-lab")
    assert lines[0].startswith("topograph: --lab 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb…' (5,000 characters) is not a lab name"), lines
    assert all(len(line) <= LINE_MAX for line in lines), lines


@CLI_FUZZ
@given(LONG, st.sampled_from(["sandbox-exec", "sandbox-apply", "destroy-lab", "scan-lab", "scan-netns", "trace-src", "trace-dst",
                              "fail", "exec-node", "logs-node", "logs-service", "capture-node", "capture-interface",
                              "command"]))
def test_no_command_line_error_repeats_a_long_value(value: str, where: str) -> None:
    lines = cli_lines(value, where)
    assert lines
    too_long = [line[:120] + f"... ({len(line)})" for line in lines if len(line) > LINE_MAX]
    assert not too_long, too_long


def test_a_length_is_said_once() -> None:
    """A value quote() shows with its length is only 'too long'; one it shows whole says how long it is."""
    from topograph.front.quoting import QUOTE_MAX, length_of, quote

    assert length_of("a" * 45) == "is 45 characters long" and "characters)" not in quote("a" * 45)
    assert length_of("a" * 5000) == "is too long" and quote("a" * 5000).endswith("(5,000 characters)")
    edge = "a" * QUOTE_MAX  # the longest value quote() shows whole
    assert quote(edge) == repr(edge) and length_of(edge) == f"is {QUOTE_MAX} characters long"
    assert length_of(edge + "a") == "is too long"


def test_an_unknown_command_is_shown_by_its_start() -> None:
    assert cli_lines("z" * 300, "command")[-1] == "Error: No such command 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz…' (300 characters)."
    assert cli_lines("chek", "command")[-1] == "Error: No such command 'chek'."  # a short one as click says it
