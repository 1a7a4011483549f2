"""A lab in Python: load it (a file, YAML text, a networkx graph), then check, reach, trace, render, compile, up.

    >>> import topograph
    >>> lab = topograph.load("samples/06-port-forward.yml")
    >>> lab.check().ok, lab.trace("red", "blue").ok
    (True, True)

A `Lab` is immutable: its YAML text and the name its diagnostics give it. The checked model is worked
out once, when first asked for. Everything that needs a sound lab raises `LabError` (with the
diagnostics) when the lab does not check.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from topograph.api.results import CheckResult, LabError, Reach, TraceResult
from topograph.front.diagnostics import Report
from topograph.front.quoting import quote
from topograph.model import IPAddress, Proto, Topology
from topograph.pipeline import Checked, check_text
from topograph.sim.trace import Flow

if TYPE_CHECKING:
    import networkx as nx

    from topograph.api.live import LiveLab
    from topograph.plan import Plan

Format = Literal["svg", "png", "pdf", "dot"]
Firewall = Literal["nftables", "iptables"]


@dataclass(frozen=True)
class Lab:
    """One topology: `text` is its YAML, `source` the name diagnostics give it (a path, or `<graph NAME>`)."""

    text: str
    source: str
    path: Path | None = None  # the file it was read from (recorded by `up` as the lab's source)

    # -- making one -------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> Lab:
        """The topology file at `path`; a missing, unreadable or oversized file is a LabError (TG000, TG004)."""
        from topograph.front import loader, reader

        p, report = Path(path), Report()
        raw = reader.read(p, report)  # a regular file of at most 4 MiB, as `check` reads it (TG000, TG004)
        if raw is not None:
            try:
                return cls(raw.decode("utf-8"), str(p), p)
            except UnicodeDecodeError:
                loader.load_bytes(raw, str(p), report)  # TG000 at the first byte that is not UTF-8
        result = CheckResult(tuple(report))
        raise LabError(f"cannot load {p}:\n{result.text()}", result.errors)

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> Lab:
        """YAML text in the file format; `source` is how diagnostics name it (`<text>:3:5: error[...]`)."""
        return cls(text, source)

    @classmethod
    def from_graph(cls, graph: nx.Graph, name: str | None = None) -> Lab:
        """A lab from a networkx graph, by the conventions of `topograph.api.graph` (see `to_document`)."""
        from topograph.api.graph import to_yaml

        text, lab = to_yaml(graph, name)
        return cls(text, f"<graph {lab}>")

    # -- the checked model ------------------------------------------------------------------------
    @cached_property
    def _checked(self) -> Checked:
        return check_text(self.text, self.source)

    @cached_property
    def _expected(self) -> CheckResult:
        checked = self._checked
        report = Report(list(checked.report.items))  # a copy: check(expectations=False) stays without TG410
        if checked.ok and checked.topology is not None and checked.topology.expectations:
            from topograph.sim.expect import diagnostics

            report.extend(diagnostics(checked.network))
        return CheckResult(tuple(report))

    def check(self, *, expectations: bool = True) -> CheckResult:
        """`topograph check`: every diagnostic of the file; `expectations` also holds its `expect:` list (TG410)."""
        return self._expected if expectations else CheckResult(tuple(self._checked.report))

    @property
    def ok(self) -> bool:
        """True when the lab checks (its expectations held too)."""
        return self.check().ok

    @property
    def topology(self) -> Topology:
        """The typed model (topograph.model.Topology); LabError when the lab does not check."""
        return self._sound().topology  # type: ignore[return-value]

    @property
    def name(self) -> str:
        return self.topology.name

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.topology.nodes)

    def _sound(self) -> Checked:
        checked = self._checked
        if not checked.ok:
            result = CheckResult(tuple(checked.report))
            raise LabError(f"{self.source} does not check:\n{result.text()}", result.errors)
        return checked

    def _holds(self, expectations: bool) -> None:
        if expectations and not (result := self.check()).ok:
            raise LabError(f"{self.source}: an expectation is broken:\n{result.text()}", result.errors)

    # -- predictions ------------------------------------------------------------------------------
    def reach(self, *, every_address: bool = False, failures: Iterable[str] = ()) -> Reach:
        """`topograph reach`: every node to every node's first address and every port forward.

        `failures` takes elements down first, as `reach --fail`: a node, a bridge, NODE:IFNAME, END--END.
        """
        from topograph.sim.classes import fast_matrix
        from topograph.sim.failures import UnknownElement, with_failures
        from topograph.sim.matrix import targets
        from topograph.sim.network import Network

        checked = self._sound()
        down = tuple(failures)
        topology = checked.topology
        assert topology is not None
        if down:
            try:
                topology = with_failures(topology, down)
            except UnknownElement as exc:
                raise LabError(f"failures: {exc}") from exc
        net = checked.network if not down else Network(topology, graph=checked.graph)
        return Reach(fast_matrix(net, targets(topology, every_address=every_address)))

    def trace(self, src: str, dst: str, tcp: int | None = None) -> TraceResult:
        """`topograph trace SRC DST [--tcp PORT]`: one flow hop by hop and its reply.

        `dst` is a node (its first address outside loopback), an address, or NODE:PORT through NODE's
        TCP port forward on PORT.
        """
        from topograph.sim.forward import Walker

        net = self._sound().network
        return TraceResult(Walker(net).run(self._flow(src, dst, tcp)))

    def _flow(self, src: str, dst: str, tcp: int | None) -> Flow:
        from topograph.sim.matrix import forward_target

        t = self.topology
        self._node(src, "source")
        if tcp is not None and not 1 <= tcp <= 65535:
            raise LabError(f"tcp port {tcp} is not in 1-65535")
        proto, port = (Proto.TCP, tcp) if tcp is not None else (Proto.ICMP, None)
        address: IPAddress | None = None
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(dst.strip("[]"))
        if address is not None:
            return Flow(src, address, proto, port)
        name, sep, port_text = dst.rpartition(":")
        if sep and port_text.isdigit() and name:
            self._node(name, "destination")
            if tcp is not None and tcp != int(port_text):
                raise LabError(f"{dst} is a connection to port {port_text}, and tcp={tcp} names another")
            target = forward_target(t, name, int(port_text))
            if target is None:
                have = ", ".join(f"{f.proto}/{f.port}" for f in t.node(name).port_forwards) or "none"
                raise LabError(f"{name} has no usable tcp port forward on port {port_text} (its port forwards: {have})")
            return target.flow(src, self._sound().network)
        self._node(dst, "destination")
        primary = t.node(dst).primary_address
        if primary is None:
            raise LabError(f"node {quote(dst)} has no address to trace to; name an address instead")
        return Flow(src, primary, proto, port)

    def _node(self, name: str, what: str) -> None:
        if name not in self.nodes:
            raise LabError(f"{what} {quote(name)} is not a node of lab {quote(self.name)}; its nodes: {', '.join(self.nodes)}")

    # -- outputs ----------------------------------------------------------------------------------
    def dot(self, *, routes: bool | None = None, trace: tuple[str, str] | None = None, tcp: int | None = None) -> str:
        """The diagram's DOT source (deterministic), as `topograph render --dot` prints it."""
        from topograph.render import Options, to_dot
        from topograph.render.path import overlay

        checked = self._sound()
        assert checked.topology is not None and checked.graph is not None
        drawn = None
        if trace is not None:
            drawn = overlay(checked.topology, checked.graph, self.trace(*trace, tcp=tcp).result)
        return to_dot(checked.topology, checked.graph, Options(routes=routes), drawn)

    def render(self, format: Format = "svg", *, output: str | Path | None = None, routes: bool | None = None,
               trace: tuple[str, str] | None = None, tcp: int | None = None) -> bytes:
        """`topograph render`: the diagram as svg, png or pdf bytes (dot: its source, UTF-8), written to `output` too."""
        from topograph.render.output import FORMATS, RenderError, draw, write_output

        if format not in FORMATS:
            raise LabError(f"format {quote(format)} is not one of {', '.join(FORMATS)}")
        source = self.dot(routes=routes, trace=trace, tcp=tcp)
        try:
            data = draw(source, format)
            if output is not None:
                write_output(str(output), data)
        except RenderError as exc:
            raise LabError(str(exc)) from exc
        return data

    def plan(self, *, sandbox: str | None = None, firewall: Firewall = "nftables") -> Plan:
        """The ordered operations that bring the lab up (topograph.plan.Plan); `sandbox` a namespace prefix."""
        from topograph.plan import plan

        if sandbox is not None:
            _prefix_or_fail(sandbox)
        return plan(self.topology, sandbox_prefix=sandbox, firewall=firewall)

    def compile(self, *, sandbox: str | None = None, firewall: Firewall = "nftables", teardown: bool = False,
                expectations: bool = True) -> str:
        """`topograph compile`: the bash script that sets the lab up (or, `teardown`, removes it)."""
        from topograph.compile import render_setup, render_teardown

        self._holds(expectations and not teardown)
        p = self.plan(sandbox=sandbox, firewall=firewall)
        return render_teardown(p) if teardown else render_setup(p)

    def up(self, sandbox: str, *, firewall: Firewall = "nftables", expectations: bool = True,
           wait: float = 0.0) -> LiveLab:
        """Apply the lab in namespaces named SANDBOX+NODE; use as `with lab.up(sandbox="t1-") as live:`.

        The with-block gets a `LiveLab` (exec, popen, verify, status); leaving it destroys the lab,
        also when the block raises. Needs root. See topograph.api.live.
        """
        from topograph.api.live import LiveLab

        self._holds(expectations)
        return LiveLab(self, self.plan(sandbox=sandbox, firewall=firewall), wait=wait)


def _prefix_or_fail(prefix: str) -> None:
    from topograph.kernel_names import prefix_problem

    problem = prefix_problem(prefix)
    if problem:
        raise LabError(f"sandbox prefix {quote(prefix)} {problem}")


def load(path: str | Path) -> Lab:
    """The lab in the topology file at `path` (checked when first asked: `load(p).check()`)."""
    return Lab.from_file(path)


def from_text(text: str, source: str = "<text>") -> Lab:
    """The lab in YAML `text`; diagnostics name it `source`."""
    return Lab.from_text(text, source)


def from_graph(graph: nx.Graph, name: str | None = None) -> Lab:
    """The lab a networkx graph describes (conventions: topograph.api.graph)."""
    return Lab.from_graph(graph, name)


def from_document(document: Mapping[str, Any], source: str = "<document>") -> Lab:
    """The lab of a document already in the format's shape (a dict as the YAML would load)."""
    from topograph.api.graph import dump

    return Lab.from_text(dump(document), source)
