"""`iptables-save` / `ip6tables-save` text -> a node's `nat`, `port_forwards` and `filter` in the file's words.

Each rule is read into nftmap's Rule and said by the same functions as nft's JSON, so both sources map alike.
A built-in chain is followed through unconditional jumps into user chains (topograph's own `TG-LAB-*` chains
hang there); an unconditional ACCEPT or DROP ends it and is its policy (topograph's chains end with `-j DROP`
for policy drop). A filter chain's IPv4 and IPv6 rules are merged into one list: a rule said in both families
alike is one rule; one bound to a family by an address or icmp is that family's. Anything else (other
matches and targets, conditional jumps, other tables and chains that do something) is a note, never dropped
silently.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from topograph.scan.nftmap import (
    Mapped,
    Rule,
    Unmappable,
    filter_rule,
    mark_local,
    place_nat,
)

_HOOKS = {"INPUT": "input", "FORWARD": "forward", "OUTPUT": "output"}
_NAT_HOOKS = ("PREROUTING", "POSTROUTING", "OUTPUT")
_STATES = {"NEW": "new", "ESTABLISHED": "established", "RELATED": "related", "INVALID": "invalid"}
_PROTOS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmpv6", "icmpv6": "icmpv6"}
_REJECT = {"icmp-port-unreachable": "reject", "icmp6-port-unreachable": "reject", "port-unreach": "reject",
           "tcp-reset": "reset"}
_IGNORED_MATCHES = ("comment",)  # modules that say nothing about which packets match


@dataclass
class Table:
    """One table of a save: its chains' policies ("-" for a user chain) and rules (each a list of words)."""

    policies: dict[str, str] = field(default_factory=dict)
    rules: dict[str, list[list[str]]] = field(default_factory=dict)


def parse_save(text: str) -> dict[str, Table]:
    """The tables of `iptables-save` output by name."""
    tables: dict[str, Table] = {}
    table: Table | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = tables.setdefault(line[1:].strip(), Table())
        elif table is None:
            continue
        elif line.startswith(":"):
            name, policy, *_ = [*line[1:].split(), "-"]
            table.policies[name] = policy
            table.rules.setdefault(name, [])
        else:
            words = shlex.split(line)
            if words and words[0].startswith("[") and words[0].endswith("]"):
                words = words[1:]  # iptables-save -c: the rule's counters
            if len(words) >= 2 and words[0] == "-A":
                table.rules.setdefault(words[1], []).append(words[2:])
    return tables


def _addr(value: str, family: int) -> str:
    """An address as the file writes it: one host without its /32 (/128)."""
    host = "/32" if family == 4 else "/128"
    return value[:-len(host)] if value.endswith(host) else value


def _ports(value: str) -> int | str:
    first, _, last = value.partition(":")
    if not first.isdigit() or (last and not last.isdigit()):
        raise Unmappable(f"port {value}")
    return f"{first}-{last}" if last else int(first)


def _nat_to(value: str) -> tuple[str, int | None]:
    """--to-destination / --to-source: A, A:P, [A6] or [A6]:P (no ranges)."""
    if value.startswith("["):
        addr, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        addr, _, port = value.partition(":")
    else:
        addr, port = value, ""
    if "-" in addr or "-" in port or (port and not port.isdigit()):
        raise Unmappable(f"a range {value}")
    return addr, int(port) if port else None


