"""`nft -j list ruleset` objects -> a node's `nat`, `port_forwards` and `filter` in the file's words.

A rule maps when every expression of it is one the format can say (interfaces, addresses, tcp/udp
ports, icmp/icmpv6, conntrack states, one verdict; counters are ignored); any other rule, chain or
table that does something is returned as a note (the file's comment and a warning), never dropped
silently. topograph's own table (`table inet topograph-LAB`) maps back exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: filter chain hooks the format writes, and nat hooks it reads forwards and source NAT from
FILTER_HOOKS = ("input", "forward", "output")
_STATES = ("new", "established", "related", "invalid")
_PROTOS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmpv6", "icmpv6": "icmpv6", 6: "tcp",
           17: "udp", 1: "icmp", 58: "icmpv6"}
_FAMILY = {"ip": 4, "ip6": 6, "inet": None}
_LOOPBACK = {"127.0.0.0/8": 4, "::1": 6, "::1/128": 6}


class Unmappable(Exception):
    """An expression or verdict the format cannot say."""


@dataclass
class Mapped:
    """What a node's rulesets say in the file's words, and what they say that the file cannot."""

    nat: list[dict[str, Any]] = field(default_factory=list)
    port_forwards: list[dict[str, Any]] = field(default_factory=list)
    filter: dict[str, dict[str, Any]] = field(default_factory=dict)  # hook -> {policy, rules}
    notes: list[str] = field(default_factory=list)


@dataclass
class Rule:
    """One rule's matches, collected expression by expression."""

    family: int | None = None
    iif: str | None = None
    oif: str | None = None
    src: str | None = None
    dst: str | None = None
    proto: str | None = None
    sport: int | str | None = None
    dport: int | str | None = None
    states: list[str] = field(default_factory=list)
    local: bool = False  # fib daddr type local
    not_loopback: bool = False  # ip daddr != 127.0.0.0/8 (a local port forward's output rule)
    verdict: str = ""
    nat_to: tuple[str, int | None] | None = None  # snat/dnat: address, port

    def bind(self, family: int | None) -> None:
        if family is not None:
            if self.family is not None and self.family != family:
                raise Unmappable("matches of both IPv4 and IPv6")
            self.family = family

    def set_proto(self, proto: str) -> None:
        if self.proto is not None and self.proto != proto:
            raise Unmappable(f"protocols {self.proto} and {proto} together")
        self.proto = proto
        if proto in ("icmp", "icmpv6"):
            self.bind(4 if proto == "icmp" else 6)


def _address(right: Any) -> str:
    if isinstance(right, str):
        return right
    if isinstance(right, dict) and "prefix" in right:
        return f"{right['prefix']['addr']}/{right['prefix']['len']}"
    raise Unmappable(f"address {right!r}")


def _port(right: Any) -> int | str:
    if isinstance(right, int):
        return right
    if isinstance(right, dict) and "range" in right:
        first, last = right["range"]
        return f"{first}-{last}"
    raise Unmappable(f"port {right!r}")


def _match(rule: Rule, m: dict[str, Any]) -> None:
    op, left, right = m.get("op"), m.get("left"), m.get("right")
    if not isinstance(left, dict):
        raise Unmappable("match")
    if (op == "!=" and "payload" in left and left["payload"].get("field") == "daddr"
            and isinstance(right, (str, dict)) and _address(right) in _LOOPBACK):
        rule.not_loopback = True
        return
    if op not in ("==", "in"):
        raise Unmappable(f"operator {op}")
    if "meta" in left:
        key = left["meta"].get("key")
        if key in ("iifname", "oifname") and isinstance(right, str):
            if key == "iifname":
                rule.iif = right
            else:
                rule.oif = right
        elif key == "nfproto" and right in ("ipv4", "ipv6"):
            rule.bind(4 if right == "ipv4" else 6)
        elif key == "l4proto" and right in _PROTOS:
            rule.set_proto(_PROTOS[right])
        else:
            raise Unmappable(f"meta {key}")
    elif "payload" in left:
        proto, what = left["payload"].get("protocol"), left["payload"].get("field")
        if proto in ("ip", "ip6") and what in ("saddr", "daddr"):
            rule.bind(4 if proto == "ip" else 6)
            if what == "saddr":
                rule.src = _address(right)
            else:
                rule.dst = _address(right)
        elif (proto, what) in (("ip", "protocol"), ("ip6", "nexthdr")) and right in _PROTOS:
            rule.bind(4 if proto == "ip" else 6)
            rule.set_proto(_PROTOS[right])
        elif proto in ("tcp", "udp") and what in ("sport", "dport"):
            rule.set_proto(proto)
            if what == "sport":
                rule.sport = _port(right)
            else:
                rule.dport = _port(right)
        else:
            raise Unmappable(f"{proto} {what}")
    elif "ct" in left and left["ct"].get("key") == "state":
        states = [right] if isinstance(right, str) else right
        if not isinstance(states, list) or not all(s in _STATES for s in states):
            raise Unmappable(f"ct state {right!r}")
        rule.states = [s for s in _STATES if s in states]
    elif "fib" in left and left["fib"].get("flags") == ["daddr"] and left["fib"].get("result") == "type" \
            and right == "local":
        rule.local = True
    else:
        raise Unmappable(next(iter(left), "match"))


