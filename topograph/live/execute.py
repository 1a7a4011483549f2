"""Execute plan operations with netlink in the current thread, journalling each for rollback.

One `Runner` per apply. It knows every interface index it deals with: in a namespace it has not
seen yet it dumps the links once. In a namespace this run created nobody else makes interfaces,
so it gives each one it creates the next free index itself, saving a look-up round trip per
interface (`bench_apply.py --indexes` measures it). Anywhere else (the root namespace in real
mode, a namespace kept from an earlier run) another process may take an index at any moment, so
the kernel chooses and the runner asks for the new interface by name. Objects inside a namespace
created by this run need no undo of their own: rollback deletes the namespace. Objects added to a
namespace that existed before (a converging re-apply, or the root namespace in real mode) are
journalled one by one and removed again on rollback.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from topograph.live import netlink as nl
from topograph.live.converge import Removal
from topograph.live.describe import describe, where
from topograph.live.kernel import KernelError, Namespaces, netns_exists
from topograph.live.observe import iptables_listing, iptables_save, lab_lines, nft_listing, read_sysctl
from topograph.plan import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateStandIn,
    CreateVeth,
    DeleteIptables,
    DeleteNftables,
    EnslavePort,
    LinkDown,
    LinkUp,
    LoadIptables,
    LoadNftables,
    LoopbackUp,
    MarkLink,
    MarkNetns,
    Operation,
    ReleasePort,
    SetMac,
    SetMtu,
    SetSysctls,
    iptables_restore,
    nft_ruleset,
)
from topograph.plan.firewall import loaded_text

#: Test hooks: fail before step K (1-based) of a run (K = steps + 1: after the last step, at the end
#: of the run); sleep this many seconds before each step.
FAIL_AT_ENV = "TOPOGRAPH_FAIL_AT"
STEP_DELAY_ENV = "TOPOGRAPH_STEP_DELAY"


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM (`signum`), turned into an exception so that the run rolls back."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = int(signum)


@dataclass
class StepFailed(Exception):
    """A step failed (or the run was interrupted); what the rollback did is attached."""

    step: int
    total: int
    what: str
    cause: BaseException
    rolled_back: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if isinstance(self.cause, KeyboardInterrupt):
            why = "interrupted"
        elif isinstance(self.cause, OSError) and self.cause.strerror:
            why = self.cause.strerror
        else:
            why = str(self.cause)
        if self.step > self.total:
            return f"the end of the run, after step {self.total} of {self.total}: {why}"
        if self.step == 0:
            return f"{self.what} (a removal, besides the {self.total} steps): {why}"
        return f"step {self.step} of {self.total} ({self.what}): {why}"


Undo = tuple[str, str | None, object]


class Runner:
    def __init__(self, ns: Namespaces, socks: nl.Sockets, *, lab: str,
                 progress: Callable[[int], None] | None = None) -> None:
        self.ns = ns
        self.socks = socks
        self.lab = lab
        self.progress = progress
        self.indexes: dict[str | None, dict[str, int]] = {}
        self.next_index: dict[str | None, int] = {}
        self.created_ns: set[str] = set()
        self.journal: list[Undo] = []
        self.undoing = False  # rolling back: what runs now is not journalled
        self.made: set[tuple[str | None, str]] = set()  # links this run created (deleting them undoes the rest)
        # describe.where(netns) -> listing after load / what was loaded; None: deleted (for the record)
        self.nft: dict[str, str | None] = {}
        self.iptables: dict[str, str | None] = {}
        self.rules: dict[str, str | None] = {}
        fail = os.environ.get(FAIL_AT_ENV)
        self.fail_at = int(fail) if fail and fail.isdigit() else None
        self.delay = float(os.environ.get(STEP_DELAY_ENV) or 0)

    # -- interface indexes ---------------------------------------------------------------------
    def known(self, netns: str | None) -> dict[str, int]:
        found = self.indexes.get(netns)
        return found if found is not None else self._remember(netns, self.socks(netns).links())

    def _remember(self, netns: str | None, links: list[nl.LinkInfo]) -> dict[str, int]:
        """Take the interfaces of `netns` from a dump; new ones get indexes above all of them."""
        found = self.indexes[netns] = {ln.name: ln.index for ln in links}
        self.next_index[netns] = max([*found.values(), 1]) + 1
        return found

    def alloc(self, netns: str | None) -> int:
        """The index for a new interface in `netns`; 0 (the kernel chooses) outside this run's namespaces."""
        if not self.fresh(netns):
            return 0
        self.known(netns)
        index = self.next_index[netns]
        self.next_index[netns] = index + 1
        return index

    def index(self, netns: str | None, name: str) -> int:
        try:
            return self.known(netns)[name]
        except KeyError:
            raise KernelError(errno.ENODEV, f"no interface {name} in {netns or 'the root namespace'}") from None

    def fresh(self, netns: str | None) -> bool:
        return netns is not None and netns in self.created_ns

    # -- running -------------------------------------------------------------------------------
    def execute(self, ops: list[Operation]) -> None:
        """Run `ops` in order; on any failure or interruption roll back, then raise StepFailed."""
        total = len(ops)
        step = 0
        try:
            for op in ops:
                step += 1
                if self.delay:
                    time.sleep(self.delay)
                self._injected_failure(step)
                self.run(op)
                if self.progress is not None:
                    self.progress(1)
            step += 1  # the end of the run is one more point where it can be cut short
            self._injected_failure(step)
        except BaseException as exc:
            failed = StepFailed(step, total, describe(ops[step - 1]) if 0 < step <= total else "start", exc)
            failed.rolled_back, failed.problems = self.rollback()
            raise failed from exc

    def failed(self, removal: str, total: int, exc: BaseException) -> StepFailed:
        """Roll back after a failure outside the steps (a removal before or after them): the StepFailed to raise."""
        failed = StepFailed(0, total, removal, exc)
        failed.rolled_back, failed.problems = self.rollback()
        return failed

    def _injected_failure(self, step: int) -> None:
        if self.fail_at is not None and step >= self.fail_at:
            raise KernelError(errno.EIO, f"injected failure ({FAIL_AT_ENV}={self.fail_at})")

    def run(self, op: Operation) -> None:
        if isinstance(op, CreateNetns):
            def first_look() -> None:  # inside the new namespace: its socket, and the links it starts with
                self._remember(op.netns, self.socks.open_here(op.netns).links())

            self.ns.create(op.netns, first_look)
            self.created_ns.add(op.netns)
            self.journal.append(("netns", op.netns, None))
        elif isinstance(op, MarkNetns | MarkLink):
            self._set(op.netns, nl.link_alias(self.index(op.netns, op.ifname), op.alias))
        elif isinstance(op, LoopbackUp | LinkUp | LinkDown):
            self._journal_undo(op)
            index = self.index(op.netns, op.ifname)
            self._set(op.netns, nl.link_down(index) if isinstance(op, LinkDown) else nl.link_up(index))
        elif isinstance(op, SetSysctls):
            self._sysctls(op)
        elif isinstance(op, CreateBridge | CreateStandIn):
            kind = op.LINK_KIND
            index = self.alloc(op.netns)
            self._create_link(op.netns, nl.new_link(index, op.ifname, kind), [(op.netns, op.ifname, index)])
        elif isinstance(op, CreateVeth):
            ia, ib = self.alloc(op.a.netns), self.alloc(op.b.netns)
            body = nl.new_link(ia, op.a.ifname, "veth",
                               data=nl.veth_peer(ib, op.b.ifname, self.ns.fd(op.b.netns)))
            self._create_link(op.a.netns, body, [(op.a.netns, op.a.ifname, ia), (op.b.netns, op.b.ifname, ib)])
        elif isinstance(op, SetMac):
            self._journal_undo(op)
            mac = bytes.fromhex(op.mac.replace(":", ""))
            self._set(op.netns, nl.link_mac(self.index(op.netns, op.ifname), mac))
        elif isinstance(op, SetMtu):
            self._journal_undo(op)
            self._set(op.netns, nl.link_mtu(self.index(op.netns, op.ifname), op.mtu))
        elif isinstance(op, EnslavePort):
            self._journal_undo(op)
            master = self.index(op.netns, op.bridge)
            port = self.index(op.netns, op.ifname)
            self._set(op.netns, nl.link_master(port, master))
        elif isinstance(op, ReleasePort):
            self._journal_undo(op)
            self._set(op.netns, nl.link_master(self.index(op.netns, op.ifname), 0))
        elif isinstance(op, AddAddress):
            a = op.address
            family = socket.AF_INET if a.version == 4 else socket.AF_INET6
            index = self.index(op.netns, op.ifname)
            body = nl.addr_body(index, family, a.network.prefixlen, a.ip.packed, nodad=op.nodad)
            self._add(op.netns, nl.RTM_NEWADDR, nl.RTM_DELADDR, body)
        elif isinstance(op, AddRoute):
            family = socket.AF_INET if op.family == 4 else socket.AF_INET6
            oif = self.index(op.netns, op.dev) if op.dev is not None else None
            body = nl.route_body(family, op.to.prefixlen, op.to.network_address.packed,
                                 op.via.packed if op.via is not None else None, oif, op.metric)
            self._add(op.netns, nl.RTM_NEWROUTE, nl.RTM_DELROUTE, body)
        elif isinstance(op, LoadNftables):
            self._nft(op)
        elif isinstance(op, LoadIptables):
            self._iptables(op)
        elif isinstance(op, DeleteNftables):
            self._delete_nft(op)
        elif isinstance(op, DeleteIptables):
            self._delete_iptables(op)
        else:
            raise KernelError(errno.EINVAL, f"apply cannot execute {op.KIND}")

    def _set(self, netns: str | None, body: bytes) -> None:
        self.socks(netns).request(nl.RTM_NEWLINK, body)

    def _create_link(self, netns: str | None, body: bytes, made: list[tuple[str | None, str, int]]) -> None:
        try:
            self.socks(netns).request(nl.RTM_NEWLINK, body, create=True)
        except KernelError as exc:
            for where, _name, index in made:  # the indexes were not used
                if index:
                    self.next_index[where] -= 1
            if exc.errno == errno.EEXIST:
                names = ", ".join(n for _, n, _ in made)
                raise KernelError(exc.errno, f"interface {names} exists already") from None
            raise
        for where, name, index in made:
            if not index:  # the kernel chose it
                try:
                    link = self.socks(where).link(name)
                    if link is None:
                        raise KernelError(errno.ENODEV, f"interface {name} vanished right after it was made")
                except KernelError:  # undo by name then: the index is unknown
                    self.journal.append(("netlink", where, (nl.RTM_DELLINK, nl.link_named(name))))
                    raise
                index = link.index
            self.known(where)[name] = index
            self.made.add((where, name))
            if not self.fresh(where):
                self.journal.append(("link", where, index))

    def _add(self, netns: str | None, new: int, delete: int, body: bytes) -> None:
        # exclusive even when converging: the diff found it missing, so "exists" means someone raced us
        self.socks(netns).request(new, body, create=True)
        if not self.fresh(netns):
            self.journal.append(("netlink", netns, (delete, body)))

    def _sysctls(self, op: SetSysctls) -> None:
        fresh = self.fresh(op.netns)
        with self.ns.inside(op.netns):
            # a namespace made by this run needs no saved values: rollback deletes it
            old = {} if fresh else {s.key: read_sysctl(s.proc_path) for s in op.values}
            if op.save_to is not None and not os.path.exists(op.save_to):
                os.makedirs(os.path.dirname(op.save_to), exist_ok=True)
                with open(op.save_to, "w") as f:
                    f.writelines(f"{k} = {v}\n" for k, v in old.items() if v is not None)
            for s in op.values:
                try:
                    fd = os.open(s.proc_path, os.O_WRONLY)
                except FileNotFoundError:
                    if not s.optional:
                        raise KernelError(errno.ENOENT, f"no sysctl {s.key} here") from None
                    continue
                try:
                    os.write(fd, b"%d" % s.value)
                finally:
                    os.close(fd)
        if not fresh:
            self.journal.append(("sysctl", op.netns, {s.proc_path: old[s.key] for s in op.values}))

    def _nft(self, op: LoadNftables) -> None:
        with self.ns.inside(op.netns):
            before = None if self.fresh(op.netns) else nft_listing(op.table)
            nft_replace(op.table, nft_ruleset(op))
            self.nft[where(op.netns)] = nft_listing(op.table) or ""
            self.rules[where(op.netns)] = loaded_text(op)
        if not self.fresh(op.netns):
            self.journal.append(("nft", op.netns, (op.table, before)))

    def _iptables(self, op: LoadIptables) -> None:
        # per family, one transaction from what is there (a converging re-apply may find the chains,
        # changed by hand) to the plan's rules: hooks are taken out first, so a reload never doubles them
        chains = (op.pre_chain, op.post_chain)
        fresh = self.fresh(op.netns)
        with self.ns.inside(op.netns):
            for family in op.families:
                now = None if fresh else lab_lines(iptables_save(family), chains)
                if not fresh:  # journalled first: should a later family fail, this one is still put back
                    self.journal.append(("iptables", op.netns, (chains, family, now)))
                wanted = lab_lines(iptables_restore(op, family), chains)
                run_tool([restore_tool(family), "--noflush"], iptables_change(now, wanted))
            self.iptables[where(op.netns)] = iptables_listing(op) or ""
            self.rules[where(op.netns)] = loaded_text(op)

    def _delete_nft(self, op: DeleteNftables) -> None:
        with self.ns.inside(op.netns):
            before = None if self.fresh(op.netns) else nft_listing(op.table)
            nft_replace(op.table, "")
        if not self.fresh(op.netns):
            self.journal.append(("nft", op.netns, (op.table, before)))
        self.nft[where(op.netns)] = self.rules[where(op.netns)] = None

    def _delete_iptables(self, op: DeleteIptables) -> None:
        chains = (op.pre_chain, op.post_chain)
        with self.ns.inside(op.netns):
            for family in op.families:
                now = lab_lines(iptables_save(family), chains)
                if now is None:
                    continue
                if not self.fresh(op.netns):
                    self.journal.append(("iptables", op.netns, (chains, family, now)))
                run_tool([restore_tool(family), "--noflush"], iptables_change(now, None))
        self.iptables[where(op.netns)] = self.rules[where(op.netns)] = None

    def _journal_undo(self, op: LoopbackUp | LinkUp | LinkDown | SetMac | SetMtu | EnslavePort | ReleasePort) -> None:
        """Before changing a link in place, journal the operation that puts it back (one of the plan's own).

        Only in a namespace the run did not create, and on a link it did not create: deleting those
        undoes everything on them. The link's state before is read with one dump.
        """
        if self.undoing or self.fresh(op.netns) or (op.netns, op.ifname) in self.made:
            return
        links = self.socks(op.netns).links()
        now = next((ln for ln in links if ln.name == op.ifname), None)
        if now is None:
            return  # the step itself will fail: nothing changed
        undo: Operation | None = None
        if isinstance(op, LoopbackUp | LinkUp) and not now.up:
            undo = LinkDown(op.node, op.netns, op.ifname)
        elif isinstance(op, LinkDown) and now.up:
            undo = LinkUp(op.node, op.netns, op.ifname)
        elif isinstance(op, SetMac) and now.mac.lower() != op.mac.lower():
            undo = SetMac(op.node, op.netns, op.ifname, now.mac)
        elif isinstance(op, SetMtu) and now.mtu != op.mtu:
            undo = SetMtu(op.node, op.netns, op.ifname, now.mtu)
        elif isinstance(op, EnslavePort | ReleasePort):
            master = next((ln.name for ln in links if now.master and ln.index == now.master), None)
            if master is None:
                undo = ReleasePort(op.node, op.netns, op.ifname) if isinstance(op, EnslavePort) else None
            elif not isinstance(op, EnslavePort) or master != op.bridge:
                undo = EnslavePort(op.node, op.netns, op.ifname, master)
        if undo is not None:
            self.journal.append(("op", op.netns, undo))

    # -- removing ------------------------------------------------------------------------------
    def remove(self, r: Removal) -> None:
        """Delete one object the diff found extra (or in the way); it is not restored on rollback."""
        if r.kind == "netns":
            self.ns.delete(r.name)
            self.socks.forget(r.name)
        elif r.kind == "link":
            known = self.known(r.netns)
            if r.name in known:
                self.socks(r.netns).delete_link(known.pop(r.name), r.name)
                self.indexes.pop(r.netns, None)  # a veth's peer went too: look again when needed
        elif r.kind == "address":
            ifname, address = r.name.split(" ", 1)
            ip = ipaddress.ip_interface(address)
            family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            body = nl.addr_body(self.index(r.netns, ifname), family, ip.network.prefixlen, ip.ip.packed, nodad=False)
            self.socks(r.netns).acked(nl.RTM_DELADDR, body)
        elif r.kind == "rule" and r.rule is not None:
            with self.ns.inside(r.netns):
                run_tool([restore_tool(r.rule.family), "--noflush"], r.rule.undo())
        elif r.kind == "route" and r.route is not None:
            net = ipaddress.ip_network(r.route.to)
            family = socket.AF_INET if net.version == 4 else socket.AF_INET6
            oif = self.known(r.netns).get(r.route.dev) if r.route.dev else None
            via = ipaddress.ip_address(r.route.via).packed if r.route.via else None
            body = nl.route_body(family, net.prefixlen, net.network_address.packed, via, oif, r.route.metric)
            self.socks(r.netns).acked(nl.RTM_DELROUTE, body)

    # -- rollback ------------------------------------------------------------------------------
    def rollback(self) -> tuple[list[str], list[str]]:
        """Undo the journal, last first, with SIGINT/SIGTERM held off; return (what was undone, problems)."""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        done: list[str] = []
        problems: list[str] = []
        self.undoing = True
        try:
            try:
                self.ns.enter(None)  # an interruption may have come while inside another namespace
            except OSError as exc:
                problems.append(f"cannot return to the root namespace: {exc}")
            for kind, netns, data in reversed(self.journal):
                try:
                    text = self._undo(kind, netns, data)
                    if text:
                        done.append(text)
                except (OSError, subprocess.SubprocessError) as exc:
                    problems.append(f"undo {kind} in {netns or 'the root namespace'}: {exc}")
            self.journal.clear()
        finally:
            self.undoing = False
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return done, problems

    def _undo(self, kind: str, netns: str | None, data: object) -> str | None:
        if kind == "netns":
            assert netns is not None
            self.socks.forget(netns)
            self.ns.delete(netns)
            self.created_ns.discard(netns)
            return f"deleted namespace {netns}"
        if netns is not None and netns not in self.ns.fds and not netns_exists(netns):
            return None
        if kind == "op":
            assert isinstance(data, LinkUp | LinkDown | SetMac | SetMtu | EnslavePort | ReleasePort)
            self.run(data)
            return f"put back: {describe(data)}"
        if kind == "link":
            assert isinstance(data, int)
            self.socks(netns).acked(nl.RTM_DELLINK, nl.link_body(data))
            return f"deleted interface #{data} in {netns or 'the root namespace'}"
        if kind == "netlink":
            assert isinstance(data, tuple)
            self.socks(netns).acked(int(data[0]), bytes(data[1]))
            return None
        if kind == "sysctl":
            with self.ns.inside(netns):
                for path, value in data.items():  # type: ignore[attr-defined]
                    if value is not None:
                        with open(path, "w") as f:
                            f.write(str(value))
            return None
        if kind == "nft":
            assert isinstance(data, tuple)
            table, before = str(data[0]), data[1]
            with self.ns.inside(netns):
                nft_replace(table, str(before or ""))
            return None
        if kind == "iptables":
            assert isinstance(data, tuple)
            chains: tuple[str, ...] = data[0]
            family: int = data[1]
            wanted: list[str] | None = data[2]
            with self.ns.inside(netns):
                now = lab_lines(iptables_save(family), chains)
                if now != wanted:
                    run_tool([restore_tool(family), "--noflush"], iptables_change(now, wanted))
            return f"put back iptables chains {', '.join(chains)} in {netns or 'the root namespace'}"
        return None


