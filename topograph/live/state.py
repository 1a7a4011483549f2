"""Ownership records: what `apply` created for one lab, kept in /run/topograph/<lab key>.json.

A record lists the namespaces of one lab and, in real mode, its share of the root namespace: links,
nftables tables, iptables chains and the file of saved sysctl values (see live/root.py). In sandbox
mode the key includes the prefix, so two sandboxes of one file never share a record.
`apply` writes the record *before* it creates anything, listing what it is about to create, and
rewrites it when done; so a run killed at any point still leaves a record that names everything it
may have made, and destroy / converge only ever delete objects named in a record. Objects inside a
recorded namespace are ours as a whole.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from topograph.front.names import lab_name_problem
from topograph.front.quoting import quote
from topograph.kernel_names import prefix_problem

#: Overridable for unit tests, which must not need root.
STATE_DIR_ENV = "TOPOGRAPH_STATE_DIR"
DEFAULT_STATE_DIR = "/run/topograph"


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR))


def lab_key(lab: str, prefix: str | None) -> str:
    """The record's name: the lab, plus '@PREFIX' in sandbox mode."""
    return lab if prefix is None else f"{lab}@{prefix}"


def key_problem(key: str) -> str | None:
    """Why `key` is not a lab key (LAB or LAB@PREFIX, each valid), or None.

    Neither a lab name nor a prefix may hold '@' or '/', or start with '.', so a valid key is
    a plain file name and LAB@PREFIX splits one way only.
    """
    lab, at, prefix = key.partition("@")
    problem = lab_name_problem(lab)
    if problem:
        return f"lab name {quote(lab)} {problem}"
    if at:
        problem = prefix_problem(prefix)
        return f"sandbox prefix {quote(prefix)} {problem}" if problem else None
    return None


def state_file(key: str, suffix: str) -> Path:
    """KEY.SUFFIX in the state directory; raises StateError for a key that is not a lab key.

    The second fence after the command line's own check: whatever a caller passes, a record or a
    lock file is only ever read, written or deleted inside the state directory.
    """
    problem = key_problem(key)
    if problem:
        raise StateError(f"refusing state file {quote(key)}.{suffix}: {problem}")
    d = state_dir()
    path = d / f"{key}.{suffix}"
    if path.parent != d or path.name != f"{key}.{suffix}":  # cannot happen for a valid key: said, not assumed
        raise StateError(f"refusing state file {path}: not a plain file in {d}")
    return path


@dataclass
class Record:
    """What one lab owns. Lists are kept sorted so the file is deterministic."""

    lab: str
    prefix: str | None
    source: str = ""
    firewall: str = "nftables"
    namespaces: list[str] = field(default_factory=list)
    root_links: list[str] = field(default_factory=list)
    root_tables: list[str] = field(default_factory=list)  # real mode: nftables tables (inet) loaded there
    root_chains: list[str] = field(default_factory=list)  # real mode: iptables nat chains loaded there
    root_sysctls: list[str] = field(default_factory=list)  # real mode: files holding the sysctls it had before
    nft: dict[str, str] = field(default_factory=dict)  # namespace -> listing of our table right after loading
    iptables: dict[str, str] = field(default_factory=dict)  # namespace -> live.firewall.iptables_listing right after loading
    rules: dict[str, str] = field(default_factory=dict)  # namespace -> plan.firewall.loaded_text of what was loaded
    macs: dict[str, str] = field(default_factory=dict)  # "namespace ifname" -> the MAC the file set there
    # "NODE/NAME" -> a service (run:) apply started: {netns, dir, cmd, pid, start} (live/services.py)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    complete: bool = False  # False while an apply is running (or was killed)

    @property
    def key(self) -> str:
        return lab_key(self.lab, self.prefix)

    def add_namespaces(self, names: list[str] | tuple[str, ...]) -> None:
        self.namespaces = sorted(set(self.namespaces) | set(names))

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Record:
        """The record in `text`; ValueError when it is not one, or names a lab by an invalid name."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        record = cls(**{k: v for k, v in data.items() if k in known})
        if not isinstance(record.lab, str) or not (record.prefix is None or isinstance(record.prefix, str)):
            raise ValueError("lab and prefix must be text")
        problem = key_problem(record.key)
        if problem:
            raise ValueError(problem)
        return record


def path_of(key: str) -> Path:
    """The record file of lab key `key` (see state_file: never outside the state directory)."""
    return state_file(key, "json")


def load_record(lab: str, prefix: str | None) -> Record | None:
    """The lab's record, or None when it has none (never applied, or destroyed)."""
    path = path_of(lab_key(lab, prefix))
    try:
        record = Record.from_json(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise StateError(f"{path}: unreadable state record ({exc}); move it away to continue") from None
    if record.key != lab_key(lab, prefix):
        raise StateError(f"{path}: the record is of lab {record.key}, not {lab_key(lab, prefix)}; "
                         "move it away to continue")
    return record


def save(record: Record) -> None:
    """Write atomically (write a temporary file, then rename) so a crash never leaves half a record."""
    path = path_of(record.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(record.to_json())
    os.replace(tmp, path)


def remove(record: Record) -> None:
    path_of(record.key).unlink(missing_ok=True)


def all_records() -> list[Record]:
    """Every record in the state directory (for `destroy --lab NAME`)."""
    d = state_dir()
    if not d.is_dir():
        return []
    return [r for p in sorted(d.glob("*.json")) if (r := _try(p)) is not None]


def _try(path: Path) -> Record | None:
    try:
        record = Record.from_json(path.read_text())
    except (OSError, ValueError, TypeError):
        return None
    return record if path.name == f"{record.key}.json" else None


class StateError(OSError):
    """A state record cannot be used."""
