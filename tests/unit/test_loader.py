"""The YAML loader: plain data, positions of keys and values, and the YAML features it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from topograph.front.diagnostics import Pos, Report
from topograph.front.loader import MAX_DEPTH, Source, load_file, load_text

TEXT = """\
lab: demo
nodes:
  red:
    interfaces: {veth-red: 192.168.15.1/24}
  blue:
    interfaces:
      veth-blue: [192.168.15.2/24, "fd00::2/64"]
links:
  - [red:veth-red, blue:veth-blue]
"""


def load(text: str) -> tuple[Source | None, Report]:
    report = Report()
    return load_text(text, "t.yml", report), report


def codes(report: Report) -> list[str]:
    return [d.code for d in report]


def test_plain_data() -> None:
    src, report = load(TEXT)
    assert src is not None and not report.items
    assert src.data == {
        "lab": "demo",
        "nodes": {"red": {"interfaces": {"veth-red": "192.168.15.1/24"}},
                  "blue": {"interfaces": {"veth-blue": ["192.168.15.2/24", "fd00::2/64"]}}},
        "links": [["red:veth-red", "blue:veth-blue"]],
    }


@pytest.mark.parametrize(("path", "line", "col"), [
    ((), 1, 1),
    (("lab",), 1, 6),
    (("nodes", "red"), 4, 5),
    (("nodes", "red", "interfaces", "veth-red"), 4, 28),
    (("nodes", "blue", "interfaces", "veth-blue", 1), 7, 36),
    (("links", 0), 9, 5),
    (("links", 0, 1), 9, 20),
])
def test_value_positions(path: tuple[str | int, ...], line: int, col: int) -> None:
    src, _ = load(TEXT)
    assert src is not None
    assert src.values[path] == Pos("t.yml", line, col)


@pytest.mark.parametrize(("path", "line", "col"), [
    (("lab",), 1, 1),
    (("nodes",), 2, 1),
    (("nodes", "blue"), 5, 3),
    (("nodes", "red", "interfaces", "veth-red"), 4, 18),
    (("nodes", "blue", "interfaces", "veth-blue"), 7, 7),
])
def test_key_positions(path: tuple[str | int, ...], line: int, col: int) -> None:
    src, _ = load(TEXT)
    assert src is not None
    assert src.keys[path] == Pos("t.yml", line, col)
    assert src.pos(path, key=True) == Pos("t.yml", line, col)


def test_pos_falls_back_to_nearest_written_ancestor() -> None:
    src, _ = load(TEXT)
    assert src is not None
    # 'mtu' was never written: the interface's value is the nearest place
    assert src.pos(("nodes", "red", "interfaces", "veth-red", "mtu")) == Pos("t.yml", 4, 28)
    assert src.pos(("nowhere", 3)) == Pos("t.yml", 1, 1)


def test_duplicate_keys_are_reported_with_both_places() -> None:
    src, report = load("nodes:\n  red: {}\n  blue: {}\n  red: {kind: host}\n")
    assert codes(report) == ["TG002"]
    (d,) = report
    assert d.pos == Pos("t.yml", 4, 3)
    assert "'red'" in d.message and "line 2" in d.message
    assert src is not None and src.data["nodes"]["red"] == {}  # the first one is kept


def test_duplicate_keys_on_one_line_name_the_column() -> None:
    _, report = load("nodes: {red: {}, red: {}}\n")
    (d,) = report
    assert d.code == "TG002" and "column 9 of the same line" in d.message


def test_duplicate_keys_in_nested_mappings_each_reported() -> None:
    _, report = load("a: {x: 1, x: 2}\nb:\n  y: 1\n  y: 2\n")
    assert [(d.code, d.pos.line) for d in report] == [("TG002", 1), ("TG002", 4)]


@pytest.mark.parametrize("text", [
    "nodes: !custom {}\n",
    "nodes: {red: !!binary aGVsbG8=}\n",
    "nodes: !!set {red}\n",
    "nodes: {red: !!python/object:os.system {}}\n",
    "nodes: !!omap [{red: 1}]\n",
])
def test_tags_are_refused(text: str) -> None:
    _, report = load(text)
    assert "TG003" in codes(report)
    assert all("tag:yaml.org" not in d.message for d in report)  # shown as written: !!binary


def test_standard_tags_on_plain_values_are_allowed() -> None:
    src, report = load('a: !!str 5\nb: !!int "7"\nc: !!map {x: 1}\nd: !!seq [1]\n')
    assert not report.items
    assert src is not None and src.data == {"a": "5", "b": 7, "c": {"x": 1}, "d": [1]}


def test_merge_key_refused() -> None:
    _, report = load("base: &b {kind: host}\nnodes:\n  red:\n    <<: *b\n")
    (d,) = report
    assert d.code == "TG003" and d.pos == Pos("t.yml", 4, 5) and "merge" in d.message


def test_complex_key_refused() -> None:
    _, report = load("? [a, b]\n: 1\n")
    assert codes(report) == ["TG003"]


def test_small_aliases_are_expanded() -> None:
    src, report = load("a: &x [1, 2]\nb: *x\n")
    assert not report.items
    assert src is not None and src.data == {"a": [1, 2], "b": [1, 2]}


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    _, report = load("\n".join(lines) + "\n")
    assert codes(report) == ["TG003"]
    assert "aliases" in next(iter(report)).message


def test_recursive_alias_does_not_hang() -> None:
    _, report = load("a: &a [*a]\n")
    (d,) = report
    assert d.code == "TG005" and d.pos == Pos("t.yml", 1, 8) and "*a" in d.message


@pytest.mark.parametrize(("text", "line", "col"), [
    ("nodes:\n  red: {interfaces: {a: b}\n  blue: {}\n", 3, 3),
    ("nodes: [a, b\n", 2, 1),
    ('lab: "open\n', 2, 1),
    ("a: b: c\n", 1, 5),
])
def test_syntax_errors(text: str, line: int, col: int) -> None:
    src, report = load(text)
    assert src is None
    (d,) = report
    assert d.code == "TG001" and (d.pos.line, d.pos.col) == (line, col)
    assert d.hint


def test_unclosed_bracket_names_where_it_opened() -> None:
    _, report = load("nodes:\n  red: {interfaces: {a: b}\n  blue: {}\n")
    assert "line 2, column 8" in next(iter(report)).message


def test_tab_indentation_is_named() -> None:
    _, report = load("nodes:\n\tred: {}\n")
    (d,) = report
    assert d.code == "TG001" and "tab" in d.message and "spaces" in (d.hint or "")


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "---\n"])
def test_empty_documents(text: str) -> None:
    src, report = load(text)
    assert src is None and codes(report) == ["TG001"]
    assert "empty" in next(iter(report)).message


def test_several_documents_are_a_syntax_error() -> None:
    src, report = load("nodes: {}\n---\nnodes: {}\n")
    assert src is None and codes(report) == ["TG001"]


@pytest.mark.parametrize(("text", "value"), [
    ("v: 52:54:00:12:34:56\n", "52:54:00:12:34:56"),  # YAML 1.1 would read a base-60 integer
    ("v: 2024-01-01\n", "2024-01-01"),  # ... and a date
    ("v: 190:20:30.15\n", "190:20:30.15"),  # ... and a base-60 float
    ("v: 0x1F\n", 31),
    ("v: 1_000\n", 1000),
    ("v: yes\n", True),
    ("v: ~\n", None),
    ("v: 1.5\n", 1.5),
])
def test_scalars(text: str, value: object) -> None:
    src, report = load(text)
    assert not report.items and src is not None
    assert src.data["v"] == value


@pytest.mark.parametrize(("text", "key"), [("null: 1\n", "null"), ("yes: 1\n", "yes"), ("5: 1\n", "5"), ("~: 1\n", "~")])
def test_odd_keys_keep_their_text(text: str, key: str) -> None:
    src, report = load(text)
    assert not report.items and src is not None
    assert list(src.data) == [key]


def test_load_file_missing(tmp_path: Path) -> None:
    report = Report()
    assert load_file(tmp_path / "nope.yml", report) is None
    (d,) = report
    assert d.code == "TG000" and d.pos == Pos(str(tmp_path / "nope.yml"), 1, 1)
    assert "No such file" in d.message


def test_load_file_directory(tmp_path: Path) -> None:
    report = Report()
    assert load_file(tmp_path, report) is None
    assert codes(report) == ["TG000"]


def test_load_file_not_utf8_points_at_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("lab: x\nnodes:\n  café: {}\n".encode("latin-1"))
    report = Report()
    assert load_file(path, report) is None
    (d,) = report
    assert d.code == "TG000" and (d.pos.line, d.pos.col) == (3, 6) and "0xe9" in d.message


def test_load_file_reads_utf8(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text("description: Zürich → 東京\nnodes: {}\n", encoding="utf-8")
    report = Report()
    src = load_file(path, report)
    assert src is not None and src.data["description"] == "Zürich → 東京" and src.file == str(path)


def _paths(data: object, path: tuple[str | int, ...] = ()) -> tuple[set[tuple[str | int, ...]], set[tuple[str | int, ...]]]:
    """Every path of plain data: (all values, the values that sit under a mapping key)."""
    values, keyed = {path}, set()
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for step, child in items:
        v, k = _paths(child, (*path, step))
        values |= v
        keyed |= k
        if isinstance(data, dict):
            keyed.add((*path, step))
    return values, keyed


_names = st.text("abcxyz-_.0123456789", min_size=1, max_size=6)
_docs = st.recursive(st.one_of(_names, st.integers(-5, 500), st.booleans(), st.none()),
                     lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_names, inner, max_size=4)),
                     max_leaves=25)


@given(_docs.filter(lambda d: d is not None), st.booleans())
@settings(max_examples=200, deadline=None)
def test_the_places_found_on_demand_are_the_data_s_paths(data: object, flow: bool) -> None:
    """Positions are indexed lazily from the YAML nodes; the index must name exactly the data's paths,
    each key at the line where `key:` is written."""
    text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False, width=10_000)
    source = load_text(text, "t.yml", Report())
    assert source is not None and source.data == data
    values, keyed = _paths(source.data)
    assert set(source.values) == values and set(source.keys) == keyed
    lines = text.splitlines()
    for path in keyed:
        pos = source.keys[path]
        assert lines[pos.line - 1][pos.col - 1:].lstrip("'\"").startswith(str(path[-1]))


# -- nesting depth: libyaml composes recursively in C, so the depth is bounded while composing --------

def _depth(data: object) -> int:
    """Levels of plain data, the top level being 1 (as the loader counts them)."""
    if isinstance(data, dict):
        return 1 + max((_depth(v) for v in data.values()), default=0)
    if isinstance(data, list):
        return 1 + max((_depth(v) for v in data), default=0)
    return 1


def _flow_chain(maps: list[bool], above: int) -> tuple[str, int, tuple[int, int] | None]:
    """`above` lines of a lab, then `deep: ` with one flow collection per entry of `maps` ({k: ..} or
    [..]) around a scalar. Returns the text, the depth of the data and where the first value deeper
    than MAX_DEPTH starts (line, column), worked out from the layout rather than from the parser."""
    head = [f"n{i}: {{interfaces: {{e: 10.0.{i}.1/24}}}}" for i in range(above)]
    line = len(head) + 1
    col, depth, first_deep = len("deep: ") + 1, 2, None  # the root mapping is level 1, its values level 2
    for is_map in maps:  # each opener is a value at `depth`; a mapping's key sits one level deeper, after it
        if depth > MAX_DEPTH and first_deep is None:
            first_deep = (line, col)
        if is_map and depth + 1 > MAX_DEPTH and first_deep is None:
            first_deep = (line, col + 1)
        col += len("{k: ") if is_map else len("[")
        depth += 1
    if depth > MAX_DEPTH and first_deep is None:
        first_deep = (line, col)  # the scalar at the bottom
    text = "\n".join([*head, "deep: " + "".join("{k: " if m else "[" for m in maps) + "x"
                       + "".join("}" if m else "]" for m in reversed(maps)), ""])
    return text, depth, first_deep


@given(st.integers(MAX_DEPTH - 8, MAX_DEPTH + 8).flatmap(lambda n: st.lists(st.booleans(), min_size=n, max_size=n)),
       st.integers(0, 3))
@settings(max_examples=150, deadline=None)
def test_depth_around_the_limit_in_flow_style(maps: list[bool], above: int) -> None:
    text, depth, first_deep = _flow_chain(maps, above)
    src, report = load(text)
    if first_deep is None:
        assert depth <= MAX_DEPTH and not report.items
        assert src is not None and _depth(src.data) == depth
    else:
        (d,) = report
        assert d.code == "TG005" and (d.pos.line, d.pos.col) == first_deep, (d, first_deep)
        assert f"more than {MAX_DEPTH} levels" in d.message


@given(st.integers(MAX_DEPTH - 5, MAX_DEPTH + 5), st.integers(1, 3), st.booleans())
@settings(max_examples=60, deadline=None)
def test_depth_around_the_limit_in_block_style(n: int, indent: int, dashes: bool) -> None:
    """n levels of block collections (`k:` mappings, or `- ` sequences), each indented by `indent` more."""
    lines = []
    for i in range(n - 1):
        pad = " " * (indent * i)
        lines.append(pad + ("-" if dashes else "k:"))
    lines.append(" " * (indent * (n - 1)) + ("- x" if dashes else "k: x"))
    src, report = load("\n".join(lines) + "\n")
    depth = n + 1  # n collections and the scalar at the bottom
    if depth <= MAX_DEPTH:
        assert not report.items and src is not None and _depth(src.data) == depth
    else:
        (d,) = report
        assert d.code == "TG005" and (d.pos.line, d.pos.col) == _first_block_deep(n, indent, dashes), d


def _first_block_deep(n: int, indent: int, dashes: bool) -> tuple[int, int]:
    """Where the first value deeper than MAX_DEPTH starts in that layout (n > MAX_DEPTH - 1 levels).

    Line i holds a collection at level i. A mapping's key on line i is at level i + 1, at the line's
    indentation. A sequence's item on line i is the collection of line i + 1, or the scalar after `- `
    on the last line."""
    if not dashes:
        return MAX_DEPTH, indent * (MAX_DEPTH - 1) + 1
    if n == MAX_DEPTH:
        return MAX_DEPTH, indent * (MAX_DEPTH - 1) + 3
    return MAX_DEPTH + 1, indent * MAX_DEPTH + 1


@given(st.lists(st.integers(1, 40), min_size=1, max_size=8))
@settings(max_examples=100, deadline=None)
def test_aliases_that_nest_data_deeper_than_the_limit_are_refused(levels: list[int]) -> None:
    """Each anchored value wraps the previous alias in `k` lists: the text stays shallow, the data does not."""
    lines, inner = [], "x"
    for i, k in enumerate(levels):
        lines.append(f"a{i}: &a{i} " + "[" * k + inner + "]" * k)
        inner = f"*a{i}"
    src, report = load("\n".join(lines) + "\n")
    depth = 2 + sum(levels)  # the last value holds every level of the chain, then the scalar
    if depth <= MAX_DEPTH:
        assert not report.items and src is not None and _depth(src.data) == depth
    else:
        (d,) = report
        assert d.code == "TG005" and "aliases" in d.message


def test_alias_loop_is_named_at_the_alias() -> None:
    _, report = load("nodes: &n\n  red: {interfaces: {e: 10.0.0.1/24}}\n  blue: [1, *n]\n")
    (d,) = report
    assert d.code == "TG005" and d.pos == Pos("t.yml", 3, 13) and "*n is inside the collection &n" in d.message


@pytest.mark.parametrize("text", ["[" * 50_000 + "]" * 50_000, "a: " + "{a: " * 50_000 + "1" + "}" * 50_000])
def test_fifty_thousand_levels_are_refused_in_process(text: str) -> None:
    _, report = load(text + "\n")
    assert codes(report) == ["TG005"]