def parse_rule(words: list[str], family: int, chains: frozenset[str] = frozenset()) -> tuple[Rule, str]:
    """One rule's words (after `-A CHAIN`) -> its matches and verdict, and the chain it jumps to ("" for none;
    the verdict is then "jump" or "return"); `chains`: the table's user chains."""
    rule = Rule()
    rule.bind(family)
    jump = ""
    i = 0

    def arg() -> str:
        nonlocal i
        i += 1
        if i >= len(words):
            raise Unmappable(f"{words[i - 1]} without a value")
        return words[i]

    while i < len(words):
        w = words[i]
        if w == "!":
            following = words[i + 1:i + 3]
            if following[:1] == ["-d"] and len(following) == 2 and following[1] in ("127.0.0.0/8", "::1/128"):
                rule.not_loopback = True
                i += 3
                continue
            raise Unmappable(f"a negated match ! {' '.join(following)}")
        if w in ("-s", "-d"):
            value = _addr(arg(), family)
            if w == "-s":
                rule.src = value
            else:
                rule.dst = value
        elif w in ("-i", "-o"):
            value = arg()
            if value.endswith("+"):
                raise Unmappable(f"interface wildcard {value}")
            if w == "-i":
                rule.iif = value
            else:
                rule.oif = value
        elif w == "-p":
            value = arg()
            if value not in _PROTOS:
                raise Unmappable(f"protocol {value}")
            rule.set_proto(_PROTOS[value])
        elif w == "-m":
            module = arg()
            if module not in ("tcp", "udp", "conntrack", "state", "addrtype", *_IGNORED_MATCHES):
                raise Unmappable(f"match -m {module}")
        elif w in ("--sport", "--dport"):
            if rule.proto not in ("tcp", "udp"):
                raise Unmappable(f"{w} without -p tcp or udp")
            if w == "--sport":
                rule.sport = _ports(arg())
            else:
                rule.dport = _ports(arg())
        elif w in ("--ctstate", "--state"):
            states = arg().split(",")
            if not all(s in _STATES for s in states):
                raise Unmappable(f"state {','.join(states)}")
            rule.states = [s for s in ("new", "established", "related", "invalid") if s.upper() in states]
        elif w == "--dst-type":
            if arg() != "LOCAL":
                raise Unmappable(f"--dst-type {words[i]}")
            rule.local = True
        elif w == "--comment":
            arg()
        elif w == "-j":
            target = arg()
            if rule.verdict or jump:
                raise Unmappable("two targets")
            if target in ("ACCEPT", "DROP"):
                rule.verdict = target.lower()
            elif target == "REJECT":
                rule.verdict = "reject"
            elif target == "MASQUERADE":
                rule.verdict = "masquerade"
            elif target in ("SNAT", "DNAT"):
                rule.verdict = target.lower()
            elif target == "RETURN":
                rule.verdict = "return"
            elif target in chains:
                rule.verdict, jump = "jump", target
            else:
                raise Unmappable(f"target {target}")
        elif w == "--reject-with" and rule.verdict == "reject":
            how = arg()
            if how not in _REJECT:
                raise Unmappable(f"reject with {how}")
            rule.verdict = _REJECT[how]
        elif w in ("--to-destination", "--to-source") and rule.verdict in ("dnat", "snat"):
            rule.nat_to = _nat_to(arg())
        else:
            raise Unmappable(f"option {w}")
        i += 1
    if not rule.verdict:
        raise Unmappable("no target: it only counts, and decides nothing")
    if rule.verdict in ("dnat", "snat") and rule.nat_to is None:
        raise Unmappable(f"{rule.verdict.upper()} without an address")
    return rule, jump


def _bare(rule: Rule) -> bool:
    """Does the rule match every packet?"""
    return (rule.iif, rule.oif, rule.src, rule.dst, rule.proto, rule.sport, rule.dport) == (None,) * 7 \
        and not rule.states and not rule.local and not rule.not_loopback


def _describe(family: int, table: str, chain: str, words: list[str]) -> str:
    tool = "iptables" if family == 4 else "ip6tables"
    return f"{tool} -t {table} -A {chain} {' '.join(shlex.quote(w) for w in words)}"


def flatten(t: Table, chain: str, family: int, table: str, notes: list[str],
            seen: tuple[str, ...] = ()) -> list[tuple[Rule, str]]:
    """The rules a packet meets in `chain` (each with how a note shows it), through unconditional jumps, up to an
    unconditional RETURN; rules that cannot be said become notes."""
    out: list[tuple[Rule, str]] = []
    for words in t.rules.get(chain, []):
        try:
            rule, jump = parse_rule(words, family, frozenset(c for c, p in t.policies.items() if p == "-"))
        except Unmappable as why:
            notes.append(f"{_describe(family, table, chain, words)}: not said in the file ({why})")
            continue
        if rule.verdict == "return" or rule.verdict == "jump":
            if not _bare(rule):
                notes.append(f"{_describe(family, table, chain, words)}: not said in the file "
                             f"(a {rule.verdict} on a condition)")
                continue
            if rule.verdict == "return":
                return out
            if jump in (*seen, chain):
                notes.append(f"{_describe(family, table, chain, words)}: not said in the file (a loop)")
                continue
            out += flatten(t, jump, family, table, notes, (*seen, chain))
            continue
        out.append((rule, _describe(family, table, chain, words)))
    return out


