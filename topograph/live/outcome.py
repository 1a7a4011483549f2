"""What verify's prober is asked and what it answers: a Job (one flow to try), the Listen where its own
listener or responder waits, and the ProbeOutcome with one of the Outcomes the report shows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from topograph.front.wire import IPAddress, Proto


class Outcome(StrEnum):
    """How a probe ended, as the report says it."""

    REACHED = "reach"
    REFUSED = "refused"  # at once: an ICMP error or a TCP reset came back
    SILENCE = "silence"  # nothing came back before the time-out
    UNREACHED = "no reach"  # some other way (no route at the source, no listener possible, the wrong listener)


@dataclass(frozen=True, slots=True)
class Listen:
    """Where a probe's own listener (TCP) or responder (UDP) waits: the node (for messages), its namespace,
    address and port."""

    node: str
    netns: str | None
    address: IPAddress
    port: int
    proto: Proto = Proto.TCP
    service: str = ""  # the node's services (run:), one of which may hold the port: "web" or "web, dns"

    @property
    def holder(self) -> str:
        """What holds the port when verify's own listener cannot: a service of the node's, or some listener."""
        what = f"service {self.service} (run:)" if self.service else "the listener already"
        return f"{what} on {self.node}:{self.port}"


@dataclass(frozen=True, slots=True)
class Job:
    """One flow to try: from namespace `netns` to `dst` by ICMP echo (port None), or to its port by `proto`."""

    netns: str | None
    dst: IPAddress
    port: int | None = None
    listen: Listen | None = None  # the listener/responder that must take the probe (None: any)
    proto: Proto = Proto.TCP  # with a port: tcp or udp

    @property
    def kind(self) -> Proto:
        return Proto.ICMP if self.port is None else self.proto


@dataclass(slots=True)
class ProbeOutcome:
    outcome: Outcome = Outcome.UNREACHED
    detail: str = ""
    remark: str = ""  # worth showing even when the flow is as predicted (e.g. an existing listener took it)

    @property
    def reached(self) -> bool:
        return self.outcome is Outcome.REACHED
