"""The matrix at scale: sources and targets that behave the same as classes, each block of cells one verdict.

A cell's verdict is written relative to its row and column — decided at the source, at the target, or at
a named node — so that `ns0 -> ns1: ok at target` and `ns5 -> ns7: ok at target` are the same. Sources whose
rows read the same over every class of targets form a class, and targets whose columns read the same over
every class of sources form one; the two partitions are refined against each other until they stop
changing (on bit sets of sources, never cell by cell). A self cell (a node to its own address or its own
port forward) is kept apart, so "each node reaches only itself" is one block too. Whatever a block's
cells do not share is listed as exceptions: the compact form is lossless (`expand` gives every cell back).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from topograph.front.diagnostics import count
from topograph.sim.matrix import SHORT, SOURCE, TARGET, Matrix, _bits
from topograph.sim.trace import Disposition

#: (disposition, where it was decided: SOURCE, TARGET or a node's name)
Token = tuple[Disposition, str]

#: The reach table is summarised by default above this many sources or targets (a wider table is unreadable).
SUMMARY_ABOVE = 40


@dataclass(frozen=True, slots=True)
class Block:
    """The cells of one source class to one target class: one verdict, the self cells' verdict, and exceptions."""

    sources: int  # index of the source class
    targets: int  # index of the target class
    token: Token | None  # None: the block has only self cells
    self_token: Token | None  # None: no self cells in the block
    exceptions: tuple[tuple[int, int, Token], ...]  # (source index, target index, token) of cells that differ


@dataclass(frozen=True, slots=True)
class Summary:
    matrix: Matrix
    source_classes: tuple[tuple[int, ...], ...]
    target_classes: tuple[tuple[int, ...], ...]
    blocks: tuple[Block, ...]

    def as_json(self) -> dict[str, Any]:
        """The lossless compact form: classes, one token per block, exceptions; `expand` reads it back."""
        m = self.matrix
        tokens: dict[Token, int] = {}

        def tok(t: Token | None) -> int | None:
            return None if t is None else tokens.setdefault(t, len(tokens))

        blocks = [{"sources": b.sources, "targets": b.targets, "verdict": tok(b.token), "self": tok(b.self_token),
                   "exceptions": [[s, t, tok(k)] for s, t, k in b.exceptions]} for b in self.blocks]
        return {"form": "classes", "sources": list(m.sources), "targets": [t.as_json() for t in m.targets],
                "tokens": [_token_json(t) for t in tokens],
                "source_classes": [list(c) for c in self.source_classes],
                "target_classes": [list(c) for c in self.target_classes],
                "blocks": blocks,
                "counts": {str(d): n for d, n in sorted(m.counts().items())}}

    def text(self, lab: str) -> str:
        """One line per source class and verdict: `ns0 … ns2999 (3,000) -> every target: ok`."""
        m = self.matrix
        head = (f"lab {lab}: {len(m.sources):,} sources x {len(m.targets):,} targets ({len(m):,} cells) in "
                f"{count(len(self.source_classes), 'source class', 'source classes')} x "
                f"{count(len(self.target_classes), 'target class', 'target classes')}; --full prints every cell")
        lines = [head]
        by_source: dict[int, dict[str, list[int]]] = {}
        for b in self.blocks:
            by_source.setdefault(b.sources, {}).setdefault(self._block_text(b), []).append(b.targets)
        # lines that say the same of the same targets are one line, whichever source classes they come from
        merged: dict[tuple[tuple[int, ...], str], list[int]] = {}
        for ri, texts in sorted(by_source.items()):
            for text, cols in texts.items():
                merged.setdefault((tuple(cols), text), []).append(ri)
        for (blocks, text), classes in merged.items():
            who = names([m.sources[i] for i in sorted(i for ri in classes for i in self.source_classes[ri])])
            if len(blocks) == len(self.target_classes):
                where = "every target"
            else:
                where = names([m.targets[j].name for j in sorted(j for c in blocks for j in self.target_classes[c])])
            lines.append(f"{who} -> {where}: {text}")
        return "\n".join(lines) + "\n"

    def _block_text(self, b: Block) -> str:
        parts = []
        if b.token is not None:
            parts.append(token_text(b.token))
        if b.self_token is not None and b.self_token != b.token:
            parts.append(("itself: " if b.token is not None else "") + token_text(b.self_token))
        text = "; ".join(parts)
        if b.exceptions:
            m = self.matrix
            shown = [f"{m.sources[s]} -> {m.targets[t].name}: {token_text(k)}" for s, t, k in b.exceptions[:3]]
            more = f", and {len(b.exceptions) - 3:,} more" if len(b.exceptions) > 3 else ""
            text += f" (except {', '.join(shown)}{more})"
        return text


