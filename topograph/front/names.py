"""Rules for names that reach the kernel or a shell, and "did you mean" suggestions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from topograph.front.quoting import QUOTE_MAX, length_of, quote

IFNAMSIZ = 15  # the kernel's limit on interface names (16 bytes with the terminating NUL)
NODE_NAME_MAX = 40

# used with fullmatch: `$` with match() lets a trailing newline through ("red\n")
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


#: Names the kernel refuses for a device (EINVAL): they are the sysctl tree's own entries
#: (net.ipv4.conf.all, net.ipv4.conf.default, net.ipv6.neigh.default ...). Case matters: 'All' is a fine name.
RESERVED_IFNAMES = frozenset({"all", "default"})


def interface_name_problem(name: str) -> tuple[str, str] | None:
    """(code, reason) when `name` cannot be a Linux interface name safely; None when it can.

    The whole name must match (a name ending in a newline is unsafe too). The kernel's own rules
    (dev_valid_name: not '.' or '..', no '/', ':' or white space) are stricter here: only letters,
    digits, '_', '.' and '-', starting with a letter or digit.
    """
    if len(name) > IFNAMSIZ:
        return "TG105", f"{length_of(name)}; Linux allows at most {IFNAMSIZ}"
    if not _SAFE.fullmatch(name):
        return "TG106", _unsafe_reason(name)
    if name in RESERVED_IFNAMES:
        meaning = "stands for every interface" if name == "all" else "holds the settings of new interfaces"
        return "TG115", f"is reserved by the kernel (net.ipv4.conf.{name} {meaning})"
    return None


def _unsafe_reason(name: str) -> str:
    """Which character makes `name` unsafe, said precisely (a space is invisible in a message)."""
    allowed = "only letters, digits, '_', '.' and '-' are allowed"
    bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in "_.-"))), None)
    if not name:  # e.g. a YAML anchor written as the key: `{&eth0: 10.0.0.1/24}` leaves it empty
        return "is empty"
    if bad is None:  # every character is fine, so the first one is the problem
        return f"starts with {quote(name[0])}; it must start with a letter or digit"
    return f"contains {quote(bad)}; {allowed}"


def rename_hint(code: str) -> str:
    """The hint for an interface or bridge name that interface_name_problem() refuses with `code`."""
    if code == "TG105":
        return f"shorten it to {IFNAMSIZ} characters at most, e.g. 'veth-red-br'"
    if code == "TG115":
        return "rename it, e.g. 'eth-all' or 'veth-default'"
    return "rename it, e.g. 'veth-red' or 'v-net-0'"


def node_name_problem(name: str) -> str | None:
    """Why `name` cannot be a namespace name (and a shell word), or None."""
    if not name:
        return "is empty"
    if len(name) > NODE_NAME_MAX:
        return f"{length_of(name)}; keep names to {NODE_NAME_MAX}"
    if not _SAFE.fullmatch(name):
        return _unsafe_reason(name)
    return None


#: What a lab name may contain, in words (for messages about a name given on the command line).
LAB_NAME_RULE = (f"a lab name has 1 to {NODE_NAME_MAX} letters, digits, '_', '.' and '-', "
                 "and starts with a letter or digit")


def lab_name_problem(name: str) -> str | None:
    """Why `name` cannot name a lab, or None: the one test for lab names, from a file or the command line.

    A lab's name becomes file names in the state directory (LAB.json, LAB.lock, LAB.sysctl), an nft
    table and iptables chains, so it is held to the namespace-name rule: no '/', no leading '.',
    nothing a shell or a path could read differently.
    """
    return node_name_problem(name)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    guesses = close_names(word, choices)
    return f"did you mean {' or '.join(map(quote, guesses))}?" if guesses else None


def close_names(word: str, choices: Iterable[str]) -> list[str]:
    """The one or two choices nearest to `word`: a typo, a swapped pair of letters, a missing 's'."""
    options = sorted(set(choices))
    scored = sorted((_edits(word.lower(), c.lower()), c) for c in options)
    if scored and scored[0][0] <= max(1, len(word) // 3) and scored[0][0] < len(word):
        return [c for d, c in scored if d == scored[0][0]][:2]
    return difflib.get_close_matches(word, options, n=1, cutoff=0.6)


def _edits(a: str, b: str) -> int:
    """Edit distance counting a swap of neighbours as one edit ('prot' is one edit from 'port' and 'proto')."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def one_of(choices: Iterable[str]) -> str:
    options = sorted(set(choices))
    if not options:
        return "there are none"
    return "known: " + ", ".join(o if o.isprintable() and len(o) <= QUOTE_MAX else quote(o) for o in options)
