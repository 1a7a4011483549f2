"""Indexes of a chain's earlier filter rules, for the shadowed-rule check (TG510): which earlier rules may cover a
later one, by one field each, so that a chain of thousands of rules is not compared pair by pair.

An earlier rule covers a later one only when each of its fields is unset or holds the later rule's: a prefix
containing the later one's (or the whole family for a later rule without one), a port range containing the
later one's (a rule with a port never covers one without). Each index answers, for its field, the earlier rules
that pass that field's test or may; the check then tries only the shortest answer of all indexes, in order.
"""

from __future__ import annotations

import bisect
import ipaddress
import sys
from collections.abc import Callable

from topograph.model import FilterRule, IPNetwork, PortRange

Chunks = list[list[int]]  # rule numbers, in lists as the index keeps them (no copy until one answer is chosen)

_WHOLE = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}


class PrefixIndex:
    """Earlier rules by one prefix field (source or destination)."""

    def __init__(self, field: Callable[[FilterRule], IPNetwork | None]) -> None:
        self.field = field
        self.by: dict[IPNetwork | None, list[int]] = {}
        self.lengths: dict[int, set[int]] = {4: set(), 6: set()}
        self.count = 0

    def add(self, i: int, rule: FilterRule) -> None:
        value = self.field(rule)
        self.by.setdefault(value, []).append(i)
        self.count += 1
        if value is not None:
            self.lengths[value.version].add(value.prefixlen)

    def candidates(self, later: FilterRule) -> Chunks:
        value = self.field(later)
        out = [self.by.get(None, [])]
        if value is not None:
            out += [self.by.get(value.supernet(new_prefix=n), []) for n in self.lengths[value.version]
                    if n <= value.prefixlen]
        elif later.family is not None:
            out.append(self.by.get(_WHOLE[later.family], []))
        return out

    def overlapping(self, match: FilterRule) -> Chunks | None:
        """The rules that may match a packet `match` matches, when its field is one host (None: no narrowing)."""
        value = self.field(match)
        if value is None or value.prefixlen != value.max_prefixlen:
            return None
        return self.candidates(match)  # the prefixes holding a host: those of its supernets, itself included


class PortIndex:
    """Earlier rules by one port field (destination or source port): unset, one port, or a range.

    Ranges are kept by width class k (a width of 2**k up to 2**(k+1) - 1 ports), each sorted by first port: one
    that contains a later range starting at port a starts after a - 2**(k+1), at a at the latest.
    """

    def __init__(self, field: Callable[[FilterRule], PortRange | None]) -> None:
        self.field = field
        self.unset: list[int] = []
        self.by_port: dict[int, list[int]] = {}
        self.ranges: dict[int, list[tuple[int, int]]] = {}  # width class -> (first port, rule number), sorted

    def add(self, i: int, rule: FilterRule) -> None:
        value = self.field(rule)
        if value is None:
            self.unset.append(i)
        elif value.first == value.last:
            self.by_port.setdefault(value.first, []).append(i)
        else:
            bisect.insort(self.ranges.setdefault((value.last - value.first).bit_length() - 1, []), (value.first, i))

    def candidates(self, later: FilterRule) -> Chunks:
        value = self.field(later)
        if value is None:  # a rule with a port covers no rule without one
            return [self.unset]
        out = [self.unset]
        for k, ranges in self.ranges.items():
            lo = bisect.bisect_left(ranges, (value.first - 2 ** (k + 1) + 1, -1))
            hi = bisect.bisect_right(ranges, (value.first, sys.maxsize))
            out.append([i for _, i in ranges[lo:hi]])
        if value.first == value.last:  # one port's rule covers no range
            out.append(self.by_port.get(value.first, []))
        return out

    def overlapping(self, match: FilterRule) -> Chunks | None:
        """The rules that may match a packet `match` matches, when its field is one port (None: no narrowing)."""
        value = self.field(match)
        if value is None or value.first != value.last:
            return None
        return self.candidates(match)  # unset, the ranges that may hold the port, and the port's own


def earlier_indexes() -> list[PrefixIndex | PortIndex]:
    """One index per field that narrows: destination, source, destination port, source port."""
    return [PrefixIndex(lambda r: r.dst), PrefixIndex(lambda r: r.src), PortIndex(lambda r: r.dport),
            PortIndex(lambda r: r.sport)]


def fewest(answers: list[Chunks]) -> list[int]:
    """The shortest of the indexes' answers, as rule numbers in order."""
    best = min(answers, key=lambda chunks: sum(len(c) for c in chunks))
    return sorted(j for chunk in best for j in chunk)


def chain_indexes(rules: tuple[FilterRule, ...]) -> list[PrefixIndex | PortIndex]:
    """The indexes of a whole chain, for `in_order`."""
    indexes = earlier_indexes()
    for i, rule in enumerate(rules):
        for ix in indexes:
            ix.add(i, rule)
    return indexes


def positions(indexes: list[PrefixIndex | PortIndex], match: FilterRule,
              never_to: IPNetwork | None = None) -> list[int] | None:
    """The numbers (0-based, in order) of the chain's rules that may match a packet `match` matches; None when no
    index narrows (`match` has no single host or port). With `never_to`, a host the packets never go to, without
    the rules whose destination is that host (the first index is the destination's)."""
    answers = [a for ix in indexes if (a := ix.overlapping(match)) is not None]
    dst = indexes[0]
    if never_to is not None and never_to.prefixlen == never_to.max_prefixlen and isinstance(dst, PrefixIndex):
        elsewhere = dst.count - len(dst.by.get(never_to, []))
        if not answers or elsewhere < min(sum(len(c) for c in a) for a in answers):
            answers = [[lst for key, lst in dst.by.items() if key != never_to]]
    return fewest(answers) if answers else None


def in_order(rules: tuple[FilterRule, ...], indexes: list[PrefixIndex | PortIndex], match: FilterRule,
             never_to: IPNetwork | None = None) -> list[FilterRule]:
    """The rules of the chain that may match a packet `match` matches, in chain order (`positions`)."""
    found = positions(indexes, match, never_to)
    return list(rules) if found is None else [rules[i] for i in found]