def token_text(t: Token) -> str:
    d, at = t
    if d is Disposition.DELIVERED:
        return "ok"
    return f"{SHORT[d]} at " + ("source" if at == SOURCE else "target" if at == TARGET else at)


def _token_json(t: Token) -> dict[str, Any]:
    d, at = t
    if at in (SOURCE, TARGET):
        return {"disposition": str(d), "at": "source" if at == SOURCE else "target", "node": None}
    return {"disposition": str(d), "at": "node", "node": at}


#: Runs of neighbouring members a class's name shows before "and N more".
RUNS_SHOWN = 4


def names(members: Sequence[str]) -> str:
    """A class's members in short: runs of neighbours as `first … last`, the count when more than one."""
    if len(members) == 1:
        return members[0]
    if len(members) <= 6:
        return ", ".join(members)
    # runs of members that stand next to each other in the class (the matrix's order)
    parts = [_run(members, i, j) for i, j in _runs(members)]
    shown = RUNS_SHOWN
    text = ", ".join(parts[:shown]) + (f", and {len(parts) - shown:,} more" if len(parts) > shown else "")
    return f"{text} ({len(members):,})"


def _runs(members: Sequence[str]) -> list[tuple[int, int]]:
    """Runs of names with a common stem and consecutive numbers (ns0, ns1, ns2 ...), as index ranges."""
    out: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(members) + 1):
        if i == len(members) or not _follows(members[i - 1], members[i]):
            out.append((start, i - 1))
            start = i
    return out


def _follows(a: str, b: str) -> bool:
    sa, na = _split(a)
    sb, nb = _split(b)
    return na is not None and nb is not None and sa == sb and nb == na + 1


def _split(name: str) -> tuple[str, int | None]:
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    return (stem, int(digits)) if digits and (digits == "0" or not digits.startswith("0")) else (name, None)


def _run(members: Sequence[str], i: int, j: int) -> str:
    if j - i >= 2:
        return f"{members[i]} … {members[j]}"
    return ", ".join(members[i:j + 1])


def column_tokens(m: Matrix, j: int) -> dict[Token, int]:
    """Column `j` as tokens — verdicts decided at the source, at the target or at a named node — with the bit
    set of the sources that get each. Equal tokens of one cell on two sides mean equal verdicts."""
    t = m.targets[j]
    mine = m.index.get(t.node)
    nbit = 0 if mine is None else 1 << mine
    by: dict[Token, int] = {}
    for v, bits in m.columns[j]:
        if v.node == SOURCE:
            parts = [((v.disposition, TARGET), bits & nbit), ((v.disposition, SOURCE), bits & ~nbit)]
        elif v.node == t.node:
            parts = [((v.disposition, TARGET), bits)]
        else:
            xi = m.index.get(v.node)
            xbit = 0 if xi is None else 1 << xi
            parts = [((v.disposition, SOURCE), bits & xbit), ((v.disposition, v.node), bits & ~xbit)]
        for k, b in parts:
            if b:
                by[k] = by.get(k, 0) | b
    return by


def summarise(m: Matrix) -> Summary:
    """Classes of sources and targets, refined against each other to a fixed point; blocks with exceptions."""
    n = len(m.sources)
    full = (1 << n) - 1
    cols: list[dict[Token, int]] = []
    selfs: list[tuple[int, Token] | None] = []  # the self cell of each column: (source index, token)
    for j, t in enumerate(m.targets):
        by = column_tokens(m, j)
        mine = m.index.get(t.node)
        own: tuple[int, Token] | None = None
        if mine is not None:  # the self cell is kept apart from the column's other cells
            nbit = 1 << mine
            k = next(k for k, b in by.items() if b & nbit)
            own = (mine, k)
            by[k] &= ~nbit
            if not by[k]:
                del by[k]
        cols.append(by)
        selfs.append(own)
    rows: list[int] = [full] if n else []
    groups: list[list[int]] = [list(range(len(m.targets)))] if m.targets else []
    while True:
        rows = _refine_rows(rows, groups, cols, selfs)
        new_groups = _refine_columns(rows, groups, cols, selfs)
        if len(new_groups) == len(groups):
            break
        groups = new_groups
    row_classes = sorted((tuple(_bits(r)) for r in rows), key=lambda c: c[0])
    col_classes = sorted((tuple(g) for g in groups), key=lambda c: c[0])
    return Summary(m, tuple(row_classes), tuple(col_classes), tuple(_blocks(row_classes, col_classes, cols, selfs)))


