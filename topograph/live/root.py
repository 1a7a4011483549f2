"""Real mode: what a lab changes in the root namespace besides links, named in its record, and what puts it back.

Interfaces in the root namespace are deleted by name and alias (engine.destroy). What else the
host's share of a lab changes there is shared with everything on the machine, so apply names it in
the lab's record before it changes anything: the file where the old sysctl values were saved, the
nftables tables and the iptables chains it loads. `destroy --lab NAME` then needs no FILE to put
the root namespace back, and a run killed midway still leaves a record that names all of it.

Putting it back is a list of plan operations (`RootShare.undo`), run by the same runner as apply's
steps. The runner reaches the firewall tools and sysctls through `firewall.Tools`, so
unit tests check destroy with a fake one: a test must never change the root namespace.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import assert_never

from topograph import kernel_names
from topograph.live.state import Record, state_dir
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
    namespaces,
)

FAMILIES = (4, 6)




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
            if None not in namespaces(op):  # the root namespace's share only
                continue
            match op:
                case SetSysctls():
                    if op.save_to is not None:
                        files.append(op.save_to)
                case LoadNftables():
                    tables.append(op.table)
                case LoadIptables():
                    chains += op.loaded_chains
                case (CreateNetns() | MarkNetns() | MarkLink() | LoopbackUp() | CreateBridge() | CreateVeth()
                      | CreateStandIn() | SetMac() | SetMtu() | EnslavePort() | AddAddress() | LinkUp() | AddRoute()
                      | LinkDown() | ReleasePort() | DeleteAddress() | DeleteRoute() | RestoreNftables()
                      | RestoreIptables() | DeleteIptablesRule() | DeleteNftables() | DeleteIptables() | DeleteLink()
                      | DeleteNetns() | RestoreSysctls() | StartService() | StopService()
                      | SetNetem() | DeleteNetem()):
                    pass  # links (RootShare is what is besides them), and steps that leave nothing of the lab's
                case _:
                    assert_never(op)
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
        dirs = {str(state_dir()), os.path.dirname(kernel_names.sysctl_state_file(lab))}
        files = tuple(f for f in record.root_sysctls
                      if os.path.basename(f) == f"{lab}{kernel_names.SYSCTL_SUFFIX}" and os.path.dirname(f) in dirs)
        tables = tuple(t for t in record.root_tables if t == kernel_names.nft_table(lab))
        chains = tuple(c for c in record.root_chains if c in (kernel_names.iptables_chain(lab, "PRE"),
                                                               kernel_names.iptables_chain(lab, "POST"),
                                                               *kernel_names.iptables_filter_chains(lab)))
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


    def undo(self, lab: str, node: str = "host") -> list[Operation]:
        """The operations that put the root namespace back: delete the lab's tables and chains, then
        restore the saved sysctls. Each finds what is already gone and does nothing then, so a
        half-built lab and a second run are fine."""
        ops: list[Operation] = [DeleteNftables(node, None, table) for table in self.nft_tables]
        if self.iptables_chains:  # the lab's own, by name (naming), in every family
            ops.append(DeleteIptables(node, None, kernel_names.iptables_chain(lab, "PRE"),
                                      kernel_names.iptables_chain(lab, "POST"), FAMILIES,
                                      kernel_names.iptables_filter_chains(lab)))
        ops += [RestoreSysctls(node, None, path) for path in self.sysctl_files]
        return ops
