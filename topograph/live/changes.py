"""What a comparison of the live state with the plan finds (`Diff`), one difference at a time (`Change`).

Each change carries the plan operations that fix it, so that apply runs them with the same runner
as a setup and the same templates print them (apply --dry-run --commands). converge.diff makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from topograph.plan import (
    DeleteAddress,
    DeleteIptablesRule,
    DeleteLink,
    DeleteNetns,
    DeleteRoute,
    Operation,
    StopService,
)

State = Literal["missing", "drifted", "extra"]


#: Deleting one object, as a plan operation: a namespace, a link, an address, a route, or an iptables
#: rule (or policy) not the lab's, or stopping a service. Run by the same Runner.run as the repair, and printed by the same
#: templates (apply --dry-run --commands).
Removal = DeleteNetns | DeleteLink | DeleteAddress | DeleteRoute | DeleteIptablesRule | StopService


@dataclass(frozen=True, slots=True)
class Change:
    state: State
    what: str
    op: Operation | None = None  # the plan operation that repairs it (missing / drifted)
    removal: Removal | None = None  # the deletion that repairs it (extra), or that must come first

    @property
    def ops(self) -> list[Operation]:
        """What apply runs for this change, in order: the deletion first, then the repair."""
        return [o for o in (self.removal, self.op) if o is not None]


@dataclass
class Diff:
    up_to_date: int = 0
    changes: list[Change] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # why apply must not start (see `ownership.blockers()`)
    cut_short: bool = False  # the record says its apply never finished (killed, or still running)
    running: int | None = None  # the pid of the apply that holds the lab's lock now, if any (engine.plan_diff)
    #: the lab's own by its mark, though its record lacks them (`ownership.marked()`); apply records them
    adopted_namespaces: list[str] = field(default_factory=list)
    adopted_links: list[str] = field(default_factory=list)

    @property
    def adopted(self) -> list[str]:
        return ([f"namespace {n}" for n in self.adopted_namespaces]
                + [f"interface {n} (root namespace)" for n in self.adopted_links])

    @property
    def clean(self) -> bool:
        return not self.changes and not self.blockers

    def count(self, state: State) -> int:
        return sum(1 for c in self.changes if c.state == state)

    @property
    def before(self) -> list[Removal]:
        """Deletions that must come before the repair (objects to recreate)."""
        return [c.removal for c in self.changes if c.removal is not None and c.state != "extra"]

    @property
    def after(self) -> list[Removal]:
        """Deletions of extra objects, done once everything else is in place."""
        return [c.removal for c in self.changes if c.removal is not None and c.state == "extra"]

    @property
    def repair(self) -> list[Operation]:
        return [c.op for c in self.changes if c.op is not None]

    @property
    def operations(self) -> list[Operation]:
        """Everything apply runs, in its order: the deletions that come first, the repair, the extra objects' deletions."""
        return [*self.before, *self.repair, *self.after]
