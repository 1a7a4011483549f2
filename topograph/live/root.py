"""Real mode: what a lab changes in the root namespace besides links, named in its record, and putting it back.

Interfaces in the root namespace are deleted by name and alias (engine.destroy). What else the
host's share of a lab changes there is shared with everything on the machine, so apply names it in
the lab's record before it changes anything: the file where the old sysctl values were saved, the
nftables tables and the iptables chains it loads. `destroy --lab NAME` then needs no FILE to put
the root namespace back, and a run killed midway still leaves a record that names all of it.

The kernel is reached through `RootKernel`, so unit tests check destroy with a fake one: a test
must never change the root namespace.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from topograph import naming
from topograph.live.execute import restore_tool, run_tool
from topograph.live.observe import iptables_save, lab_lines
from topograph.live.state import Record, state_dir
from topograph.plan import LoadIptables, LoadNftables, Operation, SetSysctls
from topograph.plan.firewall import iptables_change

FAMILIES = (4, 6)


class RootKernel(Protocol):
    """The root namespace's sysctls, nftables and iptables, as destroy needs them."""

    def write_sysctl(self, proc_path: str, value: str) -> bool:
        """Set one value; False when this kernel has no such key (any more)."""

    def delete_nft_table(self, table: str) -> bool:
        """Delete table `inet TABLE`; False when there is none."""

    def iptables_save(self, family: int) -> str:
        """The nat table in iptables-save form ("" when the tool or the table is absent)."""

    def iptables_restore(self, family: int, text: str) -> None:
        """Load `text` with `iptables-restore --noflush` (ip6tables-restore for 6)."""


class System:
    """The real kernel, from the calling thread's (root) namespace."""

    def write_sysctl(self, proc_path: str, value: str) -> bool:
        try:
            with open(proc_path, "w") as out:
                out.write(value)
        except OSError:
            return False
        return True

    def delete_nft_table(self, table: str) -> bool:
        try:
            done = subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, check=False,
                                  timeout=60)
        except FileNotFoundError:
            return False
        return done.returncode == 0

    def iptables_save(self, family: int) -> str:
        return iptables_save(family)

    def iptables_restore(self, family: int, text: str) -> None:
        run_tool([restore_tool(family), "--noflush"], text)


@dataclass(frozen=True, slots=True)
class RootShare:
    """What a lab changes in the root namespace besides its links."""

    sysctl_files: tuple[str, ...] = ()
    nft_tables: tuple[str, ...] = ()
    iptables_chains: tuple[str, ...] = ()

    @classmethod
    def of_ops(cls, ops: Iterable[Operation]) -> RootShare:
        files: list[str] = []
        tables: list[str] = []
        chains: list[str] = []
        for op in ops:
            if getattr(op, "netns", "") is not None:
                continue
            if isinstance(op, SetSysctls) and op.save_to is not None:
                files.append(op.save_to)
            elif isinstance(op, LoadNftables):
                tables.append(op.table)
            elif isinstance(op, LoadIptables):
                chains += [op.pre_chain, op.post_chain]
        return cls(tuple(files), tuple(tables), tuple(chains))

    @classmethod
    def of_record(cls, record: Record) -> RootShare:
        """What the record names, as far as it is the lab's own by name; anything else stays alone.

        A record is a file, so it is held to what apply writes there: the lab's sysctl file
        (LAB.sysctl, in the state directory or where plans keep it), table and chains named after
        the lab (naming). A record naming another path, table or chain never makes destroy read,
        delete or flush it.
        """
        lab = record.lab
        dirs = {str(state_dir()), os.path.dirname(naming.sysctl_state_file(lab))}
        files = tuple(f for f in record.root_sysctls
                      if os.path.basename(f) == f"{lab}{naming.SYSCTL_SUFFIX}" and os.path.dirname(f) in dirs)
        tables = tuple(t for t in record.root_tables if t == naming.nft_table(lab))
        chains = tuple(c for c in record.root_chains if c in (naming.iptables_chain(lab, "PRE"),
                                                               naming.iptables_chain(lab, "POST")))
        return cls(files, tables, chains)

    def __or__(self, other: RootShare) -> RootShare:
        def both(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys((*a, *b)))

        return RootShare(both(self.sysctl_files, other.sysctl_files), both(self.nft_tables, other.nft_tables),
                         both(self.iptables_chains, other.iptables_chains))

    def note_in(self, record: Record) -> None:
        """Add this share to the record (kept sorted, like the record's other lists)."""
        record.root_sysctls = sorted({*record.root_sysctls, *self.sysctl_files})
        record.root_tables = sorted({*record.root_tables, *self.nft_tables})
        record.root_chains = sorted({*record.root_chains, *self.iptables_chains})


def restore(share: RootShare, kernel: RootKernel) -> list[str]:
    """Put the root namespace back: delete the lab's tables and chains, then restore the saved sysctls.

    Whatever is already gone is skipped, so a half-built lab and a second run are fine. Returns
    what was done, for destroy's count.
    """
    done: list[str] = []
    for table in share.nft_tables:
        if kernel.delete_nft_table(table):
            done.append(f"nftables table inet {table}")
    if share.iptables_chains:
        for family in FAMILIES:
            now = lab_lines(kernel.iptables_save(family), share.iptables_chains)
            if now is not None:
                kernel.iptables_restore(family, iptables_change(now, None))
                done.append(f"ipv{family} iptables chains {', '.join(share.iptables_chains)}")
    for path in share.sysctl_files:
        try:
            with open(path) as f:
                saved = f.read().splitlines()
        except FileNotFoundError:
            continue
        for line in saved:
            key, _, value = line.partition(" = ")
            # the key as `sysctl` takes it: with slashes when an interface name has a dot
            kernel.write_sysctl("/proc/sys/" + (key if "/" in key else key.replace(".", "/")), value)
        os.unlink(path)
        done.append(f"sysctls saved in {path}")
    return done
