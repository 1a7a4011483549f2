"""Real traffic through a live lab: pings and TCP connects between its namespaces, predicted vs observed.

Every probe runs from this process. A TCP probe opens its listener inside the destination's
namespace (a socket stays in the namespace it was created in) and its client inside the source's,
and counts as reached only when the connection lands on *that* listener — so a port forward that
sends traffic elsewhere is caught. Pings use `ping`, started while this thread is in the source
namespace (a child process starts in its parent thread's namespace).
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass

from topograph.live.kernel import Namespaces
from topograph.model import IPAddress, Proto, Topology
from topograph.plan.placement import Placement


@dataclass(frozen=True, slots=True)
class Probe:
    src: str  # node
    dst: IPAddress
    label: str  # what the line shows as destination
    proto: Proto = Proto.ICMP
    port: int | None = None
    predicted: bool | None = None  # None: no prediction (nothing to compare)
    why: str = ""


@dataclass(frozen=True, slots=True)
class Observed:
    probe: Probe
    reached: bool | None  # None: could not be tried (e.g. an external node in real mode)
    detail: str = ""

    @property
    def agrees(self) -> bool:
        return self.reached is None or self.probe.predicted is None or self.reached == self.probe.predicted


def probes(topology: Topology, *, all_pairs: bool) -> list[Probe]:
    """The file's expectations (or every source and target) with the simulator's prediction."""
    from topograph.sim import Network, Walker
    from topograph.sim.expect import flow as expectation_flow
    from topograph.sim.matrix import targets

    net = Network(topology)
    walker = Walker(net)
    out: list[Probe] = []
    if all_pairs:
        columns = targets(topology)
        for node in topology.nodes:
            for t in columns:
                if t.node == node.name:
                    continue
                flow = t.flow(node.name, net)  # the address `reach` aims at for this source
                result = walker.run(flow)
                out.append(Probe(node.name, flow.dst, t.name, t.proto, t.port, result.ok, result.reason))
        return out
    for e in topology.expectations:
        f = expectation_flow(net, e)  # as check and trace resolve it (`to: NODE:PORT` through a port forward too)
        if f is None:
            continue
        result = walker.run(f)
        out.append(Probe(e.src, f.dst, e.dst_node or str(f.dst), f.proto, f.port, result.ok, e.note or result.reason))
    return out


def _ping(ns: Namespaces, netns: str | None, dst: IPAddress, tries: int) -> bool:
    for _ in range(tries):
        with ns.inside(netns):
            done = subprocess.run(["ping", "-n", "-c1", "-W1", str(dst)], capture_output=True, check=False, timeout=10)
        if done.returncode == 0:
            return True
    return False


def _listener_for(topology: Topology, probe: Probe) -> tuple[str, IPAddress, int] | None:
    """Where the server of a TCP probe listens: a port forward's target, or the destination itself."""
    assert probe.port is not None
    owner = topology.owner_of(probe.dst)
    if owner is None:
        return None
    for fwd in topology.node(owner.node).port_forwards:
        if fwd.proto is probe.proto and fwd.port == probe.port:
            target = topology.owner_of(fwd.to_address)
            return (target.node, fwd.to_address, fwd.to_port) if target is not None else None
    return owner.node, probe.dst, probe.port


def _family(address: IPAddress) -> int:
    return socket.AF_INET if address.version == 4 else socket.AF_INET6


def _tcp(ns: Namespaces, placement: Placement, topology: Topology, probe: Probe, tries: int) -> tuple[bool, str]:
    where = _listener_for(topology, probe)
    listener = None
    if where is not None and placement.configures(where[0]):
        node, address, port = where
        with ns.inside(placement.netns(node)):
            listener = socket.socket(_family(address), socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((str(address), port))
        listener.listen(8)
        listener.settimeout(1.0)
    try:
        for _ in range(tries):
            with ns.inside(placement.netns(probe.src)):
                client = socket.socket(_family(probe.dst), socket.SOCK_STREAM)
            client.settimeout(1.5)
            try:
                client.connect((str(probe.dst), probe.port or 0))
            except OSError as exc:
                detail = exc.strerror or str(exc)
                client.close()
                continue
            try:
                if listener is None:
                    return True, "connected"
                try:
                    conn, _ = listener.accept()
                    conn.close()
                    return True, f"reached {where[0]}:{where[2]}" if where else "connected"
                except TimeoutError:  # someone else's listener took it: not the flow the file means
                    return False, "connected, but not to the expected listener"
            finally:
                client.close()
        return False, detail if tries else ""
    finally:
        if listener is not None:
            listener.close()


def run(topology: Topology, placement: Placement, ps: list[Probe]) -> list[Observed]:
    """Send each probe for real; a probe from a node topograph does not configure is not tried."""
    ns = Namespaces()
    out: list[Observed] = []
    try:
        for p in ps:
            if not placement.configures(p.src):
                out.append(Observed(p, None, "source is outside the lab (real mode)"))
                continue
            tries = 3 if p.predicted is not False else 1
            if p.proto is Proto.ICMP:
                got = _ping(ns, placement.netns(p.src), p.dst, tries)
                out.append(Observed(p, got, "echo reply" if got else "no reply"))
            else:
                got, detail = _tcp(ns, placement, topology, p, tries)
                out.append(Observed(p, got, detail))
    finally:
        ns.close()
    return out


def _word(value: bool | None) -> str:
    return "-" if value is None else ("reach" if value else "no reach")


def table(results: list[Observed]) -> list[str]:
    """Lines of the side-by-side report: flow, predicted, observed, and a mark where they differ."""
    rows = [(f"{o.probe.src} -> {o.probe.label}" + (f" {o.probe.proto}/{o.probe.port}" if o.probe.port else ""),
             _word(o.probe.predicted), _word(o.reached), "ok" if o.agrees else "DIFFERS", o.detail) for o in results]
    w0 = max([len("flow"), *(len(r[0]) for r in rows)])
    lines = [f"{'flow':<{w0}}  {'predicted':<9}  {'observed':<9}  result"]
    lines += [f"{a:<{w0}}  {b:<9}  {c:<9}  {d}" + (f"  ({e})" if d != "ok" and e else "") for a, b, c, d, e in rows]
    return lines
