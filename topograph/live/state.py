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

#: Overridable for unit tests, which must not need root.
STATE_DIR_ENV = "TOPOGRAPH_STATE_DIR"
DEFAULT_STATE_DIR = "/run/topograph"
ALIAS_PREFIX = "topograph:"


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR))


def lab_key(lab: str, prefix: str | None) -> str:
    """The record's name: the lab, plus '@PREFIX' in sandbox mode."""
    return lab if prefix is None else f"{lab}@{prefix}"


def alias(lab: str) -> str:
    """The mark put on interfaces topograph creates in the root namespace (`ip link` shows it as alias)."""
    return ALIAS_PREFIX + lab


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
    iptables: dict[str, str] = field(default_factory=dict)  # namespace -> observe.iptables_listing right after loading
    rules: dict[str, str] = field(default_factory=dict)  # namespace -> plan.firewall.loaded_text of what was loaded
    macs: dict[str, str] = field(default_factory=dict)  # "namespace ifname" -> the MAC the file set there
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
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def path_of(key: str) -> Path:
    return state_dir() / f"{key}.json"


def load(lab: str, prefix: str | None) -> Record | None:
    """The lab's record, or None when it has none (never applied, or destroyed)."""
    path = path_of(lab_key(lab, prefix))
    try:
        return Record.from_json(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise StateError(f"{path}: unreadable state record ({exc}); move it away to continue") from None


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
        return Record.from_json(path.read_text())
    except (OSError, ValueError, TypeError):
        return None


class StateError(OSError):
    """A state record cannot be used."""
