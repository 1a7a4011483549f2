"""A filter chain's verdict for one packet: the first rule whose every match holds decides, else the policy.

Pure and small: the walker (sim/forward.py) asks it at each hook, the fast matrix never needs it directly (paths
through a filtering node are walked, one source per group of interchangeable sources).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from topograph.front.rule_index import PortIndex, PrefixIndex, chain_indexes, positions
from topograph.model import CtState, FilterChain, FilterRule, Hook, IPAddress, Node, PortRange, Proto, RuleAction


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a chain did with a packet: the action, and the rule that decided (None: the chain's policy)."""

    action: RuleAction
    rule: FilterRule | None
    index: int  # the rule's 1-based number in its chain; 0 for the policy
    chain: FilterChain

    @property
    def passes(self) -> bool:
        return self.action is RuleAction.ACCEPT

    def describe(self) -> str:
        """'accept by rule 2 (lab.yml:12:11) 'accept state established,related'' or 'policy drop (lab.yml:9:9)'."""
        if self.rule is None:
            return f"policy {self.chain.policy}" + (f" ({self.chain.pos})" if self.chain.pos is not None else "")
        at = f" ({self.rule.pos})" if self.rule.pos is not None else ""
        return f"{self.action} by rule {self.index}{at} '{self.rule.describe()}'"

    def cause(self, node: str) -> str:
        """The rule or policy that denied, in a reason: "rule 3 (lab.yml:14:11) 'drop to 10.0.0.0/8'" or
        "the policy drop of NODE's CHAIN chain (lab.yml:9:9)"."""
        if self.rule is None:
            at = f" ({self.chain.pos})" if self.chain.pos is not None else ""
            return f"the policy drop of {node}'s {self.chain.hook} chain{at}"
        at = f" ({self.rule.pos})" if self.rule.pos is not None else ""
        return f"rule {self.index}{at} '{self.rule.describe()}'"


def matches(rule: FilterRule, src: IPAddress, dst: IPAddress, proto: Proto, sport: int, dport: int,
            iif: str | None, oif: str | None, state: CtState | None) -> bool:
    """Does every match of the rule hold for the packet? (sport/dport count for TCP and UDP only; `state` None:
    an untracked packet, such as IPv6 neighbour discovery, which no `state` match takes.)"""
    if rule.family is not None and rule.family != dst.version:
        return False
    if rule.proto is not None and rule.proto is not proto:
        return False
    if rule.src is not None and (rule.src.version != src.version or src not in rule.src):
        return False
    if rule.dst is not None and (rule.dst.version != dst.version or dst not in rule.dst):
        return False
    if rule.dport is not None and (proto is Proto.ICMP or dport not in rule.dport):
        return False
    if rule.sport is not None and (proto is Proto.ICMP or sport not in rule.sport):
        return False
    if rule.in_interface is not None and rule.in_interface != iif:
        return False
    if rule.out_interface is not None and rule.out_interface != oif:
        return False
    return not rule.states or (state is not None and state in rule.states)


#: chains of this many rules are searched through indexes (front/rule_index.py), shorter ones rule by rule
INDEXED_FROM = 128
_indexes: dict[int, tuple[FilterChain, list[PrefixIndex | PortIndex]]] = {}  # id(chain) -> (chain, its indexes)


def evaluate_chain(chain: FilterChain, src: IPAddress, dst: IPAddress, proto: Proto, sport: int, dport: int,
             iif: str | None, oif: str | None, state: CtState | None) -> Verdict:
    """The chain's verdict: the first matching rule's action and the rule, else the policy. A long chain is
    searched only among the rules its indexes let through (thousands of port forwards to as many rules took
    minutes to simulate rule by rule)."""
    numbers: Iterable[int] = range(len(chain.rules))
    if len(chain.rules) >= INDEXED_FROM:
        numbers = _may_match(chain, src, dst, proto, sport, dport)
    for i in numbers:
        rule = chain.rules[i]
        if matches(rule, src, dst, proto, sport, dport, iif, oif, state):
            return Verdict(rule.action, rule, i + 1, chain)
    return Verdict(chain.policy, None, 0, chain)


def _may_match(chain: FilterChain, src: IPAddress, dst: IPAddress, proto: Proto, sport: int,
               dport: int) -> list[int]:
    """The numbers (0-based, in order) of the chain's rules the packet may match, by its addresses and ports."""
    entry = _indexes.get(id(chain))
    if entry is None or entry[0] is not chain:
        if len(_indexes) >= 256:  # a long run simulates many labs: keep the last ones' chains only
            _indexes.clear()
        entry = _indexes[id(chain)] = (chain, chain_indexes(chain.rules))
    ported = proto is not Proto.ICMP
    packet = FilterRule(action=RuleAction.ACCEPT, src=ipaddress.ip_network(src), dst=ipaddress.ip_network(dst),
                        proto=proto, family=dst.version, dport=PortRange(dport, dport) if ported else None,
                        sport=PortRange(sport, sport) if ported else None)
    found = positions(entry[1], packet)
    return list(range(len(chain.rules))) if found is None else found


def chain_of(node: Node, hook: Hook) -> FilterChain | None:
    """The node's chain at `hook` when it can decide anything (None: no chain, every packet passes silently)."""
    return node.chain(hook) if node.filter else None
