"""Check a topology's expectations against the simulator's predictions and return diagnostics."""

from __future__ import annotations

from dataclasses import dataclass

from topograph.front.diagnostics import Diagnostic, Pos, Severity
from topograph.model import Expectation, IPAddress, Topology
from topograph.sim.forward import Walker
from topograph.sim.matrix import forward_target
from topograph.sim.network import Network
from topograph.sim.trace import Flow, FlowResult


@dataclass(frozen=True, slots=True)
class Verdicted:
    """One expectation, the flow it stands for, and what the simulator predicts for it."""

    expectation: Expectation
    result: FlowResult | None  # None when the target has no address (validate already warns, TG506)

    @property
    def holds(self) -> bool:
        return self.result is None or self.result.ok == self.expectation.reach


def destination(topology: Topology, e: Expectation) -> IPAddress | None:
    if e.dst_address is not None:
        return e.dst_address
    return topology.node(e.dst_node).primary_address if e.dst_node is not None else None


def flow(net: Network, e: Expectation) -> Flow | None:
    """The flow an expectation stands for: what `topograph trace FILE SRC DST` follows for the same words
    (None when the target has no address). Check, the simulator and `verify` all take it from here."""
    if e.forward:
        assert e.dst_node is not None and e.port is not None
        target = forward_target(net.topology, e.dst_node, e.port)
        return target.flow(e.src, net) if target is not None else None
    dst = destination(net.topology, e)
    return Flow(e.src, dst, e.proto, e.port) if dst is not None else None


def evaluate(net: Network) -> list[Verdicted]:
    walker = Walker(net)
    out = []
    for e in net.topology.expectations:
        f = flow(net, e)
        out.append(Verdicted(e, walker.run(f) if f is not None else None))
    return out


def diagnostics(net: Network) -> list[Diagnostic]:
    """A TG410 error at each expectation the prediction contradicts, naming the node and the missing piece."""
    out = []
    for v in evaluate(net):
        if v.holds or v.result is None:
            continue
        e, r = v.expectation, v.result
        pos = e.pos or Pos(net.topology.file, 1, 1)
        target = e.dst if e.dst_node is None else f"{e.dst} ({r.flow.dst})"
        what = str(e.proto) + (f"/{e.port}" if e.port is not None else "")
        port = f" --{e.proto} {e.port}" if e.port is not None and not e.forward else ""
        hint = f"see the path with: topograph trace {net.topology.file} {e.src} {e.dst if e.forward else r.flow.dst}{port}"
        if e.reach:
            message = f"expected {e.src} to reach {target} ({what}), but {r.disposition}: {r.reason}"
        else:
            message = f"expected {e.src} not to reach {target} ({what}), but it does: {r.reason}"
        out.append(Diagnostic(Severity.ERROR, "TG410", message, pos, hint))
    return out
