"""Which rules of the lab's own table or chains differ from what was loaded: the words status adds to a
drifted rules load ("a rule deleted by hand" is more use than "drifted").

Both sides are listings as the tools print them (`nft list table`, live.firewall.iptables_listing),
the one recorded right after the load and the one read now; the lines are compared as multisets, each
under its chain (nft) or family and table (iptables), so that a rule moved to another chain counts as both.
"""

from __future__ import annotations

from collections import Counter

SHOWN = 3  # rules named per side; the rest are counted


def _lines(listing: str) -> Counter[str]:
    found: Counter[str] = Counter()
    where = family = ""
    for raw in listing.splitlines():
        line = raw.strip()
        if not line or line in ("}", "COMMIT") or line.startswith("table "):
            continue
        if line.startswith("chain ") and line.endswith("{"):
            where = f"chain {line.split()[1]}"
            continue
        if line.startswith("# ipv"):  # iptables: a family's share, nat first (unmarked), then the other tables
            family = line[2:]
            where = f"{family} nat"
            continue
        if line.startswith("*"):
            where = f"{family} {line[1:]}"
            continue
        found[f"{line} ({where})" if where else line] += 1
    return found


def _some(lines: list[str]) -> str:
    shown = "; ".join(lines[:SHOWN])
    return shown + (f"; and {len(lines) - SHOWN} more" if len(lines) > SHOWN else "")


def rules_drift(recorded: str | None, live: str | None) -> str:
    """' (missing: RULE (chain input); extra: ...)' for the lines that differ, or "" when none is known."""
    if recorded is None or live is None:
        return ""
    before, now = _lines(recorded), _lines(live)
    missing = list((before - now).elements())  # in listing order
    extra = list((now - before).elements())
    parts = [*([f"missing: {_some(missing)}"] if missing else []), *([f"extra: {_some(extra)}"] if extra else [])]
    return f" ({'; '.join(parts)})" if parts else ""