def nft_replace(table: str, ruleset: str) -> None:
    """Replace table inet TABLE by `ruleset` (its whole text; "" leaves no table) in one transaction.

    Declaring the table first makes the delete that follows valid whether or not the table exists.
    """
    run_tool(["nft", "-f", "-"], f"table inet {table}\ndelete table inet {table}\n" + ruleset)


def restore_tool(family: int) -> str:
    return "iptables-restore" if family == 4 else "ip6tables-restore"


def iptables_change(now: list[str] | None, wanted: list[str] | None) -> str:
    """One `iptables-restore --noflush` transaction of the nat table from `now` to `wanted` (observe.lab_lines).

    The rules that jump to the lab's chains go first (the new ones are added at the end, so a
    reload never doubles a hook); declaring a chain creates it or, with --noflush, empties it;
    a chain that `wanted` lacks is emptied and deleted. None means no chain of the lab.
    """
    now, wanted = now or [], wanted or []
    have = [line[1:] for line in now if line.startswith(":")]
    want = [line[1:] for line in wanted if line.startswith(":")]
    mine = {*have, *want}
    lines = ["*nat"]
    lines += ["-D " + line[3:] for line in now if line.startswith("-A ") and line.split()[1] not in mine]
    lines += [f":{chain} - [0:0]" for chain in want]
    lines += [x for chain in have if chain not in want for x in (f"-F {chain}", f"-X {chain}")]
    lines += [line for line in wanted if line.startswith("-A ")]
    return "\n".join([*lines, "COMMIT"]) + "\n"


def run_tool(argv: list[str], text: str) -> None:
    """Run a firewall tool in the calling thread's namespace (a child starts where its thread is)."""
    try:
        done = subprocess.run(argv, input=text, capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        raise KernelError(errno.ENOENT, f"{argv[0]} is not installed") from None
    if done.returncode != 0:
        raise KernelError(errno.EINVAL, f"{' '.join(argv)}: {done.stderr.strip() or 'failed'}")
