"""A node's `run:` section resolved into the model (Service): the commands started in the node after apply.

An entry is a command line, or `{cmd: ..., name: ...}`. Its name (by default the command's first word,
without a directory: `python3` for `/usr/bin/python3 -m http.server`) names its log and pid files, so it
is held to the rule for node names (letters, digits, '_', '.', '-'), and two services of one node never
share one.
"""

from __future__ import annotations

import os
import shlex
from typing import Protocol

from topograph.front import document as doc
from topograph.front.diagnostics import PathKey, Where
from topograph.front.loader import Source
from topograph.front.names import node_name_problem
from topograph.model import Service


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
            r.err("TG605", path, f"service {i + 1} of {node!r} has an empty command",
                  hint="write the command to run, e.g. python3 -m http.server 80")
            continue
        written = rd.name is not None
        name = rd.name if rd.name is not None else default_name(rd.cmd)
        problem = node_name_problem(name)
        if problem:
            at = (*path, "name") if written else path
            r.err("TG606", at, f"service name {name!r} {problem}",
                  hint="name it with letters, digits, '_', '.' and '-', e.g. {name: web, cmd: ...}")
            continue
        if name in seen:
            r.err("TG103", (*path, "name") if written else path,
                  f"node {node!r} runs two services named {name!r} (the first is entry {seen[name] + 1})",
                  hint=f"give each a name of its own: {{name: {name}-2, cmd: {rd.cmd.strip()}}}")
            continue
        seen[name] = i
        out.append(Service(name=name, cmd=rd.cmd.strip(), where=Where(r.src, path)))
    return tuple(out)
