"""Diagnostics as values: severity, stable code, message, source position and hint."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import NamedTuple, Protocol

from topograph.front.quoting import QUOTE_MAX, quote


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Pos(NamedTuple):
    """A place in a source file (1-based line and column): immutable, ordered by file, line, column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


PathKey = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def path_text(path: PathKey, *, whole: bool = False) -> str:
    """nodes.red.routes[0].via; a key that is not a plain name is quoted: nodes['red blue'] (one line, always).

    A long key is shortened as quote() does (nodes['aaaa…' (5,000 characters)].kind), for messages; `whole`
    keeps every key as written (a diagnostic's `path` in --json, which a program may follow)."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _PLAIN_KEY.fullmatch(step) and (whole or len(step) <= QUOTE_MAX):
            out += f".{step}" if out else step
        else:
            out += f"[{step!r}]" if whole else f"[{quote(step)}]"
    return out


class Locator(Protocol):
    """What knows where each part of a document was written (topograph.front.loader.Source)."""

    def pos(self, path: PathKey, *, key: bool = False) -> Pos: ...


class Where(NamedTuple):
    """Where a model object was written, made into a `Pos` only when something asks for it.

    Every interface, node, route and link of a big lab has one and a clean file asks for few:
    looking all of them up while building the model was a fifth of the build's time.
    """

    source: Locator
    path: PathKey
    key: bool = False  # the place of the key (`red:`) rather than of its value

    @property
    def pos(self) -> Pos:
        return self.source.pos(self.path, key=self.key)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    code: str
    message: str
    pos: Pos
    hint: str | None = None
    path: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self) -> str:
        text = f"{self.pos}: {self.severity}[{self.code}]: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = str(self.severity)
        data["pos"] = {"file": self.pos.file, "line": self.pos.line, "col": self.pos.col}
        return data


def _diagnostic(severity: Severity, code: str, at: Pos | Where, message: str, hint: str | None, path: str) -> Diagnostic:
    if isinstance(at, Where):
        return Diagnostic(severity, code, message, at.pos, hint, path or path_text(at.path, whole=True))
    return Diagnostic(severity, code, message, at, hint, path)


@dataclass
class Report:
    """The diagnostics of one stage (or a whole run), collected — never global."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, at: Pos | Where, message: str, hint: str | None = None, path: str = "") -> None:
        """Report an error at a position, or at the place of a document path (`Where`: its path is kept too)."""
        self.items.append(_diagnostic(Severity.ERROR, code, at, message, hint, path))

    def warning(self, code: str, at: Pos | Where, message: str, hint: str | None = None, path: str = "") -> None:
        self.items.append(_diagnostic(Severity.WARNING, code, at, message, hint, path))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        """Source order, errors before warnings at the same place; duplicates dropped."""
        seen: set[Diagnostic] = set()
        out = []
        for d in sorted(self.items, key=lambda d: (d.pos, d.severity != Severity.ERROR, d.code, d.message)):
            if d not in seen:
                seen.add(d)
                out.append(d)
        return out

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self.items)


def count(n: int, word: str, plural: str | None = None) -> str:
    """`1 link`, `2 links`, `1,000 classes`: a number with its noun in agreement (messages, summaries, titles)."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {plural or word + 's'}"


def render_text(diagnostics: Iterable[Diagnostic]) -> str:
    items = list(diagnostics)
    lines = [d.render() for d in items]
    errors = sum(d.is_error for d in items)
    warnings = len(items) - errors
    if items:
        lines.append(f"{count(errors, 'error')}, {count(warnings, 'warning')}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_json(diagnostics: Iterable[Diagnostic], *, ok: bool | None = None) -> str:
    """The diagnostics as one JSON object; `ok` defaults to "no errors" (a caller may be stricter)."""
    items = list(diagnostics)
    return json.dumps(
        {
            "ok": not any(d.is_error for d in items) if ok is None else ok,
            "errors": sum(d.is_error for d in items),
            "warnings": sum(not d.is_error for d in items),
            "diagnostics": [d.as_json() for d in items],
        },
        indent=2,
    )
