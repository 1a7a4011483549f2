"""Read a topology file: YAML to plain data, keeping the line and column of every key and value."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from topograph.front import reader
from topograph.front.diagnostics import PathKey, Pos, Report
from topograph.front.quoting import quote

# A topology is fewer than ten levels deep (the root mapping is level 1, `nodes` 2, a node 3, its
# interfaces 4...). libyaml composes recursively in C and overflows the stack on a document tens of
# thousands of levels deep (a segfault, no message), so composing stops at this depth.
MAX_DEPTH = 100


@dataclass(frozen=True)
class Source:
    """Plain data from a YAML document plus where each part of it was written."""

    file: str
    data: Any
    values: Mapping[PathKey, Pos]
    keys: Mapping[PathKey, Pos]

    def pos(self, path: PathKey, *, key: bool = False) -> Pos:
        """The position of `path`, or of its nearest written ancestor."""
        table = self.keys if key else self.values
        found = table.get(path) or self.values.get(path)  # the common case: the exact place was written
        if found is not None:
            return found
        for cut in range(len(path) - 1, -1, -1):  # else its nearest written ancestor
            prefix = path[:cut]
            found = table.get(prefix) or self.values.get(prefix)  # a Pos is never false
            if found is not None:
                return found
        return Pos(self.file, 1, 1)


def _mark(file: str, node: yaml.Node) -> Pos:
    return Pos(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Index:
    """Where each path of the document was written, found by walking the composed YAML nodes the first
    time anything asks. A clean file asks for nothing (the model looks positions up lazily), and
    recording the ~160,000 places of a big lab up front cost a fifth of loading it."""

    def __init__(self, file: str, root: yaml.Node) -> None:
        self.file = file
        self._root: yaml.Node | None = root
        self.values: dict[PathKey, Any] = {}  # path -> the parser's mark
        self.keys: dict[PathKey, Any] = {}

    def ready(self) -> _Index:
        if self._root is not None:
            root, self._root = self._root, None
            self._walk(root, ())
        return self

    def _walk(self, node: yaml.Node, path: PathKey) -> None:
        """The paths the data has, as _Walker makes it: the first of duplicate keys, no merge keys,
        nothing below a value with an unsupported tag."""
        self.values[path] = node.start_mark
        if node.tag not in _PLAIN_TAGS[type(node)]:
            return
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = _key_text(key_node)
                child = (*path, key) if key is not None else None
                if child is None or child in self.keys:
                    continue
                self.keys[child] = key_node.start_mark
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))


class _Marks(Mapping[PathKey, Pos]):
    """One table of an `_Index` (the places of values, or of keys), made into `Pos` when asked for."""

    def __init__(self, index: _Index, keys: bool) -> None:
        self._index = index
        self._keys = keys

    @property
    def _marks(self) -> dict[PathKey, Any]:
        index = self._index.ready()
        return index.keys if self._keys else index.values

    def __getitem__(self, path: PathKey) -> Pos:
        mark = self._marks[path]
        return Pos(self._index.file, mark.line + 1, mark.column + 1)

    def __contains__(self, path: object) -> bool:
        return path in self._marks

    def get(self, path: PathKey, default: Pos | None = None) -> Pos | None:  # type: ignore[override]
        mark = self._marks.get(path)
        return default if mark is None else Pos(self._index.file, mark.line + 1, mark.column + 1)

    def __iter__(self) -> Iterator[PathKey]:
        return iter(self._marks)

    def __len__(self) -> int:
        return len(self._marks)


def _key_text(key_node: yaml.Node) -> str | None:
    """The key a mapping entry has in the data, or None when it has none (a merge key, or a key that is
    not a scalar: both reported by _Walker)."""
    if key_node.tag == _STR and type(key_node) is yaml.ScalarNode:
        return str(key_node.value)
    if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
        return None
    key = yaml.constructor.SafeConstructor().construct_object(key_node)  # rare (`1:`, `null:`): a fresh one each time
    if key is None or isinstance(key, bool):
        # `null:` or `yes:` as a key is almost always a slip; keep the text the user wrote
        key = key_node.value
    return str(key)


class _TooManyValues(Exception):
    """Aliases expand the document far beyond its text (a "billion laughs" document)."""

    def __init__(self, node: yaml.Node) -> None:
        super().__init__()
        self.node = node


class _TooDeep(Exception):
    """A value nested more than MAX_DEPTH levels deep: the node, or None when the composer found it."""

    def __init__(self, node: yaml.Node | None = None) -> None:
        super().__init__()
        self.node = node


class _Walker:
    def __init__(self, file: str, loader: yaml.SafeLoader, report: Report, budget: int) -> None:
        self.file = file
        self.loader = loader
        self.report = report
        # Without aliases every value costs at least a character of text, so a walk longer than
        # that can only come from aliases expanding exponentially; stop it instead of hanging.
        self.budget = budget
        # The composer bounds the document's depth; an alias can still put a deep collection deep
        # inside another (or inside itself), so the walk counts the levels of the data it makes.
        self.depth = 1

    def walk(self, node: yaml.Node) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _TooManyValues(node)
        tag = node.tag
        if tag == _STR and type(node) is yaml.ScalarNode:
            return node.value  # the most common value, first: what construct_object gives, without its bookkeeping
        if tag not in _PLAIN_TAGS[type(node)]:
            self.report.error(
                "TG003",
                _mark(self.file, node),
                f"YAML tag {quote(_tag_text(node.tag))} is not supported in a topology file",
                hint="remove the tag; topology files use plain YAML values only",
            )
            return None
        if isinstance(node, yaml.MappingNode):
            self._descend(node)
            try:
                return self._mapping(node)
            finally:
                self.depth -= 1
        if isinstance(node, yaml.SequenceNode):
            self._descend(node)
            try:
                return [self.walk(item) for item in node.value]
            finally:
                self.depth -= 1
        text = node.value
        if tag == _TIMESTAMP or (tag in _NUMBERS and ":" in text):
            # YAML 1.1 reads 2024-01-01 as a date and 52:54:00:12:34:56 as a base-60 number; a
            # topology means the text (a lab name, a MAC address), as YAML 1.2 would
            return text
        # the common plain scalars, as SafeConstructor reads them, without its bookkeeping
        if tag == _BOOL:
            return _BOOL_VALUES[text.lower()]
        if tag == _NULL:
            return None
        if tag == _INT and text.isascii() and text.isdigit() and (text[0] != "0" or text == "0") and len(text) < 1000:
            return int(text)  # plain decimal; 0x.., 0o.., 1_000, signs and huge numbers take the long way
        try:
            return self.loader.construct_object(node, deep=True)
        except ValueError:
            # an integer of thousands of digits (Python refuses to convert it): keep the text,
            # so the shape check reports it as a wrong value at its place
            return node.value

    def _descend(self, node: yaml.CollectionNode) -> None:
        """Enter a collection; its values are one level deeper than itself."""
        if self.depth >= MAX_DEPTH and node.value:
            first = node.value[0]
            raise _TooDeep(first[0] if isinstance(first, tuple) else first)
        self.depth += 1

    def _mapping(self, node: yaml.MappingNode) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            if key is None:
                self._no_key(key_node)
                continue
            if key in out:
                self._duplicate(node, key_node, key)
                continue
            out[key] = self.walk(value_node)
        return out

    def _no_key(self, key_node: yaml.Node) -> None:
        if key_node.tag == _MERGE:
            self.report.error("TG003", _mark(self.file, key_node), "YAML merge keys (<<) are not supported",
                              hint="write the keys out in full")
        else:
            self.report.error("TG003", _mark(self.file, key_node), "a mapping key must be a plain name",
                              hint="use a name such as 'red' or 'eth0' as the key")

    def _duplicate(self, node: yaml.MappingNode, key_node: yaml.Node, key: str) -> None:
        first = _mark(self.file, next(k for k, _ in node.value if _key_text(k) == key))
        here = _mark(self.file, key_node)
        where = f"column {first.col} of the same line" if first.line == here.line else f"line {first.line}"
        self.report.error("TG002", here, f"duplicate key {quote(key)} (first given at {where})",
                          hint="remove one of the two, or merge their contents")


_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_PLAIN_TAGS: dict[type[yaml.Node], set[str]] = {
    yaml.ScalarNode: _SCALAR_TAGS,
    yaml.MappingNode: {"tag:yaml.org,2002:map"},
    yaml.SequenceNode: {"tag:yaml.org,2002:seq"},
}


def _tag_text(tag: str) -> str:
    """A tag as the user wrote it: !!binary rather than tag:yaml.org,2002:binary."""
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NUMBERS = {_INT, "tag:yaml.org,2002:float"}
_BOOL_VALUES: dict[str, bool] = yaml.constructor.SafeConstructor.bool_values

# libyaml's parser when PyYAML was built with it (several times faster on big labs). Used as it is:
# a Python override of its tag resolution (a memo per scalar text) never paid: as slow or slower in
# every run measured (benchmarks/bench_choices.py; figures in benchmarks/README.md).
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type, misc]  # a base chosen at run time
    """The composer (libyaml's, or PyYAML's) with a depth bound.

    Both composers call descend_resolver before composing each node (not an alias) and
    ascend_resolver after it: the hooks of path resolvers, which safe loading has none of. Counting
    there bounds the composer's recursion inside the one pass libyaml makes anyway, where a depth count
    over the parser's events before composing would parse the document twice, and composing in Python
    from the events would give up libyaml's C composer.
    """

    _depth = 0

    def descend_resolver(self, current_node: yaml.Node | None, current_index: object) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooDeep()

    def ascend_resolver(self) -> None:
        self._depth -= 1


def _too_deep_at(text: str, file: str) -> Pos:
    """Where the first node deeper than MAX_DEPTH starts, found again from the parser's events (the
    composer's hook does not see positions); only ever run on a document already found too deep."""
    depth = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent) and depth + 1 > MAX_DEPTH:
            return _event_pos(file, event)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return Pos(file, 1, 1)  # not reached: the composer met the same events


