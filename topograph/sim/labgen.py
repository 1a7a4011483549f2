"""A seeded random lab generator: namespaces, bridges and veth links, random subnets, routes (some missing or
wrong), forwarding on or off, rp_filter, interfaces down, MASQUERADE and port forwards, and (in a fraction of the
labs, drawn from a random stream of their own so that every other lab stays as it was) filter chains and
listeners — as topology YAML. A node with a bridge says `bridge_netfilter: true` or `false` half the time
(a stream of its own).

With `forms=True` it also draws the route forms of issue 13 (from a stream of their own as well): subnets
reused on another segment — the same subnet, and sometimes the same address, on two segments (warnings TG203,
TG212 where both segments have an IPv6 subnet, and TG202) — and onlink routes through a neighbour's address of another segment."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field


@dataclass
class _Itf:
    name: str
    v4: str | None = None
    v6: str | None = None
    up: bool = True
    bridge: bool = False


@dataclass
class _Node:
    name: str
    forwarding: bool = False
    rp_filter: str = "disabled"
    lo_up: bool = True
    itfs: list[_Itf] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    nat: list[str] = field(default_factory=list)
    forwards: list[str] = field(default_factory=list)
    chains: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # hook -> (policy, rules)
    bridge_nf: bool | None = None  # bridge_netfilter (None: unset, the kernel's default)
    listen: list[str] = field(default_factory=list)


@dataclass
class _Segment:
    """One L2 domain: its subnets and the (node, interface) pairs that take part in L3 on it."""

    v4: ipaddress.IPv4Network
    v6: ipaddress.IPv6Network | None
    members: list[tuple[str, _Itf]] = field(default_factory=list)
    attached: set[str] = field(default_factory=set)  # every node with an interface on it (an unaddressed bridge too)


def generate(seed: int, *, nodes: tuple[int, int] = (3, 7), ipv6: float = 0.4, nat: float = 0.5,
             filters: float = 0.0, forms: bool = False) -> str:
    """YAML text of a random but valid lab; the same seed gives the same text. `filters`: the share of labs whose
    nodes get random filter chains and listeners (0: none, and the text is what it always was for the seed)."""
    rng = random.Random(seed)
    extra = random.Random(f"forms-{seed}") if forms else None  # `forms`: warnings TG202/TG203 are drawn too
    reused: set[ipaddress.IPv4Network] = set()
    count = rng.randint(*nodes)
    ns = [_Node(f"n{i}", forwarding=rng.random() < 0.55,
                rp_filter=rng.choices(["disabled", "strict", "loose"], [6, 3, 1])[0],
                lo_up=rng.random() > 0.04) for i in range(count)]
    links: list[str] = []
    segments: list[_Segment] = []
    base = rng.randrange(0, 200)
    for s in range(rng.randint(count - 1, count + 2)):
        plen = rng.choice([24, 24, 24, 28, 29])
        v4 = ipaddress.IPv4Network(f"10.{base + s // 200}.{s % 200}.0/24").subnets(new_prefix=plen).__next__()
        again = [g for g in segments if g.v4.prefixlen == 24 and g.v4 not in reused]  # room to renumber
        prior = None
        if extra is not None and again and extra.random() < 0.3:  # an earlier segment's subnet again (TG203)
            prior = extra.choice(again)
            v4 = prior.v4
            plen = 24
            reused.add(v4)
        v6 = ipaddress.IPv6Network(f"fd00:{seed % 0xffff:x}:{s:x}::/64") if rng.random() < ipv6 else None
        if v6 is not None and prior is not None and prior.v6 is not None:
            v6 = prior.v6  # and its IPv6 subnet, when both segments have one (TG212)
        seg = _Segment(v4, v6)
        hosts4 = list(v4.hosts())
        rng.shuffle(hosts4)
        if rng.random() < 0.45:  # a bridge in one node, with 2..4 nodes plugged in
            owner = rng.choice(ns)
            br = _Itf(f"br{s}", bridge=True)
            owner.itfs.append(br)
            seg.attached.add(owner.name)
            addressed = rng.random() < 0.7
            if addressed:
                seg.members.append((owner.name, br))
            # a node never has two addressed interfaces on one segment (ARP would answer on both)
            pool = [n for n in ns if n is not owner]
            members = rng.sample(pool, min(len(pool), rng.randint(2, 4)))
            for k, m in enumerate(members):
                itf = _Itf(f"e{s}")
                m.itfs.append(itf)
                links.append(f"[{m.name}:{itf.name}, br{s}:p{s}x{k}]")
                seg.members.append((m.name, itf))
                seg.attached.add(m.name)
        else:  # a veth pair between two nodes
            a, b = rng.sample(ns, 2)
            ia, ib = _Itf(f"e{s}"), _Itf(f"e{s}")
            a.itfs.append(ia)
            b.itfs.append(ib)
            links.append(f"[{a.name}:e{s}, {b.name}:e{s}]")
            seg.members += [(a.name, ia), (b.name, ib)]
            seg.attached |= {a.name, b.name}
        used6: set[int] = set()
        for (_, itf), host in zip(seg.members, hosts4, strict=False):
            itf.v4 = f"{host}/{plen}"
            if v6 is not None:
                low = rng.randrange(1, 2**16)
                while low in used6:  # drawn again only on a clash, so every lab that was valid stays the same
                    low = rng.randrange(1, 2**16)
                used6.add(low)
                itf.v6 = f"{v6.network_address + low}/64"
            elif not itf.bridge and rng.random() < 0.07:
                itf.up = False  # only IPv4-only interfaces go down
        seg.members = [(n, i) for n, i in seg.members if i.v4 is not None]
        segments.append(seg)
    if extra is not None:
        _no_arp_race(segments)
    by_name = {n.name: n for n in ns}
    for n in ns:
        _routes(rng, n, segments)
    if extra is not None:
        for n in ns:
            if extra.random() < 0.4:
                _onlink(extra, n, segments, by_name)
    for n in ns:
        if n.forwarding and rng.random() < nat:
            _nat(rng, n, segments, by_name)
    if filters > 0:
        frng = random.Random(f"filters-{seed}")  # a stream of its own: the draws above stay as they were
        if frng.random() < filters:
            for n in ns:
                _filters(frng, n, segments)
    brng = random.Random(f"bridge-nf-{seed}")  # a stream of its own too
    for n in ns:
        if any(i.bridge for i in n.itfs) and brng.random() < 0.5:
            n.bridge_nf = brng.random() < 0.5
    return _yaml(seed, ns, links)


def _connected(node: str, segments: list[_Segment]) -> list[tuple[_Segment, _Itf]]:
    return [(s, i) for s in segments for n, i in s.members if n == node and i.up]


def _routes(rng: random.Random, n: _Node, segments: list[_Segment]) -> None:
    mine = _connected(n.name, segments)
    own_nets = {str(s.v4) for s, _ in mine} | {str(s.v6) for s, _ in mine if s.v6}
    seen: set[str] = set()
    own = {a for i in n.itfs for a in (i.v4, i.v6) if a}  # a neighbour may share one of them (forms: TG202)
    for family in (4, 6):
        gateways = [(s, getattr(i, f"v{family}")) for s, _ in mine for m, i in s.members
                    if m != n.name and getattr(i, f"v{family}") is not None and getattr(i, f"v{family}") not in own]
        if not gateways:
            continue
        if rng.random() < 0.6:
            _, gw = rng.choice(gateways)
            to = "default" if family == 4 else "::/0"
            n.routes.append(f"{{to: {to!r}, via: {gw.split('/')[0]!r}}}")
        for s in rng.sample(segments, min(len(segments), rng.randint(0, 3))):
            net = str(s.v4 if family == 4 else s.v6) if (family == 4 or s.v6) else None
            if net is None or net in own_nets or net in seen:
                continue
            seen.add(net)
            _, gw = rng.choice(gateways)  # sometimes the right gateway, sometimes a wrong one
            n.routes.append(f"{{to: {net!r}, via: {gw.split('/')[0]!r}}}")


def _no_arp_race(segments: list[_Segment]) -> None:
    """Renumber a reused subnet's address where two nodes holding it share a segment: both would answer ARP there
    (a race, which check refuses: TG211). Addresses held on segments no common node reaches stay shared (TG202)."""
    on: dict[str, set[int]] = {}
    for k, seg in enumerate(segments):
        for name in seg.attached:
            on.setdefault(name, set()).add(k)
    holders: dict[str, list[str]] = {}
    used = {i.v4.split("/")[0] for seg in segments for _, i in seg.members if i.v4}
    for seg in segments:
        for name, itf in seg.members:
            if itf.v4 is None:
                continue
            ip = itf.v4.split("/")[0]
            others = [h for h in holders.get(ip, []) if h != name]
            if any(on[h] & on[name] for h in others):
                free = next((str(h) for h in seg.v4.hosts() if str(h) not in used), None)
                if free is None:
                    continue  # a full subnet: leave it (the lab then fails check, which the tests would show)
                used.add(free)
                itf.v4 = f"{free}/{seg.v4.prefixlen}"
                ip = free
            holders.setdefault(ip, []).append(name)


def _onlink(rng: random.Random, n: _Node, segments: list[_Segment], by_name: dict[str, _Node]) -> None:
    """An onlink route out of one of n's interfaces through a neighbour's IPv4 address on another segment."""
    mine = [(s, i) for s, i in _connected(n.name, segments) if i.v4]
    if not mine:
        return
    seg, itf = rng.choice(mine)
    own = {i.v4.split("/")[0] for i in n.itfs if i.v4}
    far = [i.v4 for m, _ in seg.members if m != n.name for i in by_name[m].itfs
           if i.v4 and i.up and not any(i is j for _, j in seg.members) and i.v4.split("/")[0] not in own]
    taken = {r.split("'")[1] for r in n.routes}
    nets = {str(s.v4) for s, _ in _connected(n.name, segments)}
    dests = [str(s.v4) for s in segments if str(s.v4) not in nets | taken]
    if not far or not dests:
        return
    gw = rng.choice(far).split("/")[0]
    n.routes.append(f"{{to: {rng.choice(dests)!r}, via: {gw!r}, dev: {itf.name}, onlink: true}}")


def _nat(rng: random.Random, n: _Node, segments: list[_Segment], by_name: dict[str, _Node]) -> None:
    mine = [(s, i) for s, i in _connected(n.name, segments) if i.v4]
    if len(mine) < 2:
        return
    (inside, _), (_, out) = rng.sample(mine, 2)
    # half the NAT nodes use the forms of issue 13 (SNAT, forwards bound to an address or for the node's own
    # traffic), drawn from a generator of their own seeded from the lab's: two draws of the lab's per NAT node
    forms = random.Random(f"{rng.random()}-{n.name}-nat-forms") if rng.random() < 0.5 else None
    masquerade = f"{{masquerade: {str(inside.v4)!r}, out: {out.name}}}"
    if forms is not None and out.v4:  # SNAT to out's address, to another of the node's, or to nobody's
        own = [i.v4.split("/")[0] for i in n.itfs if i.v4]
        to = forms.choice([out.v4.split("/")[0], forms.choice(own), _elsewhere(out.v4)])
        where = forms.choice(["", f", out: {out.name}", f", out: {out.name}"])
        dst = f", dst: {str(forms.choice(segments).v4)!r}" if forms.random() < 0.4 else ""
        n.nat.append(f"{{snat: {str(inside.v4)!r}, to: {to!r}{where}{dst}}}")
        if forms.random() < 0.5:
            n.nat.append(masquerade)  # after the SNAT: the first rule that matches wins
    else:
        n.nat.append(masquerade)
    targets = [i.v4 for m, i in inside.members if m != n.name and i.v4]
    if targets and rng.random() < 0.7:
        to = targets[rng.randrange(len(targets))].split("/")[0]
        port = rng.choice([80, 8080, 2222])
        into = rng.choice([80, 8000])
        extra = ""
        if forms is not None:
            if out.v4 and forms.random() < 0.6:  # bound to out's address, or to an address of another segment
                bound = out.v4.split("/")[0] if forms.random() < 0.8 else forms.choice(segments).v4[1]
                extra += f", address: {str(bound)!r}"
            if forms.random() < 0.5:
                extra += ", local: true"
        n.forwards.append(f"{{proto: tcp, port: {port}, to: '{to}:{into}'{extra}}}")


def _elsewhere(address: str) -> str:
    """An address on `address`'s subnet that labgen never hands out (it numbers hosts from the bottom)."""
    itf = ipaddress.ip_interface(address)
    return str(itf.network.broadcast_address - 1) if itf.network.num_addresses > 4 else str(itf.ip)


