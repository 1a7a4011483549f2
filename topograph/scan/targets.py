"""Which namespaces a scan reads and the node each becomes: --sandbox PREFIX, --netns NAME..., --all,
--with-host, --pid PID. Names are decided here; with --sandbox each candidate's loopback is looked at (its
alias: topograph's mark) so that another sandbox whose prefix starts with this one is left out: prefixes
't1-' and 't1-r' both match the namespace 't1-rred', and only the mark tells whose it is."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from topograph.front.names import node_name_problem
from topograph.front.quoting import quote
from topograph.kernel_names import MARK_PREFIX
from topograph.live.kernel import KernelError, Namespaces, list_netns, netns_mounted
from topograph.live.nlsocket import Sockets
from topograph.scan.build import HOST_NETNS
from topograph.scan.read import Target, enter_pid


class ScanError(Exception):
    """The namespaces asked for cannot be scanned; the message says which and why."""


def _node_name(name: str, taken: set[str]) -> str:
    """A node name for namespace `name`: itself when valid, else its letters with '-' for the rest."""
    node = name if node_name_problem(name) is None else (re.sub(r"[^A-Za-z0-9_-]", "-", name).strip("-") or "ns")
    base, n = node, 1
    while node in taken:
        n += 1
        node = f"{base}-{n}"
    taken.add(node)
    return node


def other_sandbox(mark: str, prefix: str) -> str | None:
    """The sandbox prefix a namespace's mark names when it is not `prefix` (None: this sandbox's, a lab in real
    mode's, or no mark of topograph's)."""
    _, at, theirs = mark.removeprefix(MARK_PREFIX).rpartition("@")  # prefixes have no "@"
    if not mark.startswith(MARK_PREFIX) or not at or theirs == prefix:
        return None
    return theirs


def _mark(sockets: Sockets, netns: str) -> str:
    """The alias of `netns`'s loopback ('' when it has none)."""
    lo = sockets(netns).link("lo")
    return lo.alias if lo is not None else ""


@dataclass(frozen=True, slots=True)
class Chosen:
    targets: list[Target]
    notes: list[str]  # what was left out and why, for the user


def choose(ns: Namespaces, *, prefix: str | None = None, names: tuple[str, ...] = (), every: bool = False,
           with_host: bool = False, pids: tuple[int, ...] = ()) -> Chosen:
    """The namespaces to read, in a fixed order: the machine's own first (--with-host), then the named or
    found ones sorted by name, then processes' in the order given."""
    existing = list_netns()
    taken: set[str] = set()
    out: list[Target] = []
    notes: list[str] = []
    if with_host:
        out.append(Target(_node_name("host", taken), None, HOST_NETNS))
    chosen: list[str] = []
    if prefix is not None:
        chosen = sorted(n for n in existing if n.startswith(prefix) and len(n) > len(prefix))
        if not chosen:
            raise ScanError(f"no namespace is named {prefix}*")
        sockets = Sockets(ns)
        try:
            for name in list(chosen):
                theirs = other_sandbox(_mark(sockets, name), prefix) if netns_mounted(name) else None
                if theirs is not None and name.startswith(theirs):
                    chosen.remove(name)
                    notes.append(f"left out {name}: it is sandbox {theirs}'s (topograph's mark on its loopback)")
        finally:
            sockets.close()
        if not chosen:
            raise ScanError(f"every namespace named {prefix}* belongs to another sandbox: " + "; ".join(notes))
    if every:
        chosen += sorted(existing - set(chosen))
    for name in names:
        if name not in existing:
            raise ScanError(f"no namespace {quote(name)} in /run/netns")
        if name not in chosen:
            chosen.append(name)
    for name in chosen:
        if not netns_mounted(name):
            raise ScanError(f"/run/netns/{name} is no namespace (a file left behind); remove it or leave it out")
        node = name[len(prefix):] if prefix is not None and name.startswith(prefix) else name
        out.append(Target(_node_name(node, taken), name, name))
    seen = {os.stat(f"/run/netns/{t.key}").st_ino for t in out if t.key is not None}
    for pid in pids:
        try:
            key = enter_pid(ns, pid)
        except KernelError as exc:
            raise ScanError(str(exc.strerror)) from None
        ino = os.fstat(ns.fd(key)).st_ino
        if ino in seen or (with_host and ino == os.fstat(ns.origin).st_ino):
            continue  # a process in a namespace scanned already
        seen.add(ino)
        out.append(Target(_node_name(f"pid{pid}", taken), key, f"process {pid}'s namespace"))
    if not out:
        raise ScanError("nothing to scan: name namespaces with --sandbox PREFIX, --netns NAME, --all, "
                        "--with-host or --pid PID")
    return Chosen(out, notes)