def _verdict(rule: Rule, key: str, value: Any) -> None:
    if rule.verdict:
        raise Unmappable("two verdicts")
    if key in ("accept", "drop", "masquerade"):
        if key == "masquerade" and value:
            raise Unmappable("masquerade with options")
        rule.verdict = key
    elif key == "reject":
        kind = (value or {}).get("type")
        code = (value or {}).get("expr")
        if kind == "tcp reset":
            rule.verdict = "reset"
        elif kind in (None, "icmpx", "icmp", "icmpv6") and code in (None, "port-unreachable"):
            rule.verdict = "reject"
        else:
            raise Unmappable(f"reject with {kind} {code}")
    elif key in ("snat", "dnat") and isinstance(value, dict) and isinstance(value.get("addr"), str):
        if set(value) - {"family", "addr", "port"}:
            raise Unmappable(f"{key} with {sorted(set(value) - {'family', 'addr', 'port'})}")
        rule.verdict = key
        rule.nat_to = (value["addr"], value.get("port"))
        rule.bind(_FAMILY.get(value.get("family", "inet")))
    else:
        raise Unmappable(f"verdict {key}")


def parse_rule(expr: Iterable[Any], family: int | None) -> Rule:
    """One rule's expressions; Unmappable when one of them is not a form of the format."""
    rule = Rule()
    rule.bind(family)
    for e in expr:
        if not isinstance(e, dict) or len(e) != 1:
            raise Unmappable("expression")
        key, value = next(iter(e.items()))
        if key == "match":
            _match(rule, value)
        elif key == "counter":
            continue
        else:
            _verdict(rule, key, value)
    if not rule.verdict:
        raise Unmappable("no verdict: it only counts or logs, and decides nothing")
    return rule


def filter_rule(rule: Rule, families: set[int]) -> dict[str, Any]:
    """A filter rule in the file's words (RuleDoc); Unmappable when its family cannot be said."""
    if rule.verdict not in ("accept", "drop", "reject", "reset") or rule.local or rule.not_loopback:
        raise Unmappable(f"{rule.verdict or 'match'} in a filter chain")
    said = rule.src is not None or rule.dst is not None or rule.proto in ("icmp", "icmpv6")
    if rule.family is not None and not said and families - {rule.family}:
        raise Unmappable(f"a match of IPv{rule.family} only, on a node with addresses of both families")
    doc: dict[str, Any] = {}
    for key, value in (("in", rule.iif), ("out", rule.oif), ("from", rule.src), ("to", rule.dst),
                       ("proto", rule.proto), ("sport", rule.sport), ("dport", rule.dport)):
        if value is not None:
            doc[key] = value
    if rule.states:
        doc["state"] = rule.states
    doc["action"] = rule.verdict
    return doc


def _target(addr: str, port: int | None, default: int) -> str:
    p = port if port is not None else default
    return f"[{addr}]:{p}" if ":" in addr else f"{addr}:{p}"


