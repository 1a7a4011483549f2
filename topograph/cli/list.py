"""`topograph list`: the labs live on this machine, from the lab records in the state directory."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from topograph.cli.common import json_errors

#: What a lab's state can be, for --help and the README.
STATES = {
    "up": "every namespace (and, in real mode, root interface) its record names is there",
    "partial": "some of them are gone (deleted by hand?): apply repairs, destroy removes the rest",
    "down": "none of them is there, but the record is: destroy forgets it, apply brings the lab back",
    "busy": "a topograph run holds the lab's lock now (an apply or destroy in progress; see pid)",
    "interrupted": "its last apply was cut short (killed): apply finishes it, destroy removes it",
    "unreadable": "the record cannot be read: move it away (see record)",
}


@dataclass(frozen=True)
class LabRow:
    lab: str
    mode: str  # "real" or "sandbox"
    prefix: str | None
    nodes: list[str]  # the nodes that have a namespace (in real mode, not those in the machine's own)
    namespaces: int  # how many of the recorded namespaces exist now
    since: str  # the record's last write (UTC, ISO 8601): when the last apply ended, or started if cut short
    state: str  # a key of STATES
    pid: int | None  # the run that holds the lab's lock, when busy
    source: str  # the topology file it was applied from
    record: str  # the record's path


def since(path: Path) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime))


def rows() -> list[LabRow]:
    """One row per record in the state directory (and per lock held by a run that has no record yet)."""
    from topograph.live import state
    from topograph.live.kernel import list_netns
    from topograph.live.lock import holder

    d = state.state_dir()
    if not d.is_dir():
        return []
    existing = list_netns()
    out: list[LabRow] = []
    keys: set[str] = set()
    for path in sorted(d.glob("*.json")):
        try:
            rec = state.Record.from_json(path.read_text())
            if path.name != f"{rec.key}.json":
                raise ValueError(f"the record is of lab {rec.key}")
        except (OSError, ValueError, TypeError):
            lab, _, prefix = path.name.removesuffix(".json").partition("@")
            out.append(LabRow(lab, "sandbox" if prefix else "real", prefix or None, [], 0, since(path),
                              "unreadable", None, "", str(path)))
            continue
        keys.add(rec.key)
        present = [n for n in rec.namespaces if n in existing]
        links = [n for n in rec.root_links if Path("/sys/class/net", n).exists()]
        pid = holder(rec.key)
        if pid is not None:
            st = "busy"
        elif not rec.complete:
            st = "interrupted"
        elif len(present) + len(links) == len(rec.namespaces) + len(rec.root_links):
            st = "up"
        else:
            st = "partial" if present or links else "down"
        nodes = [n.removeprefix(rec.prefix) if rec.prefix else n for n in rec.namespaces]
        out.append(LabRow(rec.lab, "real" if rec.prefix is None else "sandbox", rec.prefix, nodes, len(present),
                          since(path), st, pid, rec.source, str(path)))
    for lock in sorted(d.glob("*.lock")):  # an apply that has not written its record yet
        key = lock.name.removesuffix(".lock")
        if key in keys or state.key_problem(key) or (pid := holder(key)) is None:
            continue
        lab, _, prefix = key.partition("@")
        out.append(LabRow(lab, "sandbox" if prefix else "real", prefix or None, [], 0, since(lock), "busy", pid,
                          "", str(state.path_of(key))))
    return out


def labs_table(labs: list[LabRow]) -> str:
    head = ("LAB", "MODE", "PREFIX", "NODES", "SINCE", "STATE")
    lines = [(r.lab, r.mode, r.prefix or "-", str(len(r.nodes)), r.since,
              r.state + (f" (pid {r.pid})" if r.pid is not None else "")) for r in labs]
    widths = [max(len(line[i]) for line in [head, *lines]) for i in range(len(head))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n"
                   for line in [head, *lines])


@click.command("list", epilog="States: " + "; ".join(f"{k}: {v}" for k, v in STATES.items()) + ".")
@click.option("--json", "as_json", is_flag=True, help="print the labs as one JSON object on stdout (see below)")
def command(as_json: bool) -> None:
    """List the labs live on this machine: every lab `apply` recorded and `destroy` has not removed,
    in real mode or in a sandbox. Needs no root. The records are in $TOPOGRAPH_STATE_DIR (default
    /run/topograph).

    \b
    --json prints {"ok": true, "labs": [{"lab", "mode" ("real"/"sandbox"), "prefix",
    "nodes" [names], "namespaces" (how many exist), "since" (UTC, ISO 8601), "state",
    "pid" (or null), "source" (its file), "record" (the record's path)}]}.
    """
    json_errors(as_json)
    labs = rows()
    if as_json:
        click.echo(json.dumps({"ok": True, "labs": [asdict(r) for r in labs]}, indent=2))
    elif not labs:
        from topograph.live.state import state_dir

        click.echo(f"no labs on this machine (no records in {state_dir()})")
    else:
        click.echo(labs_table(labs), nl=False)
