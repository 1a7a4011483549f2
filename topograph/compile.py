"""Render a plan to a bash script through the jinja2 templates (setup, or teardown from the reverse).

The templates only present: which commands run, and in which order, comes from the plan; the
checks a script makes first (root, tools, a lab that is not up yet) are computed here. Every value
reaches the shell through `shlex.quote`, and heredoc bodies (nft / iptables-restore input) end with
a delimiter that cannot occur in them, so no topology — even one that bypassed validation — can
inject a command.
"""

from __future__ import annotations

import contextlib
import functools
import posixpath
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, assert_never

import jinja2

from topograph.model import IPNetwork
from topograph.plan import (
    SECTIONS,
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    DeleteAddress,
    DeleteIptables,
    DeleteIptablesRule,
    DeleteLink,
    DeleteNetem,
    DeleteNetns,
    DeleteNftables,
    DeleteRoute,
    EnslavePort,
    LinkDown,
    LinkUp,
    LoadIptables,
    LoadNftables,
    LoopbackUp,
    MarkLink,
    MarkNetns,
    Operation,
    Plan,
    ReleasePort,
    RestoreIptables,
    RestoreNftables,
    RestoreSysctls,
    SetMac,
    SetMtu,
    SetNetem,
    SetSysctls,
    StartService,
    StopService,
    Sysctl,
    VethEnd,
    iptables_restore,
    nft_ruleset,
    reverse,
)
from topograph.plan.setup_ops import SERVICE_ENV

#: What each section of a script does, in words (the comment under its heading).
ABOUT: dict[str, tuple[str, ...]] = {
    "namespaces": ("one network namespace per node, marked as this lab's (the alias of its loopback; the",
                   "teardown script removes only namespaces with this mark), with its loopback up"),
    "sysctls": ("set explicitly in every node, before any interface exists (new interfaces copy 'default'):",
                "forwarding, reverse-path filter, IPv6 addresses usable at once (no DAD), a quiet lab (no router",
                "solicitations; no IPv6 link-local addresses in nodes without IPv6); bridge netfilter where a node",
                "says bridge_netfilter (net.bridge.* exists only with br_netfilter loaded: -e skips it then)"),
    "bridges": ("Linux bridges: virtual switches",),
    "links": ("veth pairs, each end created straight inside its namespace",),
    "interface settings": ("MAC, MTU and bridge ports, while the links are still down",),
    "addresses": (),
    "links up": (),
    "impairments": ("netem on each interface's egress (tc from iproute2): a packet meets the impairments of the "
                    "end it leaves by",),
    "routes": (),
    "NAT and port forwards": ("one atomic load per node, into topograph's own nftables table (or iptables chains)",),
    "services": ("each `run:` command, detached in its node's namespace (a session of its own), its output appended",
                 "to NODE/NAME.log in the lab's service directory; its pid and exit code go next to it"),
    "stop services": ("each service's process group, if its pid is still the service's: SIGTERM, then SIGKILL;",
                      "then its files (log included)"),
    "remove NAT and port forwards": ("the lab's own table (or chains) only",),
    "remove links": ("deleting one end of a veth pair deletes both",),
    "restore sysctls": ("the values this machine had before the set-up script ran",),
    "remove namespaces": ("everything inside goes with them: interfaces, addresses, routes, rules",),
}


#: Sections of multi-line operations, which read better with a blank line between nodes.
SPACED = ("sysctls", "NAT and port forwards")


#: More words for a section that holds operations of these kinds (the links section, in real mode).
ABOUT_MARKS: dict[str, str] = {
    "links": "interfaces made in this machine's own namespace are marked as this lab's (their alias)",
}


@dataclass(frozen=True)
class ScriptSection:
    title: str
    about: tuple[str, ...]
    ops: tuple[Operation, ...]

    @property
    def body(self) -> str:
        """The section's commands: each operation rendered by the macro of its kind (templates/ops.sh.j2)."""
        # the macros are called from here rather than from a template loop: on a lab of 10,000
        # namespaces that loop alone costs more than all the macros together
        macros = environment().get_template("ops.sh.j2").module
        spaced = self.title in SPACED
        lines: list[str] = []
        previous: str | None = None
        for op in self.ops:
            if spaced and previous is not None and op.node != previous:
                lines.append("")
            lines.append(str(getattr(macros, op.KIND)(op)))
            previous = op.node
        return "\n".join(lines)