def _refine_rows(rows: list[int], groups: list[list[int]], cols: list[dict[Token, int]],
                 selfs: list[tuple[int, Token] | None]) -> list[int]:
    """Split source classes until every source of a class has the same tokens (and self tokens) in each target class."""
    for g in groups:
        union: dict[Token, int] = {}
        own: dict[Token, int] = {}
        for j in g:
            for k, b in cols[j].items():
                union[k] = union.get(k, 0) | b
            s = selfs[j]
            if s is not None:
                own[s[1]] = own.get(s[1], 0) | (1 << s[0])
        for splitter in (*union.values(), *own.values()):
            out = []
            for r in rows:
                inside = r & splitter
                if inside and inside != r:
                    out += [inside, r & ~splitter]
                else:
                    out.append(r)
            rows = out
    return rows


def _refine_columns(rows: list[int], groups: list[list[int]], cols: list[dict[Token, int]],
                    selfs: list[tuple[int, Token] | None]) -> list[list[int]]:
    """Split target classes until every target of a class has the same tokens over each source class."""
    out: list[list[int]] = []
    for g in groups:
        by: dict[tuple[object, ...], list[int]] = {}
        for j in g:
            seen = frozenset((ri, k) for k, b in cols[j].items() for ri, r in enumerate(rows) if b & r)
            s = selfs[j]
            own = None if s is None else (next(ri for ri, r in enumerate(rows) if r >> s[0] & 1), s[1])
            by.setdefault((seen, own), []).append(j)
        out += by.values()
    return out


def _blocks(row_classes: Sequence[tuple[int, ...]], col_classes: Sequence[tuple[int, ...]],
            cols: list[dict[Token, int]], selfs: list[tuple[int, Token] | None]) -> Iterable[Block]:
    masks = [sum(1 << i for i in c) for c in row_classes]
    for ri, mask in enumerate(masks):
        for ci, cls in enumerate(col_classes):
            counts: Counter[Token] = Counter()
            own: Counter[Token] = Counter()
            for j in cls:
                for k, b in cols[j].items():
                    if b & mask:
                        counts[k] += (b & mask).bit_count()
                s = selfs[j]
                if s is not None and mask >> s[0] & 1:
                    own[s[1]] += 1
            token = _most(counts)
            self_token = _most(own)
            if token is None and self_token is None:
                continue  # no cells here (a class of targets no source of this class ... cannot happen; kept safe)
            exceptions = []
            for j in cls:
                for k, b in cols[j].items():
                    if k != token and b & mask:
                        exceptions += [(i, j, k) for i in _bits(b & mask)]
                s = selfs[j]
                if s is not None and mask >> s[0] & 1 and s[1] != self_token:
                    exceptions.append((s[0], j, s[1]))
            yield Block(ri, ci, token, self_token, tuple(sorted(exceptions, key=lambda e: (e[0], e[1]))))


def _most(counts: Counter[Token]) -> Token | None:
    """The most common token (ties: the first in disposition order, then by node), None for none."""
    if not counts:
        return None
    return min(counts, key=lambda k: (-counts[k], list(Disposition).index(k[0]), k[1]))


def expand(compact: dict[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """Every cell back from the compact form: the `matrix` of the per-cell JSON (Matrix.as_json)."""
    sources: list[str] = compact["sources"]
    targets: list[dict[str, Any]] = compact["targets"]
    tokens: list[dict[str, Any]] = compact["tokens"]

    def cell(k: int, s: str, t: dict[str, Any]) -> dict[str, str]:
        tk = tokens[k]
        node = s if tk["at"] == "source" else t["node"] if tk["at"] == "target" else tk["node"]
        return {"disposition": tk["disposition"], "node": node}

    out: dict[str, dict[str, dict[str, str]]] = {s: {} for s in sources}
    for b in compact["blocks"]:
        rows = compact["source_classes"][b["sources"]]
        columns = compact["target_classes"][b["targets"]]
        for i in rows:
            s = sources[i]
            for j in columns:
                t = targets[j]
                k = b["self"] if t["node"] == s else b["verdict"]
                if k is not None:
                    out[s][t["name"]] = cell(k, s, t)
        for i, j, k in b["exceptions"]:
            out[sources[i]][targets[j]["name"]] = cell(k, sources[i], targets[j])
    # the per-cell form lists every row's cells in target order
    order = {t["name"]: n for n, t in enumerate(targets)}
    return {s: dict(sorted(row.items(), key=lambda kv: order[kv[0]])) for s, row in out.items()}
