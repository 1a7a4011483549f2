"""The stages from file to checked model, in one readable list, with a gate after each stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from topograph.front import graph, loader, resolve, shape, validate
from topograph.front.diagnostics import Report
from topograph.model import Topology


@dataclass
class Checked:
    """What `load` produced: the model and its graph when the file is sound, and every diagnostic."""

    report: Report = field(default_factory=Report)
    topology: Topology | None = None
    graph: nx.Graph | None = None  # the lab's interfaces and L2 edges (topograph.graph.l2_graph), built by validation

    @property
    def ok(self) -> bool:
        return self.topology is not None and not self.report.has_errors


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
    shaped = shape.shape_partial(source, result.report)
    if shaped is None:
        return result
    document, gaps = shaped
    before = len(result.report)
    topology = resolve.build(source, document, result.report, gaps)
    if any(d.is_error for d in result.report.items[before:]):
        return result  # names or references that do not resolve: the model is not sound enough to check
    g = graph.l2_graph(topology)
    validate.validate(topology, g, result.report, gaps)
    if not result.report.has_errors:
        result.topology, result.graph = topology, g
    return result