def commands(ops: Iterable[Operation]) -> list[str]:
    """Each operation's shell commands, by the macro of its kind: what `apply --dry-run --commands` prints."""
    macros = environment().get_template("ops.sh.j2").module
    return [str(getattr(macros, op.KIND)(op)) for op in ops]


def template_dir() -> Path:
    """The installed package's templates (the wheel force-includes them), else the repository's."""
    packaged = Path(__file__).resolve().parent / "templates"
    if (packaged / "setup.sh.j2").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def _heredoc_end(text: str) -> str:
    end = "TOPOGRAPH_EOF"
    lines = set(text.splitlines())
    while end in lines:
        end += "_"
    return end


def _route_to(network: IPNetwork) -> str:
    return "default" if network.prefixlen == 0 else str(network)


def _describe_rules(op: LoadNftables | LoadIptables) -> str:
    return "; ".join([*(r.describe() for r in op.masquerades), *(f"port forward {r.describe()}" for r in op.forwards),
                      *(c.describe() for c in op.filters)])


class _SysctlWords:
    """KEY=VALUE words for `sysctl -w`, remembered per tuple of values.

    Alike namespaces share one tuple of values (plan.build caches them), so the words are made once
    per tuple and found again by the tuple's identity: hashing its dozen values for an ordinary
    cache cost more than making the words. The tuple is held, so its identity stays its own.
    """

    def __init__(self) -> None:
        self._made: dict[tuple[int, str, bool], tuple[tuple[Sysctl, ...], str]] = {}

    def __call__(self, values: tuple[Sysctl, ...], sep: str, optional: bool = False) -> str:
        key = (id(values), sep, optional)
        made = self._made.get(key)
        if made is None or made[0] is not values:
            words = sep.join(shlex.quote(f"{s.key}={s.value}") for s in values if s.optional == optional)
            made = self._made[key] = (values, words)
        return made[1]


def _sysctl_keys(values: tuple[Sysctl, ...]) -> str:
    return " ".join(shlex.quote(s.key) for s in values)


def _comment(value: Any) -> str:
    """Text for a `#` comment: a newline would end the comment, so control characters are escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))


@functools.lru_cache(maxsize=65536)
def _quote(value: Any) -> str:
    # cached: big labs repeat the same namespace and interface names on every line
    return shlex.quote(str(value))


@functools.lru_cache(maxsize=65536)
def _ip(netns: str | None) -> str:
    """`ip` acting in a namespace (`ip -n NS`), or in the current one."""
    return "ip" if netns is None else f"ip -n {_quote(netns)}"


@functools.lru_cache(maxsize=65536)
def _nsexec(netns: str | None) -> str:
    """The prefix that runs a command inside a namespace, or nothing for the current one."""
    return "" if netns is None else f"ip netns exec {_quote(netns)} "


def _join_q(words: Iterable[str]) -> str:
    return " ".join(_quote(w) for w in words)


def _veth_end(end: VethEnd) -> str:
    return _quote(end.ifname) if end.netns is None else f"{_quote(end.ifname)} netns {_quote(end.netns)}"


#: How the templates are compiled; part of the compiled-template cache's key (see _TemplateCache).
_OPTIONS: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True, "autoescape": False}


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """jinja2's cache of compiled templates, in its private per-user temporary directory: compiling
    the templates is most of a small lab's compile time (benchmarks/bench_choices.py).

    jinja2 keys a compiled template by its name and source only, yet the code depends on the
    environment's options too, so they are part of the key here; a cache that cannot be written
    is skipped.
    """

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return super().get_cache_key(f"{name} {sorted(_OPTIONS.items())} jinja2 {jinja2.__version__}", filename)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache() -> jinja2.BytecodeCache | None:
    try:
        return _TemplateCache()
    except (OSError, RuntimeError):  # no private temporary directory for this user: compile every time
        return None


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir())), undefined=jinja2.StrictUndefined,
                             bytecode_cache=_template_cache(), **_OPTIONS)
    env.filters.update(q=_quote, route_to=_route_to, heredoc_end=_heredoc_end, nft_ruleset=nft_ruleset,
                       iptables_restore=iptables_restore, dirname=posixpath.dirname,
                       describe_rules=_describe_rules, sysctl_args=_SysctlWords(), sysctl_keys=_sysctl_keys, comment=_comment,
                       ip=_ip, nsexec=_nsexec, veth_end=_veth_end, join_q=_join_q)
    return env


def sections(plan: Plan) -> list[ScriptSection]:
    """The plan's operations grouped under their headings (they come section by section)."""
    grouped: dict[str, list[Operation]] = {}
    for op in plan.operations:
        grouped.setdefault(op.SECTION, []).append(op)
    return [ScriptSection(title, _about(title, grouped[title]), tuple(grouped[title])) for title in SECTIONS if title in grouped]


