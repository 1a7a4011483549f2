"""The topology file's structure (pydantic): shapes, defaults, shorthands, and its JSON Schema.

This layer only knows the *shape* of the document. Names, addresses and cross references are
checked and resolved into the typed model by `topograph.front.resolve`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

Addresses = list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Amount = str | int | float  # a time, percentage or rate with its unit ("50ms", "1%", "10mbit"); a bare number is refused


class NetemDoc(_Strict):
    """Link impairments (Linux netem) on an interface's egress: `{delay: 50ms, jitter: 5ms, loss: 1%, rate: 10mbit}`."""

    delay: Amount | None = Field(default=None, description="added delay, e.g. 50ms")
    jitter: Amount | None = Field(default=None, description="random variation of the delay, e.g. 5ms (needs delay)")
    loss: Amount | None = Field(default=None, description="share of packets dropped, e.g. 1%")
    rate: Amount | None = Field(default=None, description="bandwidth limit, e.g. 10mbit, 512kbit, 1gbit")
    duplicate: Amount | None = Field(default=None, description="share of packets sent twice, e.g. 1%")
    reorder: Amount | None = Field(default=None, description="share of packets sent at once, ahead of the delayed "
                                   "others, e.g. 25% (needs delay)")
    corrupt: Amount | None = Field(default=None, description="share of packets with a flipped bit, e.g. 0.1%")


class InterfaceDoc(_Strict):
    """An interface (or bridge) of a node. Shorthand: just its address, or a list of addresses."""

    address: Addresses = Field(default_factory=list, description="IPv4/IPv6 addresses in CIDR form, e.g. 192.168.15.1/24")
    mtu: int | None = Field(default=None, ge=68, le=65535, description="MTU in bytes")
    mac: str | None = Field(default=None, description="MAC address, e.g. 02:00:00:00:00:01")
    up: bool = Field(default=True, description="bring the interface up (default true)")
    netem: NetemDoc | None = Field(default=None, description="impairments of what leaves by this interface (a link "
                                   "end); replaces its link's 'netem' for this end")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, (str, list)):
            return {"address": value}
        return value

    _address_list = field_validator("address", mode="before")(_as_list)


class RouteDoc(_Strict):
    to: str = Field(description="destination prefix in CIDR form, or 'default'")
    via: str | None = Field(default=None, description="gateway address")
    dev: str | None = Field(default=None, description="outgoing interface of this node")
    metric: int | None = Field(default=None, ge=0, le=4294967295, description="route metric (lower wins)")
    onlink: bool = Field(default=False, description="the gateway is reached on 'dev' even though it is outside the "
                         "node's connected subnets (ip route ... onlink); needs 'via' and 'dev'")


class NatDoc(_Strict):
    """A source-NAT rule: `{masquerade: SUBNET, out: IFNAME}` or `{snat: SUBNET, to: ADDRESS}` (optionally
    `out`, `dst`); a node's rules are tried in file order, and the first that matches translates."""

    masquerade: str | None = Field(default=None, description="source subnet to masquerade, e.g. 192.168.15.0/24")
    snat: str | None = Field(default=None, description="source subnet to translate to the fixed address `to`")
    to: str | None = Field(default=None, description="snat: the new source address, e.g. 203.0.113.2")
    out: str | None = Field(default=None, description="interface the traffic leaves by (masquerade: its address "
                            "becomes the source; required)")
    dst: str | None = Field(default=None, description="snat: only for traffic to this destination prefix")


class PortForwardDoc(_Strict):
    proto: Literal["tcp", "udp"] = Field(default="tcp", description="protocol")
    port: int = Field(ge=1, le=65535, description="port on this node that is forwarded")
    to: str = Field(description="inside address and port, e.g. 192.168.15.2:80 or [fd00::2]:80")
    in_: str | None = Field(default=None, alias="in", description="only for traffic arriving on this interface")
    address: str | None = Field(default=None, description="only for traffic to this address (default: any of the "
                                "node's own addresses)")
    local: bool = Field(default=False, description="also forward the node's own connections (DNAT in the nat "
                        "output hook)")


Port = int | str  # 80, or a range written "1000-2000"
State = Literal["new", "established", "related", "invalid"]


class RuleDoc(_Strict):
    """A filter rule: every match written must hold; the action decides the packet and ends the chain."""

    action: Literal["accept", "drop", "reject", "reset"] = Field(
        description="accept; drop (silently); reject (ICMP port unreachable); reset (a TCP reset, proto: tcp only)")
    from_: str | None = Field(default=None, alias="from", description="source address or prefix")
    to: str | None = Field(default=None, description="destination address or prefix (as the chain sees it: after DNAT)")
    proto: Literal["icmp", "icmpv6", "tcp", "udp"] | None = Field(default=None, description="protocol")
    dport: Port | None = Field(default=None, description="destination port or range, e.g. 22 or 1000-2000 (tcp, udp)")
    sport: Port | None = Field(default=None, description="source port or range (tcp, udp)")
    in_: str | None = Field(default=None, alias="in", description="interface the packet came in on (input, forward)")
    out: str | None = Field(default=None, description="interface the packet leaves by (forward, output)")
    state: list[State] | None = Field(default=None, description="connection states, e.g. [established, related]")

    _state_list = field_validator("state", mode="before")(_as_list)


