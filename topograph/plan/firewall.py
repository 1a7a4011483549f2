"""NAT and port-forward rules as data, and the exact nftables / iptables-restore text of a node's rules
(its filter chains' own text comes from plan/filters.py).

Semantics (both back ends alike):

- Masquerade: packets from `source` leaving by interface `out` get `out`'s address as source;
  conntrack carries the replies back.
- SNAT (a masquerade with `to`): the same match, optionally also on the destination (`dst`), and the
  fixed address `to` as source. A node's source-NAT rules keep the file's order: the first that matches wins.
- Port forward: a `proto` connection arriving for `port` on one of the node's *own* addresses
  (`fib daddr type local` / `-m addrtype --dst-type LOCAL`), or with `address` on that address alone
  (`ip daddr A` / `-d A`), optionally only on interface `in`, is sent on to `to_address:to_port`.
  Restricting to the node's own addresses matters: the tutorial's bare `--dport 80` rule would also
  hijack every forwarded web connection of the inside namespaces. As with any PREROUTING rule, the
  node's own outgoing connections are not forwarded — unless the forward is `local`: then the same
  match (without `in`, and never a loopback address) in the nat output hook forwards them too.

The texts are produced here (not in templates) so that the shell renderer and `apply` load exactly
the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from topograph.model import Hook, IPAddress, IPNetwork, Masquerade, PortForward, Proto, Snat
from topograph.plan.filters import IPTABLES_HOOKS, nft_string

if TYPE_CHECKING:
    from topograph.plan.setup_ops import LoadIptables, LoadNftables


@dataclass(frozen=True, slots=True)
class MasqueradeRule:
    """A source-NAT rule of the node's postrouting chain: MASQUERADE, or with `to` an SNAT to that address
    (optionally only towards `dst`; `out` None: leaving by any interface)."""

    source: IPNetwork
    out: str | None
    to: IPAddress | None = None
    dst: IPNetwork | None = None

    @classmethod
    def of(cls, m: Masquerade | Snat) -> MasqueradeRule:
        if isinstance(m, Snat):
            return cls(source=m.source, out=m.out, to=m.to, dst=m.dst)
        return cls(source=m.source, out=m.out)

    @property
    def family(self) -> int:
        return self.source.version

    def describe(self) -> str:
        to = f" towards {self.dst}" if self.dst is not None else ""
        out = f" leaving by {self.out}" if self.out is not None else ""
        if self.to is None:
            return f"masquerade {self.source}{out}"
        return f"snat {self.source}{to}{out} to {self.to}"

    def nft(self) -> str:
        ip = "ip" if self.family == 4 else "ip6"
        dst = f" {ip} daddr {self.dst}" if self.dst is not None else ""
        out = f" oifname {nft_string(self.out)}" if self.out is not None else ""
        verdict = "masquerade" if self.to is None else f"snat {ip} to {self.to}"
        return f"{ip} saddr {self.source}{dst}{out} {verdict}"

    def iptables(self, chain: str) -> str:
        dst = f" -d {self.dst}" if self.dst is not None else ""
        out = f" -o {self.out}" if self.out is not None else ""
        verdict = "-j MASQUERADE" if self.to is None else f"-j SNAT --to-source {self.to}"
        return f"-A {chain} -s {self.source}{dst}{out} {verdict}"


_LOOPBACK_NET = {4: "127.0.0.0/8", 6: "::1"}


@dataclass(frozen=True, slots=True)
class DnatRule:
    proto: Proto
    port: int
    to_address: IPAddress
    to_port: int
    in_interface: str | None = None
    address: IPAddress | None = None  # only for this destination (None: any of the node's own addresses)
    local: bool = False  # also in the nat output hook, for the node's own connections

    @classmethod
    def of(cls, f: PortForward) -> DnatRule:
        return cls(proto=f.proto, port=f.port, to_address=f.to_address, to_port=f.to_port, in_interface=f.in_interface,
                   address=f.address, local=f.local)

    @property
    def family(self) -> int:
        return self.to_address.version

    @property
    def target(self) -> str:
        return PortForward(self.proto, self.port, self.to_address, self.to_port).target

    def describe(self) -> str:
        where = f" arriving on {self.in_interface}" if self.in_interface else ""
        at = f" to {self.address}" if self.address is not None else ""
        own = " (and the node's own)" if self.local else ""
        return f"{self.proto}/{self.port}{at}{where}{own} -> {self.target}"

    def _nft_match(self) -> str:
        ip = "ip" if self.family == 4 else "ip6"
        if self.address is not None:
            return f"{ip} daddr {self.address}"
        return f"meta nfproto {'ipv4' if self.family == 4 else 'ipv6'} fib daddr type local"

    def nft(self) -> str:
        """The prerouting rule."""
        ip = "ip" if self.family == 4 else "ip6"
        iif = f"iifname {nft_string(self.in_interface)} " if self.in_interface else ""
        return f"{iif}{self._nft_match()} {self.proto} dport {self.port} dnat {ip} to {self.target}"

    def nft_output(self) -> str:
        """The output-hook rule (`local`): no in-interface; never a loopback destination, whose 127.0.0.1 source
        the kernel would not send out of another interface (measured: such a connection times out)."""
        ip = "ip" if self.family == 4 else "ip6"
        lo = "" if self.address is not None else f" {ip} daddr != {_LOOPBACK_NET[self.family]}"
        return f"{self._nft_match()}{lo} {self.proto} dport {self.port} dnat {ip} to {self.target}"

    def _iptables_match(self) -> str:
        if self.address is not None:
            return f" -d {self.address} -p {self.proto}"
        return f" -p {self.proto} -m addrtype --dst-type LOCAL"

    def iptables(self, chain: str) -> str:
        iif = f" -i {self.in_interface}" if self.in_interface else ""
        return (f"-A {chain}{iif}{self._iptables_match()} -m {self.proto} --dport {self.port}"
                f" -j DNAT --to-destination {self.target}")

    def iptables_output(self, chain: str) -> str:
        lo = "" if self.address is not None else f" ! -d {_LOOPBACK_NET[self.family]}"
        return (f"-A {chain}{lo}{self._iptables_match()} -m {self.proto} --dport {self.port}"
                f" -j DNAT --to-destination {self.target}")


def nft_ruleset(op: LoadNftables) -> str:
    """The complete `nft -f` input: the lab's own table, created and filled in one atomic transaction."""
    lines = [f"table inet {op.table} {{"]
    if op.forwards:
        lines += ["\tchain prerouting {", "\t\ttype nat hook prerouting priority dstnat; policy accept;"]
        lines += [f"\t\t{r.nft()}" for r in op.forwards]
        lines += ["\t}"]
    if any(r.local for r in op.forwards):
        lines += ["\tchain nat_output {", "\t\ttype nat hook output priority -100; policy accept;"]
        lines += [f"\t\t{r.nft_output()}" for r in op.forwards if r.local]
        lines += ["\t}"]
    if op.masquerades:
        lines += ["\tchain postrouting {", "\t\ttype nat hook postrouting priority srcnat; policy accept;"]
        lines += [f"\t\t{r.nft()}" for r in op.masquerades]
        lines += ["\t}"]
    lines += [f"\t{line}" for chain in op.filters for line in chain.nft()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def iptables_restore(op: LoadIptables, family: int) -> str:
    """`iptables-restore --noflush` input for one family: the lab's chains, their rules, and the hooks — in
    the nat table when the node has NAT of that family, in the filter table when it filters that family."""
    lines: list[str] = []
    if family in op.nat_families:
        pre = [r.iptables(op.pre_chain) for r in op.forwards if r.family == family]
        post = [r.iptables(op.post_chain) for r in op.masquerades if r.family == family]
        own = [r.iptables_output(op.local_chain) for r in op.forwards if r.family == family and r.local]
        local = [f":{op.local_chain} - [0:0]"] if op.local_chain else []
        hook = [f"-A OUTPUT -j {op.local_chain}"] if op.local_chain else []
        lines += ["*nat", f":{op.pre_chain} - [0:0]", f":{op.post_chain} - [0:0]", *local, *pre, *post, *own,
                  f"-A PREROUTING -j {op.pre_chain}", f"-A POSTROUTING -j {op.post_chain}", *hook, "COMMIT"]
    chains = [(op.chain_of(c.hook), c) for c in op.filters if c.in_family(family)]
    if chains:
        lines += ["*filter", *(f":{name} - [0:0]" for name, _ in chains)]
        lines += [rule for name, c in chains for rule in c.iptables(name, family)]
        lines += [*(f"-A {IPTABLES_HOOKS[c.hook]} -j {name}" for name, c in chains), "COMMIT"]
    return "\n".join(lines) + "\n"


def nft_replacement(table: str, ruleset: str) -> str:
    """`nft -f` input that replaces table inet TABLE by `ruleset` (its whole text; "" leaves no table) in
    one transaction. Declaring the table first makes the delete that follows valid whether or not it exists."""
    return f"table inet {table}\ndelete table inet {table}\n" + ruleset


def by_table(lines: list[str]) -> dict[str, list[str]]:
    """Lines of the lab's chains (live.firewall.lab_lines) per table: those before any `*TABLE` line are
    the nat table's (the first and, before filters, only table of the lab's)."""
    out: dict[str, list[str]] = {}
    table = "nat"
    for line in lines:
        if line.startswith("*"):
            table = line[1:].strip()
            out.setdefault(table, [])
        elif line != "COMMIT":
            out.setdefault(table, []).append(line)
    return out


def iptables_change(now: list[str] | None, wanted: list[str] | None) -> str:
    """One `iptables-restore --noflush` transaction from `now` to `wanted` (live.firewall.lab_lines), one
    section per table either has (nat, then filter).

    The rules that jump to the lab's chains go first (the new ones are added at the end, so a
    reload never doubles a hook); declaring a chain creates it or, with --noflush, empties it;
    a chain that `wanted` lacks is emptied and deleted. None means no chain of the lab.
    """
    before, after = by_table(now or []), by_table(wanted or [])
    tables = sorted({*before, *after}, key=lambda t: (t != "nat", t != "filter", t))
    lines: list[str] = []
    for table in tables:
        lines += _table_change(table, before.get(table, []), after.get(table, []))
    return "\n".join(lines) + "\n" if lines else "*nat\nCOMMIT\n"


def _table_change(table: str, now: list[str], wanted: list[str]) -> list[str]:
    have = [line[1:] for line in now if line.startswith(":")]
    want = [line[1:] for line in wanted if line.startswith(":")]
    mine = {*have, *want}
    lines = [f"*{table}"]
    lines += ["-D " + line[3:] for line in now if line.startswith("-A ") and line.split()[1] not in mine]
    lines += [f":{chain} - [0:0]" for chain in want]
    lines += [x for chain in have if chain not in want for x in (f"-F {chain}", f"-X {chain}")]
    lines += [line for line in wanted if line.startswith("-A ")]
    return [*lines, "COMMIT"]


def lab_hooks(pre_chain: str, post_chain: str, filter_chains: tuple[str, ...],
              local_chain: str = "") -> list[tuple[str, str, str]]:
    """(table, built-in chain, lab chain) for each of the lab's chains: how a shell teardown finds their hooks.
    `filter_chains` are the input, forward and output ones (LoadIptables.filter_chains), or none; `local_chain`
    the nat OUTPUT one of `local` port forwards, or ""."""
    return [("nat", "PREROUTING", pre_chain), ("nat", "POSTROUTING", post_chain),
            *((("nat", "OUTPUT", local_chain),) if local_chain else ()),
            *(("filter", IPTABLES_HOOKS[hook], chain) for hook, chain in zip(Hook, filter_chains, strict=False))]


def rule_removal(table: str, line: str) -> str:
    """The `iptables-restore --noflush` transaction that takes away one rule (`-A CHAIN ...`) of `table`, or
    sets a built-in chain's policy (`:CHAIN POLICY`) back to ACCEPT."""
    policy = line.startswith(":")
    change = f":{line[1:].split()[0]} ACCEPT [0:0]" if policy else "-D" + line[2:]
    return f"*{table}\n{change}\nCOMMIT\n"


def loaded_text(op: LoadNftables | LoadIptables) -> str:
    """Everything `op` loads, as one text: what a lab's record keeps to tell, on a later apply, whether
    the file's rules for the node changed (a listing of what is live cannot say: it shows what was loaded)."""
    from topograph.plan.setup_ops import LoadNftables  # setup_ops imports this module

    if isinstance(op, LoadNftables):
        return nft_ruleset(op)
    return "".join(iptables_restore(op, family) for family in op.families)
