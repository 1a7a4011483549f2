"""A node's `run:` section resolved into the model (Service): the commands started in the node after apply.

An entry is a command line, or `{cmd: ..., name: ...}`. Its name (by default the command's first word,
without a directory: `python3` for `/usr/bin/python3 -m http.server`) names its log and pid files, so it
is held to the rule for node names (letters, digits, '_', '.', '-'), and two services of one node never
share one.
"""

from __future__ import annotations

import os
import shlex
import unicodedata
from typing import Protocol

from topograph.front import document as doc
from topograph.front.diagnostics import PathKey, Where
from topograph.front.loader import Source
from topograph.front.names import node_name_problem
from topograph.front.quoting import quote
from topograph.model import Service

#: the kernel's limit on one argument (MAX_ARG_STRLEN, 32 pages, its terminating NUL included): the command
#: reaches `sh -c` as one argument, from apply and from the compiled script alike
MAX_COMMAND_BYTES = 32 * 4096 - 1
#: shell text may hold tabs and newlines (a script in a YAML block); no other control character is meant
_COMMAND_OK = frozenset("\t\n")


def command_problem(cmd: str) -> tuple[str, str] | None:
    """(why, hint) when `cmd` cannot be started as a service (or would garble every line that shows it), else None."""
    bad = next((c for c in cmd if c not in _COMMAND_OK and (unicodedata.category(c) == "Cc"
                                                            or c in "\u2028\u2029")), None)
    if bad is not None:
        why = "which no command line can hold" if bad == "\x00" else "a control character"
        return f"contains {quote(bad)}, {why}", "write it without that character (tabs and newlines are fine)"
    size = len(cmd.encode("utf-8", "surrogatepass"))
    if size > MAX_COMMAND_BYTES:
        return (f"is {size:,} bytes long; the kernel passes at most {MAX_COMMAND_BYTES:,} bytes as one argument",
                "put a long script in a file and run that file")
    return None


class _Reader(Protocol):
    """What the resolver offers this module (front.resolve._Builder)."""

    src: Source

    def err(self, code: str, path: PathKey, message: str, hint: str | None = None, *, key: bool = False) -> None: ...


def default_name(cmd: str) -> str:
    """The name of a service written without one: its command's first word, without a directory."""
    try:
        words = shlex.split(cmd)
    except ValueError:  # an unbalanced quote: sh will say so when it runs
        words = cmd.split()
    return os.path.basename(words[0]) if words else ""


def services(r: _Reader, entries: list[doc.RunDoc], base: PathKey, node: str) -> tuple[Service, ...]:
    """`run:` of node `node`; an entry with a problem is reported and left out."""
    out: list[Service] = []
    seen: dict[str, int] = {}
    for i, rd in enumerate(entries):
        path: PathKey = (*base, "run", i)
        if not rd.cmd.strip():
            r.err("TG605", path, f"service {i + 1} of {quote(node)} has an empty command",
                  hint="write the command to run, e.g. python3 -m http.server 80")
            continue
        refused = command_problem(rd.cmd.strip())
        if refused:
            r.err("TG607", (*path, "cmd"), f"the command of service {i + 1} of {quote(node)} {refused[0]}", hint=refused[1])
            continue
        written = rd.name is not None
        name = rd.name if rd.name is not None else default_name(rd.cmd)
        problem = node_name_problem(name)
        if problem:
            at = (*path, "name") if written else path
            r.err("TG606", at, f"service name {quote(name)} {problem}",
                  hint="name it with letters, digits, '_', '.' and '-', e.g. {name: web, cmd: ...}")
            continue
        if name in seen:
            r.err("TG103", (*path, "name") if written else path,
                  f"node {quote(node)} runs two services named {quote(name)} (the first is entry {seen[name] + 1})",
                  hint=f"give each a name of its own: {{name: {name}-2, cmd: {rd.cmd.strip()}}}")
            continue
        seen[name] = i
        out.append(Service(name=name, cmd=rd.cmd.strip(), where=Where(r.src, path)))
    return tuple(out)
