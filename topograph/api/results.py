"""What the Python API hands back: small frozen views over the pipeline's and the simulator's answers.

Each keeps the underlying object (`matrix`, `result`, `diff`, `observed`) for whoever needs more, and
offers the few questions a script or a test asks: is it ok, which failed, the text the CLI would print.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from topograph.front.diagnostics import Diagnostic, count, render_text
from topograph.front.quoting import quote
from topograph.live.changes import Change, Diff, State
from topograph.live.verify import Observed, results_table
from topograph.sim.matrix import Matrix, Target
from topograph.sim.trace import Disposition, FlowResult, Trace, Verdict, render


class LabError(Exception):
    """A lab that cannot do what was asked: it does not check, a name it does not have, a sandbox in use.

    `diagnostics` holds the file's problems when the lab did not check (each with file:line:col).
    """

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...] = ()) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The diagnostics of `topograph check`: errors and warnings in source order, each with file:line:col."""

    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed), as `check` exits 0."""
        return not self.errors

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes in order, e.g. ('TG202', 'TG300'): handy in assertions."""
        return tuple(d.code for d in self.diagnostics)

    def text(self) -> str:
        """What `topograph check` prints: every diagnostic with its hint, then the count."""
        return render_text(self.diagnostics)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.diagnostics)

    def __len__(self) -> int:
        return len(self.diagnostics)


@dataclass(frozen=True, slots=True)
class Reach:
    """The predicted reachability matrix of `topograph reach`: every source node to every target.

    Targets are named as in `reach`: a node (its first address outside loopback), or NODE:PORT for
    a port forward; `every_address=True` names them NODE[ADDRESS].
    """

    matrix: Matrix

    @property
    def sources(self) -> tuple[str, ...]:
        return self.matrix.sources

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.matrix.targets)

    def _target(self, name: str) -> int:
        for i, t in enumerate(self.matrix.targets):
            if t.name == name:
                return i
        raise LabError(f"no target {quote(name)} in the matrix; its targets: {', '.join(self.targets)}")

    def verdict(self, src: str, dst: str) -> Verdict:
        """How `src`'s ping (or connection, for NODE:PORT) to target `dst` ends, and at which node."""
        if src not in self.matrix.index:
            raise LabError(f"no source {quote(src)} in the matrix; its sources: {', '.join(self.sources)}")
        return self.matrix.verdict(src, self._target(dst))

    def disposition(self, src: str, dst: str) -> Disposition:
        return self.verdict(src, dst).disposition

    def reaches(self, src: str, dst: str) -> bool:
        """True when `src` reaches target `dst` and the reply comes back (DELIVERED)."""
        return self.verdict(src, dst).ok

    def cells(self) -> Iterator[tuple[str, Target, Verdict]]:
        """Every (source, target, verdict), source by source."""
        for src, row in zip(self.sources, self.matrix.rows(), strict=True):
            yield from ((src, t, v) for t, v in zip(self.matrix.targets, row, strict=True))

    def failing(self) -> list[tuple[str, str, Disposition]]:
        """The (source, target, disposition) of every cell that is not DELIVERED."""
        return [(s, t.name, v.disposition) for s, t, v in self.cells() if not v.ok]

    def table(self) -> str:
        """The text table `topograph reach --full` prints."""
        return self.matrix.table()

    def as_json(self) -> dict[str, Any]:
        """The JSON of `topograph reach --json --full`."""
        return {"form": "cells", **self.matrix.as_json()}


@dataclass(frozen=True, slots=True)
class TraceResult:
    """One flow hop by hop and its reply, as `topograph trace` follows it."""

    result: FlowResult

    @property
    def ok(self) -> bool:
        """True when the flow is delivered and answered (trace's exit status 0)."""
        return self.result.ok

    @property
    def disposition(self) -> Disposition:
        return self.result.disposition

    @property
    def reason(self) -> str:
        return self.result.reason

    @property
    def request(self) -> Trace:
        return self.result.request

    @property
    def reply(self) -> Trace | None:
        return self.result.reply

    @property
    def path(self) -> tuple[str, ...]:
        """The nodes the request went through, in order."""
        return self.result.request.nodes

    def text(self) -> str:
        """What `topograph trace` prints."""
        return render(self.result)

    def as_json(self) -> dict[str, Any]:
        return self.result.as_json()

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True, slots=True)
class Status:
    """The live lab against its file, as `topograph status` compares them."""

    diff: Diff

    @property
    def clean(self) -> bool:
        """True when everything is as the file says (status exits 0)."""
        return self.diff.clean

    @property
    def up_to_date(self) -> int:
        return self.diff.up_to_date

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(self.diff.changes)

    @property
    def blockers(self) -> tuple[str, ...]:
        return tuple(self.diff.blockers)

    def count(self, state: State) -> int:
        """How many objects are 'missing', 'drifted' or 'extra'."""
        return self.diff.count(state)

    def text(self) -> str:
        """One line per change (`missing: add route ...`), or the count of objects up to date."""
        lines = [f"{c.state}: {c.what}" for c in self.diff.changes] + [f"blocked: {b}" for b in self.diff.blockers]
        return "\n".join(lines) + "\n" if lines else f"up to date ({count(self.diff.up_to_date, 'object')})\n"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Real traffic through the live lab against the prediction, as `topograph verify` prints it."""

    observed: tuple[Observed, ...]

    @property
    def ok(self) -> bool:
        """True when every flow behaved as predicted (verify exits 0)."""
        return all(o.agrees for o in self.observed)

    @property
    def differing(self) -> tuple[Observed, ...]:
        """The flows whose observed outcome is not the predicted one."""
        return tuple(o for o in self.observed if not o.agrees)

    def text(self) -> str:
        """verify's table and its last line."""
        bad = len(self.differing)
        flows = count(len(self.observed), "flow")
        last = f"{flows}, {bad} differ" if bad else f"{flows}, all as predicted"
        return "\n".join([*results_table(list(self.observed)), last]) + "\n"

    def __iter__(self) -> Iterator[Observed]:
        return iter(self.observed)

    def __len__(self) -> int:
        return len(self.observed)