def forward(rule: Rule) -> dict[str, Any]:
    """A prerouting DNAT rule as a port forward (PortForwardDoc)."""
    if rule.verdict != "dnat" or rule.nat_to is None or rule.proto not in ("tcp", "udp") \
            or not isinstance(rule.dport, int) or rule.sport is not None or rule.src is not None or rule.oif \
            or rule.states or rule.not_loopback or (rule.local == (rule.dst is not None)):
        raise Unmappable("a DNAT the format's port forward cannot say")
    doc: dict[str, Any] = {"proto": rule.proto, "port": rule.dport, "to": _target(*rule.nat_to, rule.dport)}
    if rule.iif is not None:
        doc["in"] = rule.iif
    if rule.dst is not None:
        if "/" in rule.dst:
            raise Unmappable("a DNAT of a whole prefix")
        doc["address"] = rule.dst
    return doc


def source_nat(rule: Rule) -> dict[str, Any]:
    """A postrouting masquerade or SNAT rule (NatDoc)."""
    if rule.src is None or rule.proto or rule.iif or rule.states or rule.local or rule.sport or rule.dport:
        raise Unmappable("a source NAT the format cannot say")
    if rule.verdict == "masquerade" and rule.oif is not None and rule.dst is None:
        return {"masquerade": rule.src, "out": rule.oif}
    if rule.verdict == "snat" and rule.nat_to is not None and rule.nat_to[1] is None:
        doc: dict[str, Any] = {"snat": rule.src, "to": rule.nat_to[0]}
        if rule.oif is not None:
            doc["out"] = rule.oif
        if rule.dst is not None:
            doc["dst"] = rule.dst
        return doc
    raise Unmappable(f"{rule.verdict} the format cannot say")


def _describe(chain: str, expr: Any) -> str:
    """A rule for a note: its expressions as nft's JSON, without counters' running numbers."""
    steady = [{"counter": None} if isinstance(e, dict) and "counter" in e else e for e in expr] \
        if isinstance(expr, list) else expr
    return f"chain {chain}: {json.dumps(steady, separators=(',', ':'))}"


#: iptables' tables, and the built-in chain iptables-nft names after each hook
_IPT_TABLES = ("filter", "nat", "mangle", "raw", "security")
_IPT_CHAINS = {"prerouting": "PREROUTING", "input": "INPUT", "forward": "FORWARD", "output": "OUTPUT",
               "postrouting": "POSTROUTING"}


def iptables_nft_tables(objects: Iterable[dict[str, Any]]) -> frozenset[tuple[str, str]]:
    """(family, name) of the tables iptables-nft made: an ip/ip6 table named as iptables' whose base chains are
    named as iptables' built-in ones (their rules hold `xt` expressions nft's JSON does not spell out)."""
    tables: dict[tuple[str, str], bool] = {}
    for obj in objects:
        c = obj.get("chain")
        if not isinstance(c, dict) or c.get("family") not in ("ip", "ip6") or c.get("table") not in _IPT_TABLES:
            continue
        key = (c["family"], c["table"])
        if c.get("hook") is not None:
            tables[key] = tables.get(key, True) and _IPT_CHAINS.get(c["hook"]) == c.get("name")
    return frozenset(k for k, ok in tables.items() if ok)


