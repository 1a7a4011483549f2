"""Rules for names that reach the kernel or a shell, and "did you mean" suggestions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

IFNAMSIZ = 15  # the kernel's limit on interface names (16 bytes with the terminating NUL)
NODE_NAME_MAX = 40

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def interface_name_problem(name: str) -> tuple[str, str] | None:
    """(code, reason) when `name` cannot be a Linux interface name safely; None when it can."""
    if len(name) > IFNAMSIZ:
        return "TG105", f"is {len(name)} characters long; Linux allows at most {IFNAMSIZ}"
    if not _SAFE.match(name):
        return "TG106", "may only use letters, digits, '_', '.' and '-', and must start with a letter or digit"
    return None


def node_name_problem(name: str) -> str | None:
    """Why `name` cannot be a namespace name (and a shell word), or None."""
    if not name:
        return "is empty"
    if len(name) > NODE_NAME_MAX:
        return f"is {len(name)} characters long; keep names to {NODE_NAME_MAX}"
    if not _SAFE.match(name):
        return "may only use letters, digits, '_', '.' and '-', and must start with a letter or digit"
    return None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    options = sorted(set(choices))
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def one_of(choices: Iterable[str]) -> str:
    options = sorted(set(choices))
    if not options:
        return "there are none"
    return "known: " + ", ".join(options)
