"""verify's prediction, remembered: what a file's verify sends and what the simulator predicts for it, kept in
the state directory and used again while neither the file nor topograph changes.

Working the prediction out means checking the file (pydantic's models), building its graph (networkx) and
running the simulator; on a small lab, importing those libraries alone takes longer than sending every probe
(benchmarks/README.md, "verify's fixed cost"). The prediction is a function of the file's bytes, the name it
was given by (warnings name it), the sandbox prefix, --all, and the code: the key is a SHA-256 of all of them,
the code by the size and modification time of each of topograph's modules and of the libraries' (LIBRARIES),
so an edit or an upgrade misses and the prediction is worked out again. An entry that cannot be read back
whole is a miss too. A verify from an entry imports none of the four libraries.

Entries are files `DIGEST.LAB@PREFIX.json` in `<state dir>/verify` (root's, mode 0700 like the records):
the newest LIMIT are kept, and destroy removes the lab's own (`forget`). Only a verify of up to MAX_FLOWS
flows is remembered, in at most MAX_BYTES: the state directory is in RAM (/run), an entry grows with the flows,
and past some thousands of flows reading one back saves little against probing them while writing it costs
the first verify about as much (benchmarks/README.md, "verify from its remembered prediction").
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import ipaddress
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topograph.front import reader
from topograph.front.diagnostics import Report
from topograph.front.wire import IPAddress, Proto
from topograph.live import state
from topograph.live.outcome import Job, Listen
from topograph.live.rounds import Entry, Pairs
from topograph.live.verify import Prepared, Probe

FORMAT = 1  # of the entries: a change of their layout
LIMIT = 8  # entries kept; the least recently used go first
MAX_FLOWS = 10_000  # a verify of more flows is not remembered (the 50-star's 2,550 flows: 0.57 MB)
MAX_BYTES = 4 << 20  # nor an entry larger than this (long names)
_CODE = Path(__file__).resolve().parent.parent  # the topograph package


@dataclass(frozen=True, slots=True)
class Cached:
    lab: str
    warnings: str  # as check printed them to stderr ("" for none): a verify from the entry prints them again
    prepared: Prepared


def directory() -> Path:
    return state.state_dir() / "verify"


#: the libraries that check and simulate a file: an upgrade of one may change a prediction or a warning
LIBRARIES = ("networkx", "pydantic", "pydantic_core", "yaml")


def code_fingerprint() -> bytes:
    """Every module's path, size and modification time (its version is in topograph/__init__.py), and where each of
    LIBRARIES is installed and when (found without importing it: an upgrade rewrites its `__init__.py`)."""
    parts: list[str] = []
    for lib in LIBRARIES:
        spec = importlib.util.find_spec(lib)
        origin = spec.origin if spec is not None else None
        st = os.stat(origin) if origin else None
        parts.append(f"{lib}:{origin}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}")
    for root, dirs, files in os.walk(_CODE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            st = os.stat(os.path.join(root, name))
            parts.append(f"{os.path.relpath(os.path.join(root, name), _CODE)}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts).encode()


def key(file: str, prefix: str | None, all_pairs: bool) -> str | None:
    """The entry's digest for this verify, or None when the file cannot be read as check reads it (check says why)."""
    data = reader.read(file, Report())
    if data is None:
        return None
    h = hashlib.sha256()
    for part in (str(FORMAT).encode(), code_fingerprint(), os.fsencode(file), (prefix or "").encode(),
                 b"all" if all_pairs else b"expectations", data):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _entries() -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory()) as it:
            return [e for e in it if e.name.endswith(".json") and not e.name.startswith(".")]
    except OSError:
        return []


def load(digest: str) -> Cached | None:
    """The entry for `digest`, or None (none, or one that cannot be read back whole)."""
    for e in _entries():
        if e.name.startswith(digest + "."):
            try:
                with open(e.path, "rb") as f:
                    cached = decode(json.loads(f.read()))
                os.utime(e.path)  # recently used: pruned last
                return cached
            except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
                return None
    return None


def save(digest: str, cached: Cached, prefix: str | None) -> None:
    """Keep `cached` under `digest` (unless it has more than MAX_FLOWS flows or MAX_BYTES), then prune to the newest
    LIMIT; a state directory that cannot be written only means the next verify works the prediction out again."""
    if len(cached.prepared.probes) > MAX_FLOWS:
        return
    data = json.dumps(encode(cached), separators=(",", ":")).encode()  # then one write: dump() is ~5x slower
    if len(data) > MAX_BYTES:
        return
    d = directory()
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, d / f"{digest}.{cached.lab}@{prefix or ''}.json")
        except BaseException:
            os.unlink(tmp)
            raise
        entries = sorted(_entries(), key=lambda e: e.stat().st_mtime_ns, reverse=True)
        for old in entries[LIMIT:]:
            os.unlink(old.path)
    except OSError:
        pass


def forget(lab: str, prefix: str | None) -> None:
    """Remove the lab's entries in this mode (destroy). One that cannot be removed stays: a stale entry is a miss at
    worst (its file changed) or still true (it did not), never a reason for destroy to fail."""
    tail = f".{lab}@{prefix or ''}.json"
    for e in _entries():
        if e.name.endswith(tail) and e.name.index(".") == len(e.name) - len(tail):
            with contextlib.suppress(OSError):
                os.unlink(e.path)


def encode(cached: Cached) -> dict[str, Any]:
    p = cached.prepared

    def listen(x: Listen | None) -> list[Any] | None:
        return None if x is None else [x.node, x.netns, str(x.address), x.port, str(x.proto), x.service]

    return {"format": FORMAT, "lab": cached.lab, "warnings": cached.warnings, "namespaces": list(p.namespaces),
            "probes": [[q.src, str(q.dst), q.label, str(q.proto), q.port, q.predicted, q.why, q.disposition]
                       for q in p.probes],
            "jobs": [[i, j.netns, str(j.dst), j.port, str(j.proto), listen(j.listen)] for i, j in p.jobs.items()],
            "pairs": [[i, list(ends), [[ns, ifname, str(a)] for ns, ifname, a in entries]]
                      for i, (ends, entries) in p.pairs.items()],
            "order": list(p.order)}


def decode(data: dict[str, Any]) -> Cached:
    """`encode`'s inverse; ValueError (or KeyError, TypeError, IndexError, AttributeError) for anything else."""
    if data.get("format") != FORMAT:
        raise ValueError("another format")
    seen: dict[str, IPAddress] = {}

    def ip(text: str) -> IPAddress:
        got = seen.get(text)
        if got is None:
            got = seen[text] = ipaddress.ip_address(text)
        return got

    probes = tuple(Probe(src, ip(dst), label, Proto(proto), port, predicted, why, disposition)
                   for src, dst, label, proto, port, predicted, why, disposition in data["probes"])
    jobs = {i: Job(netns, ip(dst), port,
                   None if lis is None else Listen(lis[0], lis[1], ip(lis[2]), lis[3], Proto(lis[4]), lis[5]),
                   Proto(proto))
            for i, netns, dst, port, proto, lis in data["jobs"]}
    pairs: Pairs = {}
    for i, ends, entries in data["pairs"]:
        made: tuple[Entry, ...] = tuple((ns, ifname, ip(a)) for ns, ifname, a in entries)
        pairs[i] = (tuple(ends), made)
    order = tuple(data["order"])
    if not all(i in jobs for i in order) or len(order) != len(jobs) or not all(0 <= i < len(probes) for i in jobs):
        raise ValueError("jobs and order disagree")
    return Cached(data["lab"], data["warnings"], Prepared(probes, jobs, pairs, order, tuple(data["namespaces"])))
