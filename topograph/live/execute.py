"""Execute plan operations with netlink in the current thread, journalling for rollback the operations that undo them.

One `Runner` per apply. It knows every interface index it deals with: in a namespace it has not
seen yet it dumps the links once. In a namespace this run created nobody else makes interfaces,
so it gives each one it creates the next free index itself, saving a look-up round trip per
interface (`bench_apply.py --indexes` measures it). Anywhere else (the root namespace in real
mode, a namespace kept from an earlier run) another process may take an index at any moment, so
the kernel chooses and the runner asks for the new interface by name. What undoes each step is
journalled as a plan operation, and rollback runs the journal backwards with the same `run()`
(live/journal.py, the Runner's base): one vocabulary for doing and undoing, which the templates
can print as shell commands too.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from typing import assert_never

from topograph.live import netlink as nl
from topograph.live import services
from topograph.live.describe import describe, where
from topograph.live.firewall import System, Tools, iptables_listing, lab_lines
from topograph.live.journal import Journalled, StepFailed, chains_back, nft_back
from topograph.live.kernel import KernelError, Namespaces, netns_exists
from topograph.live.nlsocket import Sockets
from topograph.live.observe import read_sysctl
from topograph.live.qdisc import netem_op
from topograph.live.remake import remake
from topograph.plan import (
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
    iptables_restore,
    nft_ruleset,
)
from topograph.plan.firewall import iptables_change, loaded_text, nft_replacement

#: Test hooks: fail before step K (1-based) of a run (K = steps + 1: after the last step, at the end
#: of the run); sleep this many seconds before each step.
FAIL_AT_ENV = "TOPOGRAPH_FAIL_AT"
STEP_DELAY_ENV = "TOPOGRAPH_STEP_DELAY"


class Runner(Journalled):
    def __init__(self, ns: Namespaces, socks: Sockets, *,
                 progress: Callable[[int], None] | None = None, tools: Tools | None = None) -> None:
        self.ns = ns
        self.socks = socks
        self.tools: Tools = tools or System()
        self.progress = progress
        self.indexes: dict[str | None, dict[str, int]] = {}
        self.next_index: dict[str | None, int] = {}
        self.created_ns: set[str] = set()
        self.journal: list[Operation] = []  # what undoes each step so far, in order
        self.undoing = False  # rolling back: what runs now is not journalled
        self.made: set[tuple[str | None, str]] = set()  # links this run created (deleting them undoes the rest)
        # describe.where(netns) -> listing after load / what was loaded; None: deleted (for the record)
        self.nft: dict[str, str | None] = {}
        self.iptables: dict[str, str | None] = {}
        self.rules: dict[str, str | None] = {}
        self.services: dict[str, services.Observed | None] = {}  # NODE/NAME -> started (None: stopped), for the record
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

    def run(self, op: Operation) -> bool:
        """Do `op`, journalling first what undoes it; False when there was nothing to do: what it deletes
        is gone already, or does not carry its mark (not the lab's)."""
        match op:
            case CreateNetns():
                def first_look() -> None:  # inside the new namespace: its socket, and the links it starts with
                    self._remember(op.netns, self.socks.open_here(op.netns).links())

                self.ns.create(op.netns, first_look)
                self.created_ns.add(op.netns)
                self._journal(DeleteNetns(op.node, op.netns))
            case MarkNetns() | MarkLink():
                self._set(op.netns, nl.link_alias(self.index(op.netns, op.ifname), op.alias))
            case LoopbackUp() | LinkUp():
                self._journal_undo(op)
                self._set(op.netns, nl.link_up(self.index(op.netns, op.ifname)))
            case LinkDown():
                self._journal_undo(op)
                self._set(op.netns, nl.link_down(self.index(op.netns, op.ifname)))
            case SetSysctls():
                self._sysctls(op)
            case CreateBridge() | CreateStandIn():
                index = self.alloc(op.netns)
                self._create_link(op.netns, nl.new_link(index, op.ifname, op.LINK_KIND),
                                  [(op.node, op.netns, op.ifname, index)])
            case CreateVeth():
                ia, ib = self.alloc(op.a.netns), self.alloc(op.b.netns)
                body = nl.new_link(ia, op.a.ifname, "veth",
                                   data=nl.veth_peer(ib, op.b.ifname, self.ns.fd(op.b.netns)))
                self._create_link(op.a.netns, body, [(op.a.node, op.a.netns, op.a.ifname, ia),
                                                     (op.b.node, op.b.netns, op.b.ifname, ib)])
            case SetMac():
                self._journal_undo(op)
                mac = bytes.fromhex(op.mac.replace(":", ""))
                self._set(op.netns, nl.link_mac(self.index(op.netns, op.ifname), mac))
            case SetMtu():
                self._journal_undo(op)
                self._set(op.netns, nl.link_mtu(self.index(op.netns, op.ifname), op.mtu))
            case SetNetem() | DeleteNetem():
                ifindex = self.index(op.netns, op.ifname) if isinstance(op, SetNetem) else \
                    self.known(op.netns).get(op.ifname)
                return netem_op(self.socks(op.netns), ifindex, op,
                                self._journal if self._journalling(op.netns) else None)
            case EnslavePort():
                self._journal_undo(op)
                master = self.index(op.netns, op.bridge)
                self._set(op.netns, nl.link_master(self.index(op.netns, op.ifname), master))
            case ReleasePort():
                self._journal_undo(op)
                self._set(op.netns, nl.link_master(self.index(op.netns, op.ifname), 0))
            case AddAddress():
                a = op.address
                body = nl.addr_body(self.index(op.netns, op.ifname), nl.family(a.version), a.network.prefixlen,
                                    a.ip.packed, nodad=op.nodad)
                self._add(op.netns, nl.RTM_NEWADDR, body, DeleteAddress(op.node, op.netns, op.ifname, a))
            case AddRoute():
                oif = self.index(op.netns, op.dev) if op.dev is not None else None
                self._add(op.netns, nl.RTM_NEWROUTE, _route_body(op, oif),
                          DeleteRoute(op.node, op.netns, op.to, op.via, op.dev, op.metric))
            case DeleteAddress():
                ifindex = self.known(op.netns).get(op.ifname)
                if ifindex is None:
                    return False  # its interface is gone, and the address with it
                a = op.address
                body = nl.addr_body(ifindex, nl.family(a.version), a.network.prefixlen, a.ip.packed, nodad=False)
                if not self._delete(op.netns, nl.RTM_DELADDR, body, f"address {a} from {op.ifname}"):
                    return False
                if self._journalling(op.netns):
                    self._journal(AddAddress(op.node, op.netns, op.ifname, a))
            case DeleteRoute():
                dev = self.known(op.netns).get(op.dev) if op.dev is not None else None
                if op.dev is not None and dev is None:
                    return False  # its interface is gone, and the route with it
                if not self._delete(op.netns, nl.RTM_DELROUTE, _route_body(op, dev), f"route {op.to}"):
                    return False
                if self._journalling(op.netns):
                    self._journal(AddRoute(op.node, op.netns, op.to, op.via, op.dev, op.metric))
            case LoadNftables():
                self._nft(op)
            case LoadIptables():
                self._iptables(op)
            case DeleteNftables() | RestoreNftables():
                return self._replace_nft(op)
            case DeleteIptables():
                return self._delete_iptables(op)
            case RestoreIptables():
                with self.ns.inside(op.netns):
                    now = lab_lines(self.tools.iptables_save(op.family), op.chains)
                    if self._journalling(op.netns):
                        self._journal(chains_back(op, op.family, now))
                    if now != (list(op.lines) if op.lines is not None else None):
                        self.tools.iptables_restore(op.family, op.change(now))
            case DeleteIptablesRule():  # a rule not the lab's: not put back on rollback
                with self.ns.inside(op.netns):
                    self.tools.iptables_restore(op.family, op.transaction)
            case DeleteLink():
                return self._delete_link(op)
            case DeleteNetns():
                return self._delete_netns(op)
            case RestoreSysctls():
                return self._restore_sysctls(op)
            case StartService():  # journalled in every namespace: deleting one stops nothing that runs in it
                self._journal(StopService(op.node, op.netns, op.name, op.dir))
                self.services[op.key] = services.start(op)
            case StopService():
                self.services[op.key] = None
                return services.stop(op)
            case _:
                assert_never(op)
        return True

    def _set(self, netns: str | None, body: bytes) -> None:
        self.socks(netns).request(nl.RTM_NEWLINK, body)

    def _create_link(self, netns: str | None, body: bytes, made: list[tuple[str, str | None, str, int]]) -> None:
        try:
            self.socks(netns).request(nl.RTM_NEWLINK, body, create=True)
        except KernelError as exc:
            for _node, where, _name, index in made:  # the indexes were not used
                if index:
                    self.next_index[where] -= 1
            if exc.errno == errno.EEXIST:
                names = ", ".join(n for _, _, n, _ in made)
                raise KernelError(exc.errno, f"interface {names} exists already") from None
            raise
        for node, where, name, index in made:
            if not index:  # the kernel chose it
                try:
                    link = self.socks(where).link(name)
                    if link is None:
                        raise KernelError(errno.ENODEV, f"interface {name} vanished right after it was made")
                except KernelError:  # undone by name, like every link
                    self._journal(DeleteLink(node, where, name))
                    raise
                index = link.index
            self.known(where)[name] = index
            self.made.add((where, name))
            if not self.fresh(where):
                self._journal(DeleteLink(node, where, name))

    def _add(self, netns: str | None, new: int, body: bytes, undo: DeleteAddress | DeleteRoute) -> None:
        # exclusive even when converging: the diff found it missing, so "exists" means someone raced us
        self.socks(netns).request(new, body, create=True)
        if self._journalling(netns):
            self._journal(undo)

    def _delete(self, netns: str | None, kind: int, body: bytes, what: str) -> bool:
        """One netlink delete; False when the object is gone already."""
        code = self.socks(netns).acked(kind, body)
        if code in (errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL, errno.ENODEV):
            return False
        if code:
            raise KernelError(code, f"delete {what} in {where(netns)}: {os.strerror(code)}")
        return True

    def _delete_link(self, op: DeleteLink) -> bool:
        sock = self.socks(op.netns)
        # a link that was there before the run (converge deletes it to make it again, or as extra) is
        # journalled as the operations that make it again as it is now (live/remake.py)
        journalling = self._journalling(op.netns) and (op.netns, op.ifname) not in self.made
        if op.mark is None and not journalling:
            gone = not self._delete(op.netns, nl.RTM_DELLINK, nl.link_named(op.ifname), f"interface {op.ifname}")
        else:
            link = sock.link(op.ifname)
            gone = link is None or (op.mark is not None and link.alias != op.mark)
            if link is not None and not gone:
                if journalling:
                    for again in reversed(remake(self.ns, self.socks, op.node, op.netns, link, [*self.ns.fds, None])):
                        self._journal(again)
                sock.delete_link(link.index, op.ifname)
        if not gone:
            self.indexes.pop(op.netns, None)  # a veth's peer went too: look again when needed
        return not gone

    def _delete_netns(self, op: DeleteNetns) -> bool:
        if op.mark is not None:
            if not netns_exists(op.netns):
                return False
            lo = self.socks(op.netns).link("lo")
            if lo is None or lo.alias != op.mark:
                return False
        self.socks.forget(op.netns)
        self.indexes.pop(op.netns, None)
        self.created_ns.discard(op.netns)
        return self.ns.delete(op.netns)

    def _sysctls(self, op: SetSysctls) -> None:
        journalling = self._journalling(op.netns)
        with self.ns.inside(op.netns):
            old = {s.key: read_sysctl(s.proc_path) for s in op.values} if journalling or op.save_to else {}
            if op.save_to is not None and not os.path.exists(op.save_to):
                os.makedirs(os.path.dirname(op.save_to), exist_ok=True)
                with open(op.save_to, "w") as f:
                    f.writelines(f"{k} = {v}\n" for k, v in old.items() if v is not None)
            back = tuple(Sysctl(s.path, v, s.optional) for s in op.values if (v := old.get(s.key)) is not None)
            if journalling and back:  # journalled first: should a write fail, those before it are put back
                self._journal(SetSysctls(op.node, op.netns, back))
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

    def _restore_sysctls(self, op: RestoreSysctls) -> bool:
        """Put back the values saved in `op.path` (`key = value` lines, as SetSysctls wrote them), then remove it."""
        try:
            with open(op.path) as f:
                saved = f.read().splitlines()
        except FileNotFoundError:
            return False
        with self.ns.inside(op.netns):
            for line in saved:
                key, _, value = line.partition(" = ")
                # the key as `sysctl` takes it: with slashes when an interface name has a dot
                # a key this kernel lacks (any more) is skipped, like `sysctl -e` does
                self.tools.write_sysctl("/proc/sys/" + (key if "/" in key else key.replace(".", "/")), value)
        os.unlink(op.path)
        return True

    def _nft(self, op: LoadNftables) -> None:
        with self.ns.inside(op.netns):
            if self._journalling(op.netns):
                before = self.tools.nft_listing(op.table)
                self._journal(nft_back(op, before))
            self.tools.nft_load(nft_replacement(op.table, nft_ruleset(op)))
            self.nft[where(op.netns)] = self.tools.nft_listing(op.table) or ""
            self.rules[where(op.netns)] = loaded_text(op)

    def _replace_nft(self, op: DeleteNftables | RestoreNftables) -> bool:
        """Delete the table (False: there was none), or put it back to a ruleset (rollback); journalled, like a load."""
        with self.ns.inside(op.netns):
            before = self.tools.nft_listing(op.table)
            if isinstance(op, DeleteNftables):
                self.nft[where(op.netns)] = self.rules[where(op.netns)] = None
                if before is None:
                    return False
            if self._journalling(op.netns):
                self._journal(nft_back(op, before))
            self.tools.nft_load(op.script if isinstance(op, RestoreNftables) else nft_replacement(op.table, ""))
        return True

    def _iptables(self, op: LoadIptables) -> None:
        # per family, one transaction from what is there (a converging re-apply may find the chains,
        # changed by hand) to the plan's rules: hooks are taken out first, so a reload never doubles them
        chains = op.chains
        fresh = self.fresh(op.netns)
        with self.ns.inside(op.netns):
            for family in op.families:
                now = None if fresh else lab_lines(self.tools.iptables_save(family), chains)
                if not fresh:  # journalled first: should a later family fail, this one is still put back
                    self._journal(chains_back(op, family, now))
                wanted = lab_lines(iptables_restore(op, family), chains)
                self.tools.iptables_restore(family, iptables_change(now, wanted))
            self.iptables[where(op.netns)] = iptables_listing(op) or ""
            self.rules[where(op.netns)] = loaded_text(op)

    def _delete_iptables(self, op: DeleteIptables) -> bool:
        chains = op.chains
        found = False
        with self.ns.inside(op.netns):
            for family in op.families:
                now = lab_lines(self.tools.iptables_save(family), chains)
                if now is None:
                    continue
                found = True
                if not self.fresh(op.netns):
                    self._journal(chains_back(op, family, now))
                self.tools.iptables_restore(family, iptables_change(now, None))
        self.iptables[where(op.netns)] = self.rules[where(op.netns)] = None
        return found

def _route_body(op: AddRoute | DeleteRoute, oif: int | None) -> bytes:
    # the kernel deletes an onlink route without the flag (measured), so only AddRoute carries it
    return nl.route_body(nl.family(op.family), op.to.prefixlen, op.to.network_address.packed,
                         op.via.packed if op.via is not None else None, oif, op.metric,
                         onlink=isinstance(op, AddRoute) and op.onlink)
