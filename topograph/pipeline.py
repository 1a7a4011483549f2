"""The stages from file to checked model and its predictions, in one readable list, with a gate after each.

    load (YAML with positions) -> shape (the document's structure) -> resolve (names, references,
    addresses: the typed model) -> graph + validate (segments, subnets, routes, NAT) -> expect (the
    file's expectations against the simulator's predictions, when asked)

Every stage reports all of its problems; a gate stops the stages after it when there are errors, so
no message follows only from an earlier one. What comes after — plan, compile, apply, render,
review — starts from a `Checked` whose `ok` is true. `check`, `compile` and `apply` hold the
expectations (a broken one stops them, as it fails `check`); `trace`, `reach`, `render` and `review`
show predictions and so take a lab whose expectations are broken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from topograph.front import graph, loader, resolve, shape, validate
from topograph.front.diagnostics import Report
from topograph.model import Topology

if TYPE_CHECKING:
    from topograph.sim.network import Network


@dataclass
class Checked:
    """What the stages produced: the model and its graph when the file is sound, and every diagnostic."""

    report: Report = field(default_factory=Report)
    topology: Topology | None = None
    graph: nx.Graph | None = None  # the lab's interfaces and L2 edges (front.graph.l2_graph), built by validation
    _network: Network | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.topology is not None and not self.report.has_errors

    @property
    def network(self) -> Network:
        """The simulator's view of the sound lab (routing tables, L2 domains), built when first asked for."""
        if self._network is None:
            if self.topology is None:
                raise ValueError("no network: the file did not check")
            from topograph.sim.network import Network  # the simulator loads lazily

            self._network = Network(self.topology, graph=self.graph)
        return self._network


def check_text(text: str, file: str, *, expectations: bool = False) -> Checked:
    result = Checked()
    return _after_load(loader.load_text(text, file, result.report), result, expectations)


def check_file(path: str | Path, *, expectations: bool = False) -> Checked:
    """Check the topology at `path`; `expectations` also holds its `expect:` list against the simulator."""
    result = Checked()
    return _after_load(loader.load_file(path, result.report), result, expectations)


def _after_load(source: loader.Source | None, result: Checked, expectations: bool) -> Checked:
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
    if result.report.has_errors:
        return result
    result.topology, result.graph = topology, g
    if expectations:
        expect(result)
    return result


def expect(result: Checked) -> Checked:
    """The last gate: each expectation the simulator contradicts is a TG410 error at its line."""
    if result.ok and result.topology is not None and result.topology.expectations:
        from topograph.sim.expect import diagnostics

        result.report.extend(diagnostics(result.network))
    return result
