"""A node's filter chains as data, and their exact nftables / iptables-restore text.

Semantics (both back ends alike), as the model says (model.FilterChain, FilterRule): a chain is
evaluated at its hook (input, forward, output); its rules in order, the first that matches decides;
what no rule decides gets the chain's policy. `reject` answers with an ICMP (ICMPv6) port
unreachable, `reset` with a TCP reset.

- nftables: a base chain `input` / `forward` / `output` of type filter in the node's own table
  `inet <table>` (loaded in the same transaction as its NAT), with the policy as the chain's own.
- iptables: a chain of the lab's own per hook in the *filter* table, hooked from INPUT / FORWARD /
  OUTPUT; the policy drop is the chain's last rule `-j DROP`, so no built-in chain's policy is ever
  changed. A rule bound to one family (an address, icmp or icmpv6) goes into that family's table
  only; one bound to none into both.

The texts are produced here (not in templates) so that the shell renderer and `apply` load exactly
the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from topograph.model import CtState, FilterChain, FilterRule, Hook, PortRange, Proto, RuleAction

#: The built-in iptables chain that calls the lab's chain of each hook.
IPTABLES_HOOKS = {Hook.INPUT: "INPUT", Hook.FORWARD: "FORWARD", Hook.OUTPUT: "OUTPUT"}

_NFT_VERDICTS = {RuleAction.ACCEPT: "accept", RuleAction.DROP: "drop", RuleAction.REJECT: "reject",
                 RuleAction.RESET: "reject with tcp reset"}


def nft_string(text: str) -> str:
    """An nft quoted string; names were validated (no quotes), this keeps a hand-made plan from escaping."""
    if '"' in text or "\\" in text or "\n" in text or not text:
        raise ValueError(f"cannot use {text!r} in an nftables rule")
    return f'"{text}"'


def _iptables_word(text: str) -> str:
    """An interface name as an iptables-restore word; names were validated, this guards hand-made plans."""
    if not text or any(c.isspace() or c in "\"'\\#" for c in text):
        raise ValueError(f"cannot use {text!r} in an iptables rule")
    return text


def _states(states: frozenset[CtState]) -> list[CtState]:
    return [s for s in CtState if s in states]


def _nft_rule(rule: FilterRule) -> str:
    """One rule in nft's words: interfaces, addresses, protocol and ports, conntrack state, verdict."""
    words: list[str] = []
    if rule.in_interface is not None:
        words.append(f"iifname {nft_string(rule.in_interface)}")
    if rule.out_interface is not None:
        words.append(f"oifname {nft_string(rule.out_interface)}")
    for what, net in (("saddr", rule.src), ("daddr", rule.dst)):
        if net is not None:
            host = net.prefixlen == net.max_prefixlen  # one address, as people write it
            words.append(f"{'ip' if net.version == 4 else 'ip6'} {what} {net.network_address if host else net}")
    addressed = rule.src is not None or rule.dst is not None  # the family is fixed by an address
    if rule.proto is Proto.ICMP:
        if rule.family == 6:
            words.append("meta l4proto ipv6-icmp" if addressed else "meta nfproto ipv6 meta l4proto ipv6-icmp")
        else:
            words.append("ip protocol icmp" if addressed else "meta nfproto ipv4 ip protocol icmp")
    elif rule.proto is not None:
        ports = [f"{rule.proto} {what} {_nft_ports(p)}" for what, p in (("sport", rule.sport), ("dport", rule.dport))
                 if p is not None]
        if rule.family is not None and not addressed:  # a hand-made rule: tcp bound to one family
            words.append(f"meta nfproto ipv{rule.family}")
        words += ports or [f"meta l4proto {rule.proto}"]
    if rule.states:
        words.append("ct state " + ",".join(_states(rule.states)))
    words.append(_NFT_VERDICTS[rule.action])
    return " ".join(words)


def _nft_ports(p: PortRange) -> str:
    return str(p.first) if p.first == p.last else f"{p.first}-{p.last}"


def _ipt_ports(p: PortRange) -> str:
    return str(p.first) if p.first == p.last else f"{p.first}:{p.last}"


def _in_family(rule: FilterRule, family: int) -> bool:
    return rule.family is None or rule.family == family


def _ipt_rule(rule: FilterRule, chain: str, family: int) -> str:
    """One rule as `iptables-restore` takes it (`-A CHAIN ...`), for `family` (4: iptables, 6: ip6tables)."""
    words = ["-A", chain]
    if rule.src is not None:
        words += ["-s", str(rule.src)]
    if rule.dst is not None:
        words += ["-d", str(rule.dst)]
    if rule.in_interface is not None:
        words += ["-i", _iptables_word(rule.in_interface)]
    if rule.out_interface is not None:
        words += ["-o", _iptables_word(rule.out_interface)]
    if rule.proto is Proto.ICMP:
        words += ["-p", "ipv6-icmp" if family == 6 else "icmp"]
    elif rule.proto is not None:
        words += ["-p", str(rule.proto)]
        if rule.sport is not None or rule.dport is not None:
            words += ["-m", str(rule.proto)]
            if rule.sport is not None:
                words += ["--sport", _ipt_ports(rule.sport)]
            if rule.dport is not None:
                words += ["--dport", _ipt_ports(rule.dport)]
    if rule.states:
        words += ["-m", "conntrack", "--ctstate", ",".join(s.upper() for s in _states(rule.states))]
    match rule.action:
        case RuleAction.ACCEPT:
            words += ["-j", "ACCEPT"]
        case RuleAction.DROP:
            words += ["-j", "DROP"]
        case RuleAction.REJECT:
            words += ["-j", "REJECT", "--reject-with", "icmp6-port-unreachable" if family == 6
                      else "icmp-port-unreachable"]
        case RuleAction.RESET:
            words += ["-j", "REJECT", "--reject-with", "tcp-reset"]
    return " ".join(words)


@dataclass(frozen=True, slots=True)
class FilterChainRules:
    """One filter chain of a node as the plan loads it: its hook, its policy (accept or drop), its rules."""

    hook: Hook
    policy: RuleAction
    rules: tuple[FilterRule, ...]

    @classmethod
    def of(cls, c: FilterChain) -> FilterChainRules:
        return cls(hook=c.hook, policy=c.policy, rules=c.rules)

    def describe(self) -> str:
        """'filter input (policy drop): accept state established,related; drop'"""
        rules = "; ".join(r.describe() for r in self.rules) or "no rules"
        return f"filter {self.hook} (policy {self.policy}): {rules}"

    def in_family(self, family: int) -> bool:
        """Does the chain do anything to packets of `family` (a rule of that family, or a drop policy)?"""
        return self.policy is not RuleAction.ACCEPT or any(_in_family(r, family) for r in self.rules)

    def families(self) -> set[int]:
        return {f for f in (4, 6) if self.in_family(f)}

    def nft(self) -> list[str]:
        """The base chain in nft's words, one line each (unindented): header, rules, closing brace."""
        return [f"chain {self.hook} {{",
                f"\ttype filter hook {self.hook} priority filter; policy {self.policy};",
                *(f"\t{_nft_rule(r)}" for r in self.rules),
                "}"]

    def iptables(self, chain: str, family: int) -> list[str]:
        """The chain's rules in iptables-restore form for `family`, the policy drop as a last `-j DROP`."""
        lines = [_ipt_rule(r, chain, family) for r in self.rules if _in_family(r, family)]
        if self.policy is not RuleAction.ACCEPT:
            lines.append(f"-A {chain} -j DROP")
        return lines
