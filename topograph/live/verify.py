"""Real traffic through a live lab: pings, TCP connects and UDP datagrams between its namespaces, predicted vs observed.

Every probe runs from this process, many at once (`topograph.live.probe`): ICMP echo from a raw
socket opened in the source's namespace, TCP connects and UDP datagrams whose own listener or
responder waits in the destination's namespace — a probe counts as reached only when it lands on
*that* listener, so a port forward that sends traffic elsewhere is caught. Verify starts them where
the simulator has something listening: a node's `listen:` entries and the targets of port forwards;
elsewhere nothing listens, and the kernel refuses (a TCP reset, an ICMP port unreachable).

Each flow is predicted and observed as one of: reach; refused (at once: an ICMP error or a TCP reset
came back); silence (a time-out); or, predicted only, no reach (a disposition the simulator does not
tell apart by what the source sees: routers answer some of them with ICMP errors, ARP failures take
seconds) — that prediction holds for any observation but reach. `run` says how lost probes are
retried and how flows carried by neighbours another flow taught are measured again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from topograph.front.wire import LOOPBACK, IPAddress, Proto
from topograph.live.probe import WINDOW, Job, Listen, Outcome
from topograph.live.rounds import Entry, Pairs, Rounds

if TYPE_CHECKING:
    from topograph.model import Topology
    from topograph.placement import Placement

#: What the source sees of each disposition (a topograph.sim.trace.Disposition, by its value) it can tell
#: apart; any other is predicted "no reach". By value: importing the simulator loads networkx, which a
#: verify from its remembered prediction (topograph.live.verify_cache) never needs.
SEEN: dict[str, Outcome] = {
    "DELIVERED": Outcome.REACHED,
    "FILTER_REJECTED": Outcome.REFUSED,
    "CONNECTION_REFUSED": Outcome.REFUSED,
    "FILTER_DROPPED": Outcome.SILENCE,
}


def expected(disposition: str) -> Outcome:
    """The outcome a probe should see for the simulator's disposition (Outcome.UNREACHED: any but reach)."""
    return SEEN.get(disposition, Outcome.UNREACHED)


def agree(predicted: Outcome | None, observed: Outcome | None) -> bool:
    """Does an observation bear out a prediction? "no reach" is borne out by anything but reach."""
    if predicted is None or observed is None:
        return True
    if predicted is Outcome.UNREACHED:
        return observed is not Outcome.REACHED
    return observed is predicted


@dataclass(frozen=True, slots=True)
class Probe:
    src: str  # node
    dst: IPAddress
    label: str  # what the line shows as destination
    proto: Proto = Proto.ICMP
    port: int | None = None
    predicted: bool | None = None  # None: no prediction (nothing to compare)
    why: str = ""
    disposition: str | None = None  # the simulator's (a Disposition), when known: refines `predicted`

    @property
    def expected(self) -> Outcome | None:
        if self.disposition is not None:
            return expected(self.disposition)
        return None if self.predicted is None else (Outcome.REACHED if self.predicted else Outcome.UNREACHED)


@dataclass(frozen=True, slots=True)
class Observed:
    probe: Probe
    outcome: Outcome | None  # None: could not be tried (e.g. an external node in real mode)
    detail: str = ""
    remark: str = ""  # shown even when as predicted (how the flow was observed, when that matters)

    @property
    def reached(self) -> bool | None:
        return None if self.outcome is None else self.outcome is Outcome.REACHED

    @property
    def agrees(self) -> bool:
        return agree(self.probe.expected, self.outcome)


def probes(topology: Topology, *, all_pairs: bool) -> list[Probe]:
    """The file's expectations (or every source and target) with the simulator's prediction."""
    from topograph.sim import Network, Walker
    from topograph.sim.classes import fast_matrix
    from topograph.sim.expect import flow as expectation_flow
    from topograph.sim.matrix import targets

    net = Network(topology)
    out: list[Probe] = []
    if all_pairs:  # the matrix of `reach`, cell for cell the per-pair walker's verdicts (unit tests), in a fraction of its time
        columns = targets(topology)
        matrix = fast_matrix(net, columns)
        for node in topology.nodes:
            for i, t in enumerate(columns):
                if t.node == node.name:
                    continue
                flow = t.flow(node.name, net)  # the address `reach` aims at for this source
                v = matrix.verdict(node.name, i)
                out.append(Probe(node.name, flow.dst, t.name, t.proto, t.port, v.ok, f"{v.disposition} at {v.node}",
                                 v.disposition))
        return out
    walker = Walker(net)
    for e in topology.expectations:
        f = expectation_flow(net, e)  # as check and trace resolve it (`to: NODE:PORT` through a port forward too)
        if f is None:
            continue
        result = walker.run(f)
        out.append(Probe(e.src, f.dst, e.dst_node or str(f.dst), f.proto, f.port, result.ok, e.note or result.reason,
                         result.disposition))
    return out


