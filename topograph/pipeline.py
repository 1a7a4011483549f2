"""The stages from file to checked model, in one readable list, with a gate after each stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from topograph import build, loader, parse, validate
from topograph.diagnostics import Report
from topograph.model import Topology

if TYPE_CHECKING:
    import networkx as nx


@dataclass
class Checked:
    """What `load` produced: the model when the file is sound, and every diagnostic."""

    report: Report = field(default_factory=Report)
    topology: Topology | None = None

    @property
    def ok(self) -> bool:
        return self.topology is not None and not self.report.has_errors

    @cached_property
    def graph(self) -> nx.MultiGraph | None:
        """The sound topology as a networkx graph (topograph.graph), built when first asked for.

        Drawing needs it; compiling and applying do not, and on a big lab building it costs more
        than planning the whole lab (bench_compile.py measures both).
        """
        from topograph import graph  # networkx is imported with it

        return graph.build(self.topology) if self.ok and self.topology is not None else None


def check_text(text: str, file: str) -> Checked:
    result = Checked()
    return _after_load(loader.load_text(text, file, result.report), result)


def check_file(path: str | Path) -> Checked:
    result = Checked()
    return _after_load(loader.load_file(path, result.report), result)


def _after_load(source: loader.Source | None, result: Checked) -> Checked:
    if source is None or result.report.has_errors:
        return result
    # a document with shape errors is still checked without its broken parts: every problem at once,
    # but none that only follows from a part that was left out (the gaps)
    shaped = parse.shape_partial(source, result.report)
    if shaped is None:
        return result
    document, gaps = shaped
    before = len(result.report)
    topology = build.build(source, document, result.report, gaps)
    if any(d.is_error for d in result.report.items[before:]):
        return result  # names or references that do not resolve: the model is not sound enough to check
    validate.validate(topology, result.report, gaps)
    if not result.report.has_errors:
        result.topology = topology
    return result