class ChainDoc(_Strict):
    policy: Literal["accept", "drop"] = Field(default="accept", description="what happens to packets no rule decides")
    rules: list[RuleDoc] = Field(default_factory=list, description="tried in order; the first that matches decides")


class FilterDoc(_Strict):
    """A node's packet filter: the chains of netfilter's input, forward and output hooks."""

    input: ChainDoc | None = Field(default=None, description="packets for this node itself")
    forward: ChainDoc | None = Field(default=None, description="packets this node routes on")
    output: ChainDoc | None = Field(default=None, description="packets this node sends")


class RunDoc(_Strict):
    """A service: a command started in the node's namespace after apply and kept running in the background.
    Shorthand: just the command."""

    cmd: str = Field(description="shell command line (run with sh -c), e.g. python3 -m http.server 80")
    name: str | None = Field(default=None, description="names its log and status lines (default: the command's "
                             "first word, e.g. python3); unique in the node")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"cmd": value} if isinstance(value, str) else value


class NodeDoc(_Strict):
    """A network namespace (default), the host, or an external machine that already exists."""

    kind: Literal["namespace", "host", "external"] = Field(default="namespace")
    forwarding: bool = Field(default=False, description="route packets between interfaces (IPv4 and IPv6)")
    rp_filter: Literal["disabled", "loose", "strict"] = Field(default="disabled", description="reverse-path filter mode")
    bridge_netfilter: bool | None = Field(
        default=None, description="frames bridged between two ports of this node's bridges pass its netfilter (NAT, "
        "conntrack, the forward chain): net.bridge.bridge-nf-call-iptables and -ip6tables; unset: the kernel's "
        "default (on wherever br_netfilter is loaded)")
    interfaces: dict[str, InterfaceDoc] = Field(default_factory=dict)
    bridges: dict[str, InterfaceDoc] = Field(default_factory=dict, description="Linux bridges (virtual switches) in this node")
    routes: list[RouteDoc] = Field(default_factory=list)
    nat: list[NatDoc] = Field(default_factory=list, description="source NAT rules: MASQUERADE and SNAT, in order")
    port_forwards: list[PortForwardDoc] = Field(default_factory=list, description="DNAT rules")
    filter: FilterDoc | None = Field(default=None, description="packet filter chains (input, forward, output)")
    listen: list[str] = Field(default_factory=list, description="ports something listens on, e.g. [tcp/22, udp/53]")
    run: list[RunDoc] = Field(default_factory=list, description="services: commands started in the node after apply "
                              "and kept running (status shows them, destroy stops them)")

    _run_list = field_validator("run", mode="before")(_as_list)

    @model_validator(mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return {} if value is None else value


class ExpectDoc(_Strict):
    from_: str = Field(alias="from", description="source node")
    to: str = Field(description="destination node (its first address), an address, or NODE:PORT through a port forward")
    proto: Literal["icmp", "tcp", "udp"] = Field(default="icmp")
    port: int | None = Field(default=None, ge=1, le=65535, description="destination port (tcp, udp)")
    reach: bool = Field(default=True, description="false when the author expects this to fail")
    note: str | None = Field(default=None, description="why, in words")


class LinkDoc(_Strict):
    """A link written as a mapping, to give it impairments: `{ends: [a:eth0, b:eth0], netem: {delay: 25ms}}`."""

    ends: list[str] = Field(description="the veth pair's two ends, as in the short form [NODE:IFNAME, NODE:IFNAME]")
    netem: NetemDoc | None = Field(default=None, description="impairments on both ends' egress (each direction)")


def _link_form(value: Any) -> str:
    return "link[mapping]" if isinstance(value, dict) else "link[pair]"  # tags the shape stage leaves out of paths


LinkEntry = Annotated[Annotated[list[str], Tag("link[pair]")] | Annotated[LinkDoc, Tag("link[mapping]")],
                      Discriminator(_link_form)]


class TopologyDoc(_Strict):
    lab: str | None = Field(default=None, description="lab name; default: the file name without extension")
    description: str | None = None
    nodes: dict[str, NodeDoc]
    links: list[LinkEntry] = Field(default_factory=list, description="veth pairs: [node:interface, "
                                             "node-or-bridge:interface], or {ends: [...], netem: {...}}")
    expect: list[ExpectDoc] = Field(default_factory=list, description="what should (or should not) reach what")


#: The keys each mapping of the document accepts, for "did you mean" hints.
def known_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]