def _listener_for(topology: Topology, probe: Probe) -> tuple[str, IPAddress, int] | None:
    """Where the server of a TCP or UDP probe listens, as the simulator has it: a port forward's target, or the
    destination itself when its node's `listen:` names the port (None: nothing listens, the kernel refuses)."""
    assert probe.port is not None
    owner = topology.owner_of(probe.dst)
    if owner is None:
        return None
    node = topology.node(owner.node)
    forwards = [f for f in node.port_forwards
                if f.proto is probe.proto and f.port == probe.port and f.to_address.version == probe.dst.version]
    catching = [f for f in forwards if f.address in (None, probe.dst)]
    if not catching and any(x.proto is probe.proto and x.port == probe.port for x in node.listen):
        return owner.node, probe.dst, probe.port
    # the forward that catches the destination; else one bound to another address, whose target then listens
    # so that a connection the kernel forwarded against the prediction shows
    for fwd in (*catching, *forwards):
        target = topology.owner_of(fwd.to_address)
        return (target.node, fwd.to_address, fwd.to_port) if target is not None else None
    return None


def _job(topology: Topology, placement: Placement, p: Probe) -> Job:
    if p.proto is Proto.ICMP or p.port is None:
        return Job(placement.netns(p.src), p.dst)
    where = _listener_for(topology, p)
    listen = None
    if where is not None and placement.configures(where[0]):
        service = ", ".join(s.name for s in topology.node(where[0]).services)
        listen = Listen(where[0], placement.netns(where[0]), where[1], where[2], p.proto, service)
    return Job(placement.netns(p.src), p.dst, p.port, listen, p.proto)


def _pairs(topology: Topology, placement: Placement, ps: list[Probe]) -> Pairs:
    """For each probe between two nodes on one segment: the pair (either direction) and the neighbour entries
    its flows make — the source's entry for the destination and the destination's for the source."""
    owners = {a.ip: itf for node in topology.nodes for itf in node.interfaces for a in itf.addresses}
    # per source node: its interfaces with their subnets, once (a star's 2,550 probes would scan them 2,550 times)
    subnets = {node.name: [(itf.name, [(a.ip, a.network, str(a.network)) for a in itf.addresses])
                           for itf in node.interfaces if itf.name != LOOPBACK] for node in topology.nodes}
    out: Pairs = {}
    for i, p in enumerate(ps):
        owner = owners.get(p.dst)
        if owner is None or owner.name == LOOPBACK or not placement.configures(p.src) \
                or not placement.configures(owner.node):
            continue
        s_ns, d_ns = placement.netns(p.src), placement.netns(owner.node)
        if s_ns is None or d_ns is None:  # never the root namespace's entries
            continue
        for ifname, addresses in subnets[p.src]:
            on = [(ip, net) for ip, network, net in addresses if p.dst in network]
            mine = [ip for ip, _ in on if ip != p.dst]
            if mine:
                ends = (p.src, owner.node) if p.src <= owner.node else (owner.node, p.src)
                entries: tuple[Entry, ...] = ((s_ns, ifname, p.dst), *((d_ns, owner.name, a) for a in mine))
                out[i] = ((*ends, on[0][1]), entries)
                break
    return out


Progress = Callable[[int, int], None]


def lost_probe(predicted: Outcome | None, observed: Outcome) -> bool:
    """Is an observation one that a lost packet may explain, worth trying again? A reach predicted (or no
    prediction) that did not come, or a refusal predicted that met silence. A refusal seen, or a reach, is
    no loss."""
    if predicted is None or predicted is Outcome.REACHED:
        return observed is not Outcome.REACHED
    return predicted is Outcome.REFUSED and observed is Outcome.SILENCE


@dataclass(frozen=True, slots=True)
class Prepared:
    """What verify sends and how it reads the answers, worked out from the file and its placement: all that
    probing needs, as plain data (topograph.live.verify_cache keeps it for the next verify of the same file)."""

    probes: tuple[Probe, ...]
    jobs: dict[int, Job]  # by index into probes: those whose source topograph configures (the others are not tried)
    pairs: Pairs
    order: tuple[int, ...]  # the jobs' indexes, the two directions of a pair on one segment side by side
    namespaces: tuple[str, ...]  # the lab's, whose neighbours are forgotten before taught flows are measured again


def prepare(topology: Topology, placement: Placement, ps: list[Probe]) -> Prepared:
    jobs = {i: _job(topology, placement, p) for i, p in enumerate(ps) if placement.configures(p.src)}
    pairs = _pairs(topology, placement, ps)
    order = tuple(sorted(jobs, key=lambda i: pairs[i][0] if i in pairs else ("", "", f"{i:09d}")))
    return Prepared(tuple(ps), jobs, pairs, order, placement.namespaces)