_HOOKS = ("input", "forward", "output")
_STATES = ("new", "established", "related", "invalid")
_DPORTS = ("80", "8000", "8080", "2222", "53", "22", "'80-8080'", "'1-1024'", "'2000-9000'")
_SPORTS = ("40000", "'30000-50000'", "1234", "'1-1023'")


def _filters(rng: random.Random, n: _Node, segments: list[_Segment]) -> None:
    """Random chains (every match and action, both policies) and listeners for one node, some of the time."""
    if rng.random() < 0.3:
        n.listen = rng.sample(["tcp/80", "tcp/8000", "tcp/22", "udp/53", "udp/8000"], rng.randint(1, 3))
    if rng.random() < 0.45:
        return
    names = [i.name for i in n.itfs] + ["lo"]
    for hook in _HOOKS:
        if rng.random() < 0.45 or (hook == "forward" and not n.forwarding):
            continue
        policy = rng.choice(["accept", "accept", "drop"])
        rules = [_rule(rng, hook, names, segments) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.5:  # the usual stateful start: what comes back for allowed traffic passes
            rules.insert(0, "{state: [established, related], action: accept}")
        n.chains[hook] = (policy, rules)


def _rule(rng: random.Random, hook: str, names: list[str], segments: list[_Segment]) -> str:
    parts: list[str] = []
    family = rng.choice([4, 4, 6, None])
    nets6 = [s.v6 for s in segments if s.v6 is not None]
    if family == 6 and not nets6:
        family = 4

    def prefix() -> str:
        if family == 6:
            net6 = rng.choice(nets6)
            return str(net6) if rng.random() < 0.7 else str(net6.network_address + rng.randrange(1, 2**16))
        net4 = rng.choice(segments).v4
        if rng.random() < 0.3:
            return str(rng.choice(list(net4.hosts())))
        return str(net4) if rng.random() < 0.8 else str(net4.supernet(new_prefix=max(8, net4.prefixlen - 8)))

    if family is not None and rng.random() < 0.5:
        parts.append(f"from: '{prefix()}'")
    if family is not None and rng.random() < 0.5:
        parts.append(f"to: '{prefix()}'")
    proto = rng.choice([None, None, "icmp", "tcp", "tcp", "udp"])
    if proto == "icmp" and family == 6:
        proto = "icmpv6"
    if proto is not None:
        parts.append(f"proto: {proto}")
    if proto in ("tcp", "udp"):
        if rng.random() < 0.5:
            parts.append(f"dport: {rng.choice(_DPORTS)}")
        if rng.random() < 0.2:
            parts.append(f"sport: {rng.choice(_SPORTS)}")
    if hook != "output" and rng.random() < 0.25:
        parts.append(f"in: {rng.choice(names)}")
    if hook != "input" and rng.random() < 0.25:
        parts.append(f"out: {rng.choice(names)}")
    if rng.random() < 0.4:
        parts.append("state: [" + ", ".join(rng.sample(_STATES, rng.randint(1, 2))) + "]")
    actions = ["accept", "accept", "drop", "reject"] + (["reset"] if proto == "tcp" else [])
    parts.append(f"action: {rng.choice(actions)}")
    return "{" + ", ".join(parts) + "}"


def _yaml(seed: int, ns: list[_Node], links: list[str]) -> str:
    out = [f"# generated by topograph.sim.labgen, seed {seed}", f"lab: gen{seed}", "nodes:"]
    for n in ns:
        out.append(f"  {n.name}:")
        if n.forwarding:
            out.append("    forwarding: true")
        if n.rp_filter != "disabled":
            out.append(f"    rp_filter: {n.rp_filter}")
        if n.bridge_nf is not None:
            out.append(f"    bridge_netfilter: {str(n.bridge_nf).lower()}")
        bridges = [i for i in n.itfs if i.bridge]
        plain = [i for i in n.itfs if not i.bridge]
        if bridges:
            out.append("    bridges:")
            out += [f"      {i.name}: {_itf(i)}" for i in bridges]
        if plain or not n.lo_up:
            out.append("    interfaces:")
            if not n.lo_up:
                out.append("      lo: {up: false}")
            out += [f"      {i.name}: {_itf(i)}" for i in plain]
        for key, items in (("routes", n.routes), ("nat", n.nat), ("port_forwards", n.forwards)):
            if items:
                out.append(f"    {key}:")
                out += [f"      - {r}" for r in items]
        if n.listen:
            out.append(f"    listen: [{', '.join(n.listen)}]")
        if n.chains:
            out.append("    filter:")
            for hook, (policy, rules) in n.chains.items():
                out += [f"      {hook}:", f"        policy: {policy}"]
                if rules:
                    out.append("        rules:")
                    out += [f"          - {r}" for r in rules]
    out.append("links:")
    out += [f"  - {link}" for link in links]
    return "\n".join(out) + "\n"


def _itf(i: _Itf) -> str:
    addrs = [a for a in (i.v4, i.v6) if a]
    text = "[" + ", ".join(f"'{a}'" for a in addrs) + "]"
    return text if i.up else f"{{address: {text}, up: false}}"
