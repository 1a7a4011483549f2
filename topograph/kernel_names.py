"""Kernel object names: the one place that decides namespace, nft table and iptables chain names.

Every consumer — the plan (and so the compiled scripts), `apply`, teardown and the live tests — asks
these functions, so they cannot disagree about what a lab's objects are called.

- Real mode (`prefix=None`): a node's namespace is named like the node (`ip netns exec red ...`, as in
  the seed tutorial); the host node is the root namespace.
- Sandbox mode (`prefix="t1-"`): every node, host and external ones included, lives in a namespace
  named PREFIX + node (`t1-red`, `t1-host`). The prefix is used verbatim: include a separator if you
  want one.
- Interface names are never prefixed: inside a namespace they cannot clash with anything else.
  (They were validated with the file; the renderer still quotes every value it prints.)
- Firewall objects carry the lab's name, so two labs configured in one namespace (the root one, in
  real mode) each delete only their own table or chains.
"""

from __future__ import annotations

import hashlib
import re

from topograph.front.names import lab_name_problem, node_name_problem
from topograph.front.quoting import length_of, quote

PREFIX_MAX = 16
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # fullmatch: no trailing newline

#: iptables limits chain names to 28 characters (XT_EXTENSION_MAXNAMELEN - 1).
IPTABLES_CHAIN_MAX = 28
TABLE_PREFIX = "topograph-"


def prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot prefix namespace names (it must stay a short, shell-safe word), or None."""
    if not prefix:
        return "is empty"
    if len(prefix) > PREFIX_MAX:
        return f"{length_of(prefix)}; keep it to {PREFIX_MAX} (e.g. 'tg1-')"
    if not _PREFIX.fullmatch(prefix):
        return "may only use letters, digits, '_', '.' and '-', and must start with a letter or digit"
    return None


def netns_name(node: str, prefix: str | None = None) -> str:
    """The namespace that holds `node`: the node's own name, or PREFIX + node in sandbox mode."""
    name = node if prefix is None else prefix + node
    problem = node_name_problem(node) or (prefix_problem(prefix) if prefix is not None else None)
    if problem:  # the foundation validated names; this guards hand-made callers
        raise ValueError(f"cannot name a namespace after {quote(name)}: {problem}")
    return name


MARK_PREFIX = "topograph:"


def mark(lab: str, prefix: str | None = None) -> str:
    """The mark a lab's setup leaves on what it creates and its teardown checks before deleting it.

    It is an interface alias (IFLA_IFALIAS; `ip link` shows it): a namespace carries it on its
    loopback, an interface made in the root namespace on itself. `topograph:LAB`, plus `@PREFIX`
    in sandbox mode, so that a sandbox never takes another sandbox's namespace for its own (with
    prefixes 't1-' and 't1-r', nodes 'red' and 'ed' share the namespace name 't1-red').
    """
    return MARK_PREFIX + (lab if prefix is None else f"{lab}@{prefix}")


def nft_table(lab: str) -> str:
    """The nftables table (family inet) that holds every rule of `lab` in one namespace."""
    return TABLE_PREFIX + lab


def iptables_chain(lab: str, hook: str) -> str:
    """The chain of `lab` for `hook`, at most 28 characters: 'PRE' or 'POST' in the nat table, 'IN', 'FWD'
    or 'OUT' in the filter table.

    Long lab names are cut and completed with a short hash so that names stay unique and stable.
    """
    name = f"TG-{lab}-{hook}"
    if len(name) <= IPTABLES_CHAIN_MAX:
        return name
    digest = hashlib.sha1(lab.encode()).hexdigest()[:6]
    keep = IPTABLES_CHAIN_MAX - len(f"TG--{digest}-{hook}")
    return f"TG-{lab[:keep]}-{digest}-{hook}"


def iptables_filter_chains(lab: str) -> tuple[str, str, str]:
    """The filter-table chains of `lab` for the input, forward and output hooks (all three, used or not)."""
    return (iptables_chain(lab, "IN"), iptables_chain(lab, "FWD"), iptables_chain(lab, "OUT"))


SYSCTL_DIR = "/run/topograph"
SYSCTL_SUFFIX = ".sysctl"


def sysctl_state_file(lab: str) -> str:
    """Where a real-mode setup keeps the root namespace's previous sysctl values for teardown."""
    problem = lab_name_problem(lab)
    if problem:  # the name becomes a path: never let it leave the directory
        raise ValueError(f"cannot name a file after lab {quote(lab)}: it {problem}")
    return f"{SYSCTL_DIR}/{lab}{SYSCTL_SUFFIX}"


SERVICE_SUFFIX = ".services"


def service_dir(lab: str, prefix: str | None = None) -> str:
    """The directory of a lab's services (`run:`): per node a directory with each service's log, pid and exit-code
    files. LAB.services, or LAB@PREFIX.services in sandbox mode, next to the lab's record."""
    problem = lab_name_problem(lab) or (prefix_problem(prefix) if prefix is not None else None)
    if problem:  # the name becomes a path: never let it leave the directory
        raise ValueError(f"cannot name a directory after lab {quote(lab)}: it {problem}")
    key = lab if prefix is None else f"{lab}@{prefix}"
    return f"{SYSCTL_DIR}/{key}{SERVICE_SUFFIX}"
