"""A node's packet filter on the diagram: the chains' policies and rule counts, the rules in order, the listeners.

Also where a traced flow was denied (render --trace): the chain and the rule whose verdict ended it, found from the
simulator's FILTER step, so that the node's box can mark them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from topograph.model import FilterChain, FilterRule, Hook, Node, RuleAction
from topograph.render import style
from topograph.render.labels import left_lines, mono, small
from topograph.sim.trace import Action, Disposition, FlowResult, Trace

SHORT = {Hook.INPUT: "in", Hook.FORWARD: "fwd", Hook.OUTPUT: "out"}  # the summary line's chain names
ACTION_WIDTH = max(len(a) for a in RuleAction)  # rules' matches line up after the widest action
DENIALS = (Disposition.FILTER_DROPPED, Disposition.FILTER_REJECTED)
_LINE = re.compile(r":(\d+)(?::\d+)?\b")  # file:line[:col] of the rule a FILTER step names


@dataclass(frozen=True, slots=True)
class Denied:
    """Where a traced flow was denied: the node, the chain (None: not named) and the rule (None: the policy)."""

    node: str
    hook: Hook | None
    rule: int | None  # index into the chain's rules
    detail: str  # the FILTER step's own words


def chains(node: Node) -> list[FilterChain]:
    """All three chains in hook order; a chain the file does not write accepts everything (policy accept, no rules)."""
    return [node.chain(hook) or FilterChain(hook) for hook in Hook]


def action_color(action: RuleAction) -> str:
    return style.ALLOW if action is RuleAction.ACCEPT else style.DENY


def _policy(chain: FilterChain, denied: Denied | None) -> str:
    hit = denied is not None and denied.hook is chain.hook
    text = f"{SHORT[chain.hook]} {chain.policy} ({len(chain.rules)})"
    word = mono(text, size=style.SMALL, color=action_color(chain.policy))
    return f"<B><U>{word}</U></B>" if hit else word


def summary_text(node: Node, denied: Denied | None = None) -> str:
    """'filter  in drop (5) · fwd drop (3) · out accept (0)': each chain's policy, coloured, and its rule count;
    the chain that denied a traced flow is bold and underlined."""
    parts = f" {small('·')} ".join(_policy(c, denied) for c in chains(node))
    return f"{small('<B>filter</B>', style.FILTER)}  {parts}"


def rule_line(number: int, rule: FilterRule, hit: bool = False) -> str:
    """' 3 accept to 192.168.15.2 tcp dport 80': numbered as in the chain, the action coloured by its verdict."""
    action = str(rule.action)
    matches = rule.describe()[len(action):].strip() or "(every packet)"
    head = mono(f"{number:>2} ", size=style.SMALL, color=style.MUTED)
    verb = mono(action.ljust(ACTION_WIDTH), size=style.SMALL, color=action_color(rule.action))
    text = mono(f" {matches}", size=style.SMALL)
    line = f"{head}<B>{verb}</B>{text}"
    return f"{line}{mono('  ◀ denied the flow', size=style.SMALL, color=style.DENY)}" if hit else line


def rules_text(node: Node, denied: Denied | None = None) -> str:
    """Each chain the file writes: its rules numbered in order, then its policy for what no rule decided."""
    lines: list[str] = []
    for chain in node.filter:
        hit = denied is not None and denied.hook is chain.hook
        lines.append(small(f"<B>{chain.hook}</B>", style.FILTER))
        for i, rule in enumerate(chain.rules):
            lines.append(rule_line(i + 1, rule, hit and denied is not None and denied.rule == i))
        verb = (mono(f"   {'policy'.ljust(ACTION_WIDTH)} ", size=style.SMALL, color=style.MUTED)
                + f"<B>{mono(str(chain.policy), size=style.SMALL, color=action_color(chain.policy))}</B>")
        policy_hit = hit and denied is not None and denied.rule is None
        lines.append(f"{verb}{mono('  ◀ denied the flow', size=style.SMALL, color=style.DENY)}" if policy_hit else verb)
    return left_lines(lines)


def listen_text(node: Node) -> str:
    ports = " ".join(str(p) for p in node.listen)
    return f"{small('<B>listens</B>', style.TEXT)}  {mono(ports, size=style.SMALL)}"


def cells(node: Node, with_rules: bool, denied: Denied | None = None) -> list[str]:
    """The rows a node's box gets: the filter's summary (a node with a filter section), and with the rules shown,
    the rules and the ports something listens on."""
    mine = denied if denied is not None and denied.node == node.name else None
    out = [summary_text(node, mine)] if node.filter else []
    if with_rules and node.filter:
        out.append(rules_text(node, mine))
    if with_rules and node.listen:
        out.append(listen_text(node))
    return out


def denied_text(where: Denied, node: Node) -> str:
    """The denial in the model's words, for the trace's marker: "host's input chain, rule 5: reset tcp"."""
    chain = node.chain(where.hook) if where.hook is not None else None
    if chain is None:
        return f"{where.node}'s filter: {where.detail}"
    if where.rule is None:
        return f"{where.node}'s {chain.hook} chain, its policy: {chain.policy}"
    return f"{where.node}'s {chain.hook} chain, rule {where.rule + 1}: {chain.rules[where.rule].describe()}"


def denied(result: FlowResult, nodes: dict[str, Node]) -> Denied | None:
    """The chain and rule that denied a flow (its disposition FILTER_DROPPED or FILTER_REJECTED): the last FILTER
    step of the leg that ended so; None for any other outcome, or when no FILTER step says where."""
    if result.disposition not in DENIALS:
        return None
    legs = [t for t in (result.reply, result.request) if t is not None]
    leg = next((t for t in legs if t.disposition in DENIALS), None)
    found = _last_filter_step(leg) if leg is not None else None
    if found is None:
        return None
    name, detail = found
    node = nodes.get(name)
    hook = _hook_in(detail)
    rule = _rule_in(node.chain(hook), detail) if node is not None and hook is not None else None
    return Denied(name, hook, rule, detail)


def _last_filter_step(trace: Trace) -> tuple[str, str] | None:
    for hop in reversed(trace.hops):
        for step in reversed(hop.steps):
            if step.action is Action.FILTER:
                return hop.node, step.detail
    return None


def _hook_in(detail: str) -> Hook | None:
    """The chain a FILTER step names: the first of input/forward/output it mentions as a word."""
    words = re.findall(r"[a-z]+", detail.lower())
    return next((Hook(w) for w in words if w in {h.value for h in Hook}), None)


def _rule_in(chain: FilterChain | None, detail: str) -> int | None:
    """The rule a FILTER step names, by the line it was written on (file:line), else by its own words;
    None when the step names none (the chain's policy decided)."""
    if chain is None:
        return None
    lines = {int(m.group(1)) for m in _LINE.finditer(detail)}
    for i, rule in enumerate(chain.rules):
        if rule.where is not None and rule.pos is not None and rule.pos.line in lines:
            return i
    if "policy" in detail:
        return None
    for i, rule in enumerate(chain.rules):
        if rule.describe() in detail:
            return i
    return None