def run_probes(topology: Topology, placement: Placement, ps: list[Probe], *, progress: Progress | None = None,
               window: int = WINDOW, tries: int = 3) -> list[Observed]:
    """`run` on the probes prepared for this topology and placement."""
    return run(prepare(topology, placement, ps), progress=progress, window=window, tries=tries)


def run(prepared: Prepared, *, progress: Progress | None = None, window: int = WINDOW,
        tries: int = 3) -> list[Observed]:
    """Send every prepared probe for real, many at once; a probe from a node topograph does not configure is not tried.

    Round one tries every flow. A flow predicted to reach that did not, or predicted refused that met
    silence, is tried again, up to `tries` times in all, each time in a round of its own: the first
    probe of a pair also resolves neighbours, and on a busy machine a few of those are lost (a round of
    retries costs one time-out, not one per flow). Refusals by ICMP error are rate-limited by the
    kernel that sends them (`net.ipv4.icmp_ratelimit`: a burst of 6 to one peer, then one a second),
    so silent flows predicted refused are tried in further rounds for as long as a round turns some of
    them into refusals. The two directions of a pair on one segment go out together, and once both are measured the
    neighbour entries they made are forgotten (`topograph.live.neighbours` says why). A flow that
    reached although predicted not to may have been carried by a neighbour entry another flow taught
    (Linux learns the sender of every ARP request it answers), while the simulator predicts each flow
    from a fresh lab: such flows are measured again one at a time after the lab's namespaces forget
    their neighbours, and once more each after a flush of its own if they still differ.
    """
    ps, jobs, pairs, order = prepared.probes, prepared.jobs, prepared.pairs, prepared.order
    out: list[Observed | None] = [None if i in jobs else Observed(p, None, "source is outside the lab (real mode)")
                                  for i, p in enumerate(ps)]
    done = len(ps) - len(jobs)
    total = len(ps)

    def report(k: int) -> None:
        if progress is not None:
            progress(done + k, total)

    rounds = Rounds(jobs, pairs, window)

    def lost(i: int) -> bool:
        return lost_probe(ps[i].expected, seen[i].outcome)

    try:
        seen = rounds.run(order, report)
        tried, progressed = 1, True
        while again := [i for i in order if lost(i)]:
            if tried >= tries:  # only refusals the ICMP rate limit may hold back, while a round brings some back
                again = [i for i in again if ps[i].expected is Outcome.REFUSED]
                if not again or not progressed:
                    break
            before = {i: seen[i].outcome for i in again}
            seen.update(rounds.run(again))
            tried += 1
            progressed = any(seen[i].outcome is not before[i] for i in again if ps[i].expected is Outcome.REFUSED)
        taught = [i for i in order if seen[i].reached and ps[i].expected not in (None, Outcome.REACHED)]
        if taught:
            rounds.prober.window = 1
            rounds.flush(prepared.namespaces)
            seen.update(rounds.run(taught))
            for i in [i for i in taught if seen[i].reached]:
                rounds.flush(prepared.namespaces)
                seen.update(rounds.run([i]))
    finally:
        rounds.close()
    for i, o in seen.items():
        out[i] = Observed(ps[i], o.outcome, o.detail, o.remark)
    return [o for o in out if o is not None]


def _word(value: Outcome | None) -> str:
    return "-" if value is None else str(value)


def results_table(results: list[Observed]) -> list[str]:
    """Lines of the side-by-side report: flow, predicted, observed, and a mark where they differ.

    Predicted and observed are each reach, refused, silence or no reach (predicted: any but reach). A
    difference shows what was observed (e.g. "no reply", "tcp reset", "port unreachable (from 10.0.0.1)");
    a remark (e.g. a listener that was there already took the connection) shows on any line.
    """
    rows = []
    for o in results:
        result = "ok" if o.agrees else "DIFFERS"
        notes = [o.detail] if result != "ok" and o.detail else []
        notes += [o.remark] if o.remark else []
        rows.append((f"{o.probe.src} -> {o.probe.label}" + (f" {o.probe.proto}/{o.probe.port}" if o.probe.port else ""),
                     _word(o.probe.expected), _word(o.outcome), result, "; ".join(notes)))
    w0 = max([len("flow"), *(len(r[0]) for r in rows)])
    lines = [f"{'flow':<{w0}}  {'predicted':<9}  {'observed':<9}  result"]
    lines += [f"{a:<{w0}}  {b:<9}  {c:<9}  {d}" + (f"  ({e})" if e else "") for a, b, c, d, e in rows]
    return lines
