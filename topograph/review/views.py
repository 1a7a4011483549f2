"""What each section of the review page shows: small typed values, made by review/sections.py and
rendered by the HTML and Markdown templates (templates/review/)."""

from __future__ import annotations

from dataclasses import dataclass

MATRIX_MAX = 40  # nodes: above this the matrix is summarised, never a table of thousands of rows


WIDE = 16  # columns from which the matrix's cells carry a code of a few letters (the legend names them)


@dataclass(frozen=True, slots=True)
class Figure:
    """A diagram: its SVG, and the file name it gets beside a Markdown page."""

    svg: str
    name: str
    caption: str  # empty for the lab's diagram: its title is drawn in it

    @property
    def anchor(self) -> str:
        return self.name.removesuffix(".svg")



@dataclass(frozen=True, slots=True)
class Header:
    name: str
    file: str
    description: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class Member:
    node: str
    interface: str
    addresses: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    name: str
    subnets: tuple[str, ...]
    members: tuple[Member, ...]
    gateways: tuple[str, ...]  # "192.168.15.5 (host) for red, blue": addresses some route goes via

    @property
    def compact(self) -> bool:
        """Many members: listed as running text, not a table row each."""
        return len(self.members) > MATRIX_MAX


@dataclass(frozen=True, slots=True)
class InterfaceRow:
    name: str
    addresses: tuple[str, ...]
    notes: str


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One filter rule as the page lists it: its number in the chain, its action and what it matches."""

    number: int
    action: str
    matches: str
    allows: bool  # accept (styled apart from drop, reject and reset)


@dataclass(frozen=True, slots=True)
class ChainView:
    hook: str
    policy: str
    rules: tuple[RuleRow, ...]


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    kind: str
    forwarding: bool
    rp_filter: str
    interfaces: tuple[InterfaceRow, ...]
    routes: tuple[str, ...]
    nat: tuple[str, ...]
    port_forwards: tuple[str, ...]
    filter: tuple[ChainView, ...] = ()  # the chains the file writes, in hook order
    listen: tuple[str, ...] = ()  # tcp/22, udp/53
    alike: tuple[str, ...] = ()  # big labs: other nodes set up the same way but for their addresses, not shown apart


@dataclass(frozen=True, slots=True)
class Cell:
    short: str  # the `reach` code: ok, no-route, ...
    tiny: str  # the same in a few letters (wide matrices)
    disposition: str
    node: str  # where it was decided
    anchor: str | None  # the explanation's id, for every cell that is not delivered


@dataclass(frozen=True, slots=True)
class Explanation:
    anchor: str
    src: str
    dst: str
    disposition: str
    short: str
    reason: str
    text: str  # `topograph trace`'s hop-by-hop text
    command: str


@dataclass(frozen=True, slots=True)
class Tally:
    short: str
    tiny: str
    disposition: str
    cells: int


@dataclass(frozen=True, slots=True)
class MatrixView:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]  # empty when the lab is too big for a table
    tallies: tuple[Tally, ...]
    explanations: tuple[Explanation, ...]
    note: str
    command: str = ""  # big labs: the command that prints every cell

    @property
    def wide(self) -> bool:
        """Many columns: headers turned on their side, cells in a few letters."""
        return len(self.columns) > WIDE


@dataclass(frozen=True, slots=True)
class ExpectationView:
    line: str  # its line in the lab's file
    text: str
    note: str
    status: str  # held, broken, or unchecked (a target without an address: check warns, TG506)
    disposition: str
    short: str
    reason: str
    figure: Figure | None  # the flow over the diagram, for a broken expectation
    trace: str


@dataclass(frozen=True, slots=True)
class WarningView:
    where: str
    code: str
    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class CellGroup:
    """Matrix cells that changed alike, as `topograph diff` prints them: which, before -> after, and why."""

    label: str  # "red, blue -> internet"
    before: str  # in short: "ok", "no-route at red", "(none)" for a cell that is new
    after: str
    was: str  # "e.g. red -> internet: no route: ..." ("" for a cell that is new)
    now: str


@dataclass(frozen=True, slots=True)
class ChangesView:
    old: str
    new: str
    design: str  # "design: 3 changes"
    changes: tuple[str, ...]  # as `topograph diff` prints them
    removed: tuple[str, ...]  # nodes, interfaces and links removed: not on this diagram
    marked: bool  # something is marked on the diagram
    reach: str  # "reachability: 4 cells changed"
    cells: tuple[CellGroup, ...]
    command: str


@dataclass(frozen=True, slots=True)
class Broken:
    """An expectation a failure breaks, and why (its flow's fate under the failure)."""

    line: str
    text: str
    disposition: str
    short: str
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class FailureRow:
    name: str  # as --fail takes it: a link END--END or a node
    kind: str  # link or node
    broken: tuple[Broken, ...]
    command: str  # what the failure does to the whole matrix


@dataclass(frozen=True, slots=True)
class FailuresView:
    note: str
    rows: tuple[FailureRow, ...]