def map_ruleset(objects: Iterable[dict[str, Any]], families: set[int],
                skip: frozenset[tuple[str, str]] = frozenset()) -> Mapped:
    """Every table of a namespace's ruleset, in the file's words where it can be said; `families`: the IP
    families the node has addresses of (a rule bound to one family is exact when the node has no other);
    `skip`: (family, table) read from elsewhere (iptables-nft's tables, read by iptables-save)."""
    out = Mapped()
    chains: dict[tuple[str, str, str], dict[str, Any]] = {}
    rules: dict[tuple[str, str, str], list[Any]] = {}
    for obj in objects:
        if "chain" in obj or "rule" in obj:
            o = obj.get("chain") or obj.get("rule") or {}
            if (o.get("family"), o.get("table")) in skip:
                continue
        if "chain" in obj:
            c = obj["chain"]
            chains[(c["family"], c["table"], c["name"])] = c
        elif "rule" in obj:
            r = obj["rule"]
            rules.setdefault((r["family"], r["table"], r["chain"]), []).append(r.get("expr", []))
    locals_: list[dict[str, Any]] = []
    filter_from: dict[str, str] = {}
    for key, c in chains.items():
        fam, table, name = key
        where = f"table {fam} {table} chain {name}"
        body = rules.get(key, [])
        hook, kind = c.get("hook"), c.get("type")
        if fam not in _FAMILY:
            if body or c.get("policy", "accept") != "accept":
                out.notes.append(f"{where} ({fam} family): not read into the file")
            continue
        if hook is None:
            continue  # a regular chain: it acts only when a rule jumps there, and such a rule is a note itself
        policy = c.get("policy", "accept")
        if kind == "filter" and hook in FILTER_HOOKS:
            if policy == "drop" and _FAMILY[fam] is not None and families - {_FAMILY[fam]}:
                out.notes.append(f"{where}: policy drop for IPv{_FAMILY[fam]} only, on a node with addresses of "
                                 "both families: not said in the file")
                policy = "accept"
            mapped: list[dict[str, Any]] = []
            for expr in body:
                try:
                    mapped.append(filter_rule(parse_rule(expr, _FAMILY[fam]), families))
                except Unmappable as why:
                    out.notes.append(f"{_describe(name, expr)} in {fam} {table}: not said in the file ({why})")
            if not mapped and policy == "accept":
                continue
            if hook in out.filter:
                out.notes.append(f"{where}: a second {hook} filter chain (after {filter_from[hook]}): "
                                 "not said in the file")
                continue
            out.filter[hook] = {"policy": policy, "rules": mapped}
            filter_from[hook] = where
        elif kind == "nat" and hook in ("prerouting", "postrouting", "output"):
            for expr in body:
                try:
                    place_nat(parse_rule(expr, _FAMILY[fam]), hook, out, locals_)
                except Unmappable as why:
                    out.notes.append(f"{_describe(name, expr)} in {fam} {table}: not said in the file ({why})")
        elif body or policy != "accept":
            out.notes.append(f"{where} (type {kind}, hook {hook}): not read into the file")
    mark_local(out, locals_)
    return out


def combine(first: Mapped, second: Mapped) -> Mapped:
    """Two sources' mappings of one namespace (nft's tables, then iptables'): a hook filtered by both is said
    from the first only, the second's chain a note."""
    out = Mapped(first.nat + second.nat, first.port_forwards + second.port_forwards, dict(first.filter),
                 first.notes + second.notes)
    if first.nat and second.nat:
        out.notes.append("source NAT in both nftables and iptables: said in that order, which the kernel's "
                         "hook priorities may not keep")
    for hook, chain in second.filter.items():
        if hook in out.filter:
            out.notes.append(f"iptables filter {hook} {chain}: a second {hook} filter chain (after nftables'): "
                             "not said in the file")
        else:
            out.filter[hook] = chain
    return out


def place_nat(rule: Rule, hook: str, out: Mapped, locals_: list[dict[str, Any]]) -> None:
    """A NAT rule of `hook` (prerouting, postrouting or output; nft's names) as the file says it: a port forward, a
    source NAT, or a forward of the node's own traffic (collected in `locals_` for mark_local). Raises Unmappable."""
    if hook == "prerouting":
        out.port_forwards.append(forward(rule))
    elif hook == "postrouting":
        out.nat.append(source_nat(rule))
    else:
        locals_.append(local_forward(rule))


def mark_local(out: Mapped, locals_: list[dict[str, Any]]) -> None:
    """Mark the port forward each nat-output DNAT (`_local`'s form) belongs to as `local`; a note for one
    that belongs to none."""
    for loc in locals_:
        same = next((f for f in out.port_forwards if not f.get("local") and
                     {k: v for k, v in f.items() if k != "in"} == loc and "in" not in f), None)
        if same is None:
            out.notes.append(f"nat output DNAT {loc}: no port forward to mark local: not said in the file")
        else:
            same["local"] = True


def local_forward(rule: Rule) -> dict[str, Any]:
    """A nat-output DNAT (a `local` port forward's second half), as the port forward it belongs to says it."""
    if rule.iif is not None or (rule.dst is None and not rule.not_loopback):
        raise Unmappable("an output-hook DNAT the format cannot say")
    rule.not_loopback = False
    return forward(rule)