def _about(title: str, ops: list[Operation]) -> tuple[str, ...]:
    about = ABOUT.get(title, ())
    if title in ABOUT_MARKS and any(isinstance(op, MarkLink) for op in ops):
        about += (ABOUT_MARKS[title],)
    return about


def _of_kinds(plan: Plan, *kinds: type[Operation]) -> list[Operation]:
    """The plan's operations of these kinds (their KIND: a subclass shares its parent's), in order.

    One string lookup per operation: big plans are long, and isinstance against several classes
    costs several times more (the callers then narrow the few found with isinstance).
    """
    wanted = {kind.KIND for kind in kinds}
    return [op for op in plan.operations if op.KIND in wanted]


def tools(plan: Plan) -> list[str]:
    needed = {"ip"}
    for op in _of_kinds(plan, SetSysctls, RestoreSysctls, LoadNftables, DeleteNftables, LoadIptables, DeleteIptables,
                        SetNetem, DeleteNetem, StartService, StopService):
        match op:
            case SetNetem() | DeleteNetem():
                needed.add("tc")
            case StartService():
                needed.update(("setsid", "sh"))
            case StopService():
                needed.update(("kill", "tr", "grep", "sed"))
            case SetSysctls() | RestoreSysctls():
                needed.add("sysctl")
            case LoadNftables() | DeleteNftables():
                needed.add("nft")
            case LoadIptables():
                needed.update("iptables-restore" if f == 4 else "ip6tables-restore" for f in op.families)
            case DeleteIptables():
                needed.update("iptables" if f == 4 else "ip6tables" for f in op.families)
            case (CreateNetns() | MarkNetns() | MarkLink() | LoopbackUp() | CreateBridge() | CreateVeth()
                  | CreateStandIn() | SetMac() | SetMtu() | EnslavePort() | AddAddress() | LinkUp() | AddRoute()
                  | LinkDown() | ReleasePort() | DeleteAddress() | DeleteRoute() | RestoreNftables()
                  | RestoreIptables() | DeleteIptablesRule() | DeleteLink() | DeleteNetns()):
                pass  # run with `ip` (or not in a script); _of_kinds left them out anyway
            case _:
                assert_never(op)
    return sorted(needed)


def mode_lines(plan: Plan) -> list[str]:
    if plan.prefix is not None:
        return [f"Sandbox mode: every node, host and external ones too, is a namespace named {plan.prefix}NODE;",
                "nothing in this machine's own (root) namespace is changed."]
    lines = ["Real mode: the host node is this machine (the root namespace); external nodes and uplinks",
             "exist already and are left alone; every other node is a namespace named after it."]
    saved = [op.save_to if isinstance(op, SetSysctls) else op.path for op in plan.operations
             if isinstance(op, SetSysctls | RestoreSysctls) and op.netns is None]
    if saved and saved[0] is not None:
        lines += ["This machine's own sysctls are set too (forwarding, rp_filter...); their previous values are",
                  f"saved in {saved[0]}, and the teardown script puts them back."]
    return lines