def _alias_loop(text: str, file: str) -> tuple[Pos, str] | None:
    """The first alias written inside the collection it names (`a: &a [*a]`), which makes data without
    end: where it is and its anchor; None when aliases only nest deep data deeper."""
    open_anchors: list[str | None] = []
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.CollectionStartEvent):
            open_anchors.append(event.anchor)
        elif isinstance(event, yaml.CollectionEndEvent):
            open_anchors.pop()
        elif isinstance(event, yaml.AliasEvent) and event.anchor in open_anchors:
            return _event_pos(file, event), str(event.anchor)
    return None


def _event_pos(file: str, event: yaml.Event) -> Pos:
    mark = event.start_mark  # the parser gives every event one
    return Pos(file, mark.line + 1, mark.column + 1) if mark is not None else Pos(file, 1, 1)


def _report_alias_loop(text: str, file: str, report: Report) -> bool:
    loop = _alias_loop(text, file)
    if loop is not None:
        pos, anchor = loop
        report.error("TG005", pos, f"the alias *{anchor} is inside the collection &{anchor} that it names, "
                     f"so the value never ends", hint="write the values out instead of the alias")
    return loop is not None


def _report_too_deep(exc: _TooDeep, text: str, file: str, report: Report) -> None:
    if exc.node is None:
        report.error("TG005", _too_deep_at(text, file), f"the YAML document is nested more than {MAX_DEPTH} levels deep",
                     hint="a topology is fewer than ten levels deep; look for runaway brackets or indentation here")
        return
    if not _report_alias_loop(text, file, report):
        report.error("TG005", _mark(file, exc.node),
                     f"YAML aliases (*name) nest the document more than {MAX_DEPTH} levels deep",
                     hint="write the values out instead of repeating them with anchors and aliases")


