"""A node's `filter:` and `listen:` sections, resolved into the model (FilterChain, FilterRule, Listen).

Every problem is reported where it was written: a port on a rule that matches no port-carrying protocol,
a TCP reset on a rule that may match something else than TCP, IPv4 and IPv6 mixed in one rule, an
interface the node lacks or one the chain never sees (an outgoing interface in input, an incoming one in
output).
"""

from __future__ import annotations

import re
from typing import Protocol

from topograph.front import document as doc
from topograph.front.diagnostics import PathKey, Where
from topograph.front.loader import Source
from topograph.front.quoting import quote
from topograph.model import CtState, FilterChain, FilterRule, Hook, IPNetwork, Listen, PortRange, Proto, RuleAction

_PORTS = re.compile(r"\s*(\d{1,5})\s*(?:[-:]\s*(\d{1,5})\s*)?")
_LISTEN = re.compile(r"\s*(tcp|udp)\s*/\s*(\d{1,5})\s*")
_PROTOS = {"icmp": (Proto.ICMP, 4), "icmpv6": (Proto.ICMP, 6), "tcp": (Proto.TCP, None), "udp": (Proto.UDP, None)}
_ACTIONS = {a.value: a for a in RuleAction}
_STATES = {s.value: s for s in CtState}


class _Reader(Protocol):
    """What the resolver offers this module (front.resolve._Builder)."""

    src: Source

    def err(self, code: str, path: PathKey, message: str, hint: str | None = None, *, key: bool = False) -> None: ...

    def network(self, text: str, path: PathKey, what: str) -> IPNetwork | None: ...

    def known_dev(self, dev: str, path: PathKey, node: str, names: set[str]) -> bool: ...


def chains(r: _Reader, fd: doc.FilterDoc | None, base: PathKey, node: str, names: set[str]) -> tuple[FilterChain, ...]:
    """The chains `fd` writes, in hook order; a rule with a problem is reported and left out."""
    if fd is None:
        return ()
    out = []
    for hook in Hook:
        cd: doc.ChainDoc | None = getattr(fd, hook.value)
        if cd is None:
            continue
        path: PathKey = (*base, "filter", hook.value)
        rules = tuple(rule for i, rd in enumerate(cd.rules)
                      if (rule := _rule(r, rd, (*path, "rules", i), hook, node, names)) is not None)
        out.append(FilterChain(hook=hook, policy=_ACTIONS[cd.policy], rules=rules, where=Where(r.src, path, True)))
    return tuple(out)


def ports(r: _Reader, value: int | str, path: PathKey) -> PortRange | None:
    """A port (22) or an inclusive range ("1000-2000"), each port 1..65535."""
    m = _PORTS.fullmatch(value) if isinstance(value, str) else None
    if isinstance(value, int):
        first, last = value, value
    elif m is not None:
        first = int(m[1])
        last = int(m[2]) if m[2] else first
    else:
        r.err("TG601", path, f"port {quote(value)} is neither a port nor a range of ports",
              hint="write one port (22) or a range (1000-2000)")
        return None
    if not (1 <= first <= 65535 and 1 <= last <= 65535):
        r.err("TG601", path, f"port {value} is out of range", hint="ports run from 1 to 65535")
        return None
    if last < first:
        r.err("TG601", path, f"port range {value} runs backwards", hint=f"write {last}-{first}")
        return None
    return PortRange(first, last)


def _rule(r: _Reader, rd: doc.RuleDoc, path: PathKey, hook: Hook, node: str, names: set[str]) -> FilterRule | None:
    ok = True
    src = dst = None
    if rd.from_ is not None:
        src = r.network(rd.from_, (*path, "from"), "rule source")
        ok = src is not None
    if rd.to is not None:
        dst = r.network(rd.to, (*path, "to"), "rule destination")
        ok = dst is not None and ok
    proto, family = _PROTOS[rd.proto] if rd.proto is not None else (None, None)
    families = {f for f in (family, src and src.version, dst and dst.version) if f}
    if len(families) > 1:
        what = ", ".join(f"{k} {v}" for k, v in (("from", rd.from_), ("to", rd.to), ("proto", rd.proto)) if v)
        r.err("TG205", path, f"rule mixes IPv4 and IPv6 ({what})",
              hint="a rule matches one family: use icmpv6 for IPv6, icmp for IPv4, and addresses of one family")
        ok = False
    dport = sport = None
    for key, value in (("dport", rd.dport), ("sport", rd.sport)):
        if value is None:
            continue
        if proto not in (Proto.TCP, Proto.UDP):
            r.err("TG600", (*path, key), f"a {key} match needs 'proto: tcp' or 'proto: udp'"
                  + (f", not {rd.proto}" if rd.proto else ""),
                  hint="add 'proto: tcp' (or udp)" if rd.proto is None else f"drop '{key}': {rd.proto} has no ports")
            ok = False
            continue
        got = ports(r, value, (*path, key))
        ok = got is not None and ok
        if key == "dport":
            dport = got
        else:
            sport = got
    action = _ACTIONS[rd.action]
    if action is RuleAction.RESET and proto is not Proto.TCP:
        r.err("TG602", (*path, "action"), "a TCP reset answers TCP only, but this rule matches "
              + (f"{rd.proto}" if rd.proto else "every protocol"),
              hint="add 'proto: tcp' to the rule, or use 'action: reject' (an ICMP port unreachable)")
        ok = False
    for key, dev, never in (("in", rd.in_, Hook.OUTPUT), ("out", rd.out, Hook.INPUT)):
        if dev is None:
            continue
        if hook is never:
            why = ("packets for the node itself leave by no interface" if key == "out"
                   else "the node's own packets come in on no interface")
            r.err("TG603", (*path, key), f"'{key}: {dev}' never matches in the {hook} chain: {why}",
                  hint=f"drop '{key}', or move the rule to the forward chain")
            ok = False
        elif not r.known_dev(dev, (*path, key), node, names):
            ok = False
    if rd.state is not None and not rd.state:  # else it would match every state: surely not what was meant
        r.err("TG608", (*path, "state"), "an empty state list ('state: []') names no connection state",
              hint="leave out 'state:' to match packets in any state, or name the states, e.g. [established, related]")
        ok = False
    if not ok:
        return None
    states = frozenset(_STATES[s] for s in rd.state or ())
    return FilterRule(action=action, src=src, dst=dst, proto=proto, family=families.pop() if families else None,
                      dport=dport, sport=sport, in_interface=rd.in_, out_interface=rd.out, states=states,
                      where=Where(r.src, path))


def listens(r: _Reader, entries: list[str], base: PathKey) -> tuple[Listen, ...]:
    """`listen: [tcp/22, udp/53]`: the ports a node's servers listen on."""
    out: list[Listen] = []
    seen: set[tuple[Proto, int]] = set()
    for i, text in enumerate(entries):
        path: PathKey = (*base, "listen", i)
        m = _LISTEN.fullmatch(text)
        if m is None or not 1 <= int(m[2]) <= 65535:
            r.err("TG604", path, f"listen entry {quote(text)} is not PROTO/PORT",
                  hint="write e.g. tcp/22 or udp/53 (ports 1 to 65535)")
            continue
        key = (Proto(m[1]), int(m[2]))
        if key in seen:
            r.err("TG103", path, f"{text.strip()} is listed twice", hint="drop one of them")
            continue
        seen.add(key)
        out.append(Listen(proto=key[0], port=key[1], where=Where(r.src, path)))
    return tuple(out)