def command_line(plan: Plan, *, teardown: bool) -> str:
    words = ["topograph", "compile"]
    if teardown:
        words.append("--teardown")
    if plan.prefix is not None:
        words += ["--sandbox", plan.prefix]
    if plan.firewall != "nftables":
        words += ["--firewall", plan.firewall]
    source = "-" if plan.source == "<stdin>" else plan.source  # read from standard input: so again
    return " ".join(shlex.quote(w) for w in [*words, source])


def _root_preflight(plan: Plan) -> tuple[list[str], list[tuple[str, str]]]:
    """Objects the setup script would create in the root namespace (real mode): they must not exist yet."""
    links: list[str] = []
    checks: list[tuple[str, str]] = []
    for op in _of_kinds(plan, CreateBridge, CreateStandIn, CreateVeth, LoadNftables, LoadIptables, SetSysctls,
                        StartService):
        match op:
            case StartService():
                checks.append((f"[ -s {shlex.quote(op.pid_file)} ] && kill -0 -- \"-$(cat {shlex.quote(op.pid_file)})\" "
                               "2>/dev/null", f"a running service {op.name} of {op.node} (pid file {op.pid_file})"))
            case CreateBridge() | CreateStandIn():
                if op.netns is None:
                    links.append(op.ifname)
            case CreateVeth():
                links += [e.ifname for e in (op.a, op.b) if e.netns is None]
            case LoadNftables():
                if op.netns is None:
                    checks.append((f"nft list table inet {shlex.quote(op.table)} >/dev/null 2>&1",
                                   f"nftables table inet {op.table}"))
            case LoadIptables():
                if op.netns is None:
                    checks += [(f"{'iptables' if f == 4 else 'ip6tables'} -t nat -n -L {shlex.quote(op.pre_chain)} "
                                ">/dev/null 2>&1", f"the IPv{f} nat chain {op.pre_chain}") for f in op.nat_families]
                    for c in op.filters:
                        name = op.chain_of(c.hook)
                        checks += [(f"{'iptables' if f == 4 else 'ip6tables'} -t filter -n -L {shlex.quote(name)} "
                                    ">/dev/null 2>&1", f"the IPv{f} filter chain {name}") for f in sorted(c.families())]
            case SetSysctls():
                if op.save_to is not None:
                    checks.append((f"[ -e {shlex.quote(op.save_to)} ]", f"{op.save_to} (saved sysctls)"))
            case (CreateNetns() | MarkNetns() | MarkLink() | LoopbackUp() | SetMac() | SetMtu() | EnslavePort()
                  | AddAddress() | LinkUp() | AddRoute() | LinkDown() | ReleasePort() | DeleteAddress()
                  | DeleteRoute() | RestoreNftables() | RestoreIptables() | DeleteIptablesRule() | DeleteNftables()
                  | DeleteIptables() | DeleteLink() | DeleteNetns() | RestoreSysctls() | StopService() | SetNetem()
                  | DeleteNetem()):
                pass  # nothing they make can clash; _of_kinds left them out anyway
            case _:
                assert_never(op)
    return links, [(check, f"topograph: {what} exists already: lab {plan.lab} looks up; "
                           "run the teardown script first; nothing was changed") for check, what in checks]


def render_setup(plan: Plan) -> str:
    if plan.teardown:
        raise ValueError("render_setup() takes a setup plan; use render_teardown() for teardown")
    links, checks = _root_preflight(plan)
    return environment().get_template("setup.sh.j2").render(
        plan=plan, sections=sections(plan), tools=tools(plan), namespaces=plan.namespaces, root_links=links,
        root_checks=checks, mode_lines=mode_lines(plan), teardown_command=command_line(plan, teardown=True))


def render_teardown(plan: Plan) -> str:
    """The teardown script of a setup plan (its reverse), or of a teardown plan as given."""
    down = plan if plan.teardown else reverse(plan)
    return environment().get_template("teardown.sh.j2").render(
        plan=down, sections=sections(down), tools=tools(down), mode_lines=mode_lines(down),
        services=any(isinstance(op, StopService) for op in down.operations), service_env=SERVICE_ENV)