@dataclass
class _Side:
    """One family's filter chain: its policy and its rules in the file's words, with whether each is bound to
    the family by what it says (an address, icmp or icmpv6)."""

    policy: str = "accept"
    rules: list[tuple[dict[str, Any], bool]] = field(default_factory=list)


def _side(t: Table | None, builtin: str, family: int, notes: list[str]) -> _Side:
    side = _Side()
    if t is None or builtin not in t.policies:
        return side
    side.policy = {"ACCEPT": "accept", "DROP": "drop"}.get(t.policies[builtin], "accept")
    if t.policies[builtin] not in ("ACCEPT", "DROP"):
        notes.append(f"{'ip6' if family == 6 else 'ip'}tables filter {builtin} policy {t.policies[builtin]}: "
                     "not said in the file")
    for rule, shown in flatten(t, builtin, family, "filter", notes):
        if _bare(rule) and rule.verdict in ("accept", "drop"):
            side.policy = rule.verdict  # what no earlier rule decided: the rest is never reached
            break
        try:
            doc = filter_rule(rule, {family})
        except Unmappable as why:
            notes.append(f"{shown}: not said in the file ({why})")
            continue
        said = rule.src is not None or rule.dst is not None or rule.proto in ("icmp", "icmpv6")
        side.rules.append((doc, said))
    return side


def merge(v4: _Side, v6: _Side, families: set[int], hook: str, notes: list[str]) -> dict[str, Any] | None:
    """One filter chain (FilterDoc's {policy, rules}) from both families' sides; None when it does nothing."""
    only = {4, 6} - families if families else set()  # families the node has no addresses of
    rules: list[dict[str, Any]] = []
    a, b = v4.rules, v6.rules
    i = j = 0
    while i < len(a) or j < len(b):
        if i < len(a) and j < len(b) and a[i] == b[j] and not a[i][1]:
            rules.append(a[i][0])
            i, j = i + 1, j + 1
        elif i < len(a) and (a[i][1] or 6 in only):
            rules.append(a[i][0])
            i += 1
        elif j < len(b) and (b[j][1] or 4 in only):
            rules.append(b[j][0])
            j += 1
        else:
            fam, doc = (4, a[i][0]) if i < len(a) else (6, b[j][0])
            other = "has addresses of both families" if not only else f"has no IPv{fam} address"
            notes.append(f"filter {hook} rule {doc} of IPv{fam} only (the node {other}): not said in the file")
            if fam == 4:
                i += 1
            else:
                j += 1
    policy = v4.policy
    if v4.policy != v6.policy:
        policy = v6.policy if 4 in only else v4.policy if 6 in only else "accept"
        if not only:
            notes.append(f"filter {hook}: policy {v4.policy} for IPv4 but {v6.policy} for IPv6: not said in the file")
    if not rules and policy == "accept":
        return None
    return {"policy": policy, "rules": rules}


def map_saves(v4: str, v6: str, families: set[int]) -> Mapped:
    """Both families' iptables-save output in the file's words where it can be said; `families`: the IP
    families the node has addresses of."""
    out = Mapped()
    saves = {4: parse_save(v4), 6: parse_save(v6)}
    locals_: list[dict[str, Any]] = []
    for family, tables in saves.items():
        tool = "iptables" if family == 4 else "ip6tables"
        for name, t in tables.items():
            if name in ("filter", "nat"):
                continue
            if any(t.rules.values()) or any(p not in ("ACCEPT", "-") for p in t.policies.values()):
                out.notes.append(f"{tool} table {name}: not read into the file")
        nat = tables.get("nat")
        if nat is None:
            continue
        for builtin in ("INPUT",):
            if nat.rules.get(builtin):
                out.notes.append(f"{tool} -t nat {builtin}: not read into the file")
        for builtin in _NAT_HOOKS:
            for rule, shown in flatten(nat, builtin, family, "nat", out.notes):
                try:
                    place_nat(rule, builtin.lower(), out, locals_)
                except Unmappable as why:
                    out.notes.append(f"{shown}: not said in the file ({why})")
    mark_local(out, locals_)
    for builtin, hook in _HOOKS.items():
        sides = [_side(saves[f].get("filter"), builtin, f, out.notes) for f in (4, 6)]
        chain = merge(sides[0], sides[1], families, hook, out.notes)
        if chain is not None:
            out.filter[hook] = chain
    return out