def load_text(text: str, file: str, report: Report) -> Source | None:
    """Parse YAML text; syntax errors become TG001 diagnostics and give None."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL and not root.value):  # "---" alone
                report.error("TG001", Pos(file, 1, 1), "the file is empty",
                             hint="a topology needs at least a 'nodes:' section")
                return None
            walker = _Walker(file, loader, report, budget=2 * len(text) + 100)
            data = walker.walk(root)
        finally:
            loader.dispose()
    except _TooDeep as exc:
        _report_too_deep(exc, text, file, report)
        return None
    except _TooManyValues as exc:
        if not _report_alias_loop(text, file, report):  # a loop that branches runs out of values before levels
            report.error("TG003", _mark(file, exc.node), "YAML aliases (*name) expand the document to too many values",
                         hint="write the values out instead of repeating them with anchors and aliases")
        return None
    except yaml.MarkedYAMLError as exc:
        report.error("TG001", *_syntax_error(file, text, exc))
        return None
    except yaml.reader.ReaderError as exc:
        # a character YAML forbids (a control character, a stray NUL); libyaml reports only its offset
        where = text[: exc.position]
        pos = Pos(file, where.count("\n") + 1, len(where) - (where.rfind("\n") + 1) + 1)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        report.error("TG001", pos, f"the character U+{ord(char):04X} is not allowed in YAML",
                     hint="remove it; control characters are invisible in most editors")
        return None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        report.error("TG001", Pos(file, 1, 1), f"YAML error: {first}")
        return None
    index = _Index(file, root)
    return Source(file, data, _Marks(index, keys=False), _Marks(index, keys=True))


def _syntax_error(file: str, text: str, exc: yaml.MarkedYAMLError) -> tuple[Pos, str, str]:
    """Where and what a YAML syntax error is, said for someone who never read the YAML spec."""
    mark = exc.problem_mark or exc.context_mark
    pos = Pos(file, mark.line + 1, mark.column + 1) if mark else Pos(file, 1, 1)
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return pos, "YAML syntax error: a tab character used for indentation", "indent with spaces; YAML does not allow tabs"
    start = exc.context_mark
    if exc.context and start is not None and mark is not None and start.line != mark.line:
        # an unclosed bracket is reported where parsing gave up; name where it was opened too
        problem += f" ({exc.context} at line {start.line + 1}, column {start.column + 1})"
    return pos, f"YAML syntax error: {problem}", "check indentation, colons, brackets and quoting around this place"


def load_file(path: str | Path, report: Report) -> Source | None:
    """Read and parse a topology file; what cannot be read (topograph.front.reader) and decoding errors become
    TG000 diagnostics, a file too big TG004."""
    raw = reader.read(path, report)
    return None if raw is None else load_bytes(raw, str(path), report)


def load_bytes(raw: bytes, name: str, report: Report) -> Source | None:
    """Decode and parse the bytes of a topology; text that is not UTF-8 is TG000 at the first bad byte."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        col = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        report.error("TG000", Pos(name, line, col), f"the file is not valid UTF-8 text (byte 0x{raw[exc.start]:02x})",
                     hint="save the topology as UTF-8")
        return None
    return load_text(text, name, report)
