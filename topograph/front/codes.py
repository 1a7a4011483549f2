"""Every diagnostic code topograph can emit, with its severity and a one-line title (stable: never renumber)."""

from __future__ import annotations

from topograph.front.diagnostics import Severity

E, W = Severity.ERROR, Severity.WARNING

CODES: dict[str, tuple[Severity, str]] = {
    # reading the file
    "TG000": (E, "the file cannot be read"),
    "TG001": (E, "YAML syntax error or empty file"),
    "TG002": (E, "duplicate key"),
    "TG003": (E, "unsupported YAML feature (tag, merge key, complex key)"),
    "TG004": (E, "the file is too large"),
    "TG005": (E, "YAML nested too deeply"),
    # shape of the document
    "TG010": (E, "unknown key"),
    "TG011": (E, "wrong type or value"),
    "TG012": (E, "missing required key"),
    # names and references
    "TG100": (E, "invalid lab or node name"),
    "TG101": (E, "unknown node or bridge"),
    "TG102": (E, "unknown interface"),
    "TG103": (E, "duplicate name"),
    "TG104": (E, "interface used by two links"),
    "TG105": (E, "interface name longer than 15 characters"),
    "TG106": (E, "interface name with unsafe characters"),
    "TG107": (E, "more than one host node"),
    "TG108": (E, "malformed link"),
    "TG109": (E, "link end on loopback or on a bridge itself"),
    "TG110": (E, "namespace linked directly to an external node"),
    "TG111": (E, "interface of a namespace that no link creates"),
    "TG115": (E, "interface or bridge name the kernel reserves ('all', 'default')"),
    # addresses
    "TG200": (E, "malformed address or prefix"),
    "TG201": (E, "host bits set where a network is expected"),
    "TG202": (W, "the same address on interfaces of two L2 segments"),
    "TG203": (W, "the same or overlapping IPv4 subnet on two L2 segments"),
    "TG204": (E, "different subnets on one L2 segment"),
    "TG205": (E, "IPv4 and IPv6 mixed in one rule"),
    "TG206": (E, "network or broadcast address used as an interface address"),
    "TG207": (E, "malformed, multicast or all-zero MAC address"),
    "TG208": (E, "IPv6 address or prefix with a zone id (%IFNAME)"),
    "TG209": (E, "IPv4-mapped IPv6 address (::ffff:a.b.c.d)"),
    "TG210": (E, "address no interface can have (unspecified, IPv6 multicast, ::1 outside lo)"),
    "TG211": (E, "the same address twice on one interface or on one L2 segment"),
    "TG212": (W, "the same or overlapping IPv6 subnet on two L2 segments"),
    # routing, NAT, port forwards
    "TG300": (E, "route gateway not on a connected subnet"),
    "TG301": (E, "route with neither 'via' nor 'dev'"),
    "TG302": (E, "NAT or port forward on a node without forwarding"),
    "TG303": (E, "port forward to an address no node owns"),
    "TG304": (E, "duplicate route"),
    "TG305": (E, "masquerade out of an interface without an address of that family"),
    "TG306": (E, "onlink route without both 'via' and 'dev'"),
    "TG307": (E, "route gateway the kernel refuses (unspecified, multicast, broadcast, loopback, the node's own "
                 "IPv6 address, an IPv6 gateway out of lo)"),
    # packet filters and listeners
    "TG600": (E, "port match on a filter rule without tcp or udp"),
    "TG601": (E, "malformed port or port range"),
    "TG602": (E, "TCP reset on a filter rule that does not match only TCP"),
    "TG603": (E, "interface match the chain never sees (out in input, in in output)"),
    "TG604": (E, "malformed listen entry"),
    "TG605": (E, "service (run:) with an empty command"),
    "TG606": (E, "service name unfit for a file name"),
    "TG607": (E, "service command no command line can hold (a control character other than tab and newline, "
                 "or longer than the kernel passes)"),
    "TG608": (E, "filter rule with an empty state list (state: [])"),
    # link impairments (netem)
    "TG700": (E, "malformed netem value (a time, percentage or rate without its unit, or out of range)"),
    "TG701": (E, "netem on an interface that is no veth end (loopback, a bridge, an interface in no link)"),
    "TG702": (E, "netem loss of 100% (a link that passes nothing is written up: false)"),
    "TG703": (E, "netem reorder without a delay (tc refuses it)"),
    # expectations
    "TG400": (E, "expectation with a port that does not fit its protocol or port forward"),
    "TG410": (E, "expectation violated: the simulator predicts otherwise"),
    # warnings: legal but suspicious
    "TG500": (W, "address on a bridge port"),
    "TG501": (W, "node with no links"),
    "TG502": (W, "route gateway is the node's own address"),
    "TG503": (W, "bridge with no ports"),
    "TG504": (W, "interface with addresses is down"),
    "TG505": (W, "MTU differs within an L2 segment (a veth pair, or a bridge with its ports and their peers)"),
    "TG506": (W, "expectation to an address no node owns"),
    "TG507": (W, "the same MAC address twice on one L2 segment"),
    "TG508": (W, "bridge_netfilter on a node without a bridge (it changes nothing there)"),
    "TG510": (W, "filter rule that can never match: an earlier rule decides everything it matches"),
    "TG511": (W, "forward chain on a node that does not forward"),
    "TG512": (W, "port forward whose traffic the forward chain drops"),
    "TG513": (W, "filter rule on an interface its chain never sees a packet on (down, a bridge port, lo in forward)"),
    "TG514": (W, "port forward whose replies the forward chain drops"),
    "TG520": (W, "port forward on an address the node does not own (it catches transit traffic)"),
    "TG521": (W, "SNAT to an address the node does not own (nobody answers for the replies)"),
    "TG530": (W, "netem jitter without a delay (netem ignores it)"),
    "TG531": (W, "netem loss high enough to make verify's probes unreliable"),
}


def severity(code: str) -> Severity:
    return CODES[code][0]
