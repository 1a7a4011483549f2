"""Resolve a shaped document into the typed model: names, references and addresses, with diagnostics."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from topograph.front import document as doc
from topograph.front import filters, impairments, services
from topograph.front.addresses import AddressReader, mac_problem
from topograph.front.diagnostics import PathKey, Report, Where, path_text
from topograph.front.gaps import Gaps
from topograph.front.loader import Source
from topograph.front.names import did_you_mean, interface_name_problem, lab_name_problem, node_name_problem, one_of, rename_hint
from topograph.front.netem import Netem
from topograph.front.quoting import quote
from topograph.model import (
    LOOPBACK,
    Endpoint,
    Expectation,
    Interface,
    Link,
    Masquerade,
    NatRule,
    Node,
    NodeKind,
    PortForward,
    Proto,
    Route,
    RpFilter,
    Snat,
    Topology,
)

_TARGET = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<v4>[^:\[\]]+))(?::(?P<port>\d{1,5}))?")
_KINDS = {k.value: k for k in NodeKind}  # the document's words to the model's enums (a lookup, not an Enum call)
_RP_FILTERS = {r.value: r for r in RpFilter}
_BARE = doc.InterfaceDoc.model_construct()  # an interface written without settings (its defaults: no validator built)


class _Builder(AddressReader):
    def __init__(self, source: Source, report: Report, gaps: Gaps) -> None:
        super().__init__(source, report)
        self.gaps = gaps  # parts of a broken document that were left out: what they would have said is unknown
        self.link_netem: dict[tuple[str, str], Netem] = {}  # link ends -> their link's impairments

    # -- stages ------------------------------------------------------------------------------
    def topology(self, d: doc.TopologyDoc) -> Topology:
        # the file's name without extension; a document read from standard input ('<stdin>') is 'stdin'
        name = d.lab if d.lab is not None else Path(self.src.file).stem.strip("<>")
        problem = lab_name_problem(name)
        if problem and not (d.lab is None and self.gaps.lab):
            self.err("TG100", ("lab",) if d.lab is not None else (), f"lab name {quote(name)} {problem}",
                     hint="name the lab with 'lab: NAME' using letters, digits, '_', '.' and '-'")
        self.check_names(d)
        links, ports, ends = self.links(d)
        linked: dict[str, list[str]] = {}  # node -> its interfaces that links create, in link order
        for link in links:
            for e in link.ends:
                linked.setdefault(e.node, []).append(e.interface)
        nodes = tuple(self.node(n, nd, linked.get(n, []), ports, ends) for n, nd in d.nodes.items())
        hosts = [n for n in nodes if n.kind is NodeKind.HOST]
        for extra in hosts[1:]:
            self.err("TG107", ("nodes", extra.name, "kind"),
                     f"node {quote(extra.name)} is a second host (first: {quote(hosts[0].name)})",
                     hint="a lab has one host; make the others 'kind: namespace' or 'kind: external'")
        expectations = tuple(self.expectation(self.gaps.original(("expect",), i), e, d) for i, e in enumerate(d.expect))
        return Topology(name=name, file=self.src.file, nodes=nodes, links=links,
                        expectations=tuple(e for e in expectations if e is not None), description=d.description)

    def check_names(self, d: doc.TopologyDoc) -> None:
        bridge_owner: dict[str, str] = {}
        for name, nd in d.nodes.items():
            problem = node_name_problem(name)
            if problem:
                self.err("TG100", ("nodes", name), f"node name {quote(name)} {problem}",
                         hint="rename the node, e.g. 'red' or 'web-1'", key=True)
            for kind, table in (("interface", nd.interfaces), ("bridge", nd.bridges)):
                for ifname in table:
                    if kind == "bridge" and ifname == LOOPBACK:
                        self.err("TG103", ("nodes", name, "bridges", ifname), "a bridge cannot be named 'lo'",
                                 hint="'lo' is the loopback interface; name the bridge e.g. 'v-net-0'", key=True)
                        continue
                    found = interface_name_problem(ifname)
                    if found:
                        code, reason = found
                        self.err(code, ("nodes", name, kind + "s", ifname), f"{kind} name {quote(ifname)} {reason}",
                                 hint=rename_hint(code), key=True)
            for br in nd.bridges:
                path = ("nodes", name, "bridges", br)
                if br in nd.interfaces:
                    self.err("TG103", path, f"{quote(name)} has both an interface and a bridge named {quote(br)}",
                             hint="give the bridge its own name", key=True)
                if br in d.nodes:
                    self.err("TG103", path, f"bridge {quote(br)} has the same name as a node",
                             hint="links name bridges and nodes alike, so rename one of them", key=True)
                if br in bridge_owner:
                    self.err("TG103", path, f"bridge {quote(br)} is also defined in node {quote(bridge_owner[br])}",
                             hint="bridge names are unique across the lab; rename one", key=True)
                else:
                    bridge_owner[br] = name

    def links(self, d: doc.TopologyDoc) -> tuple[tuple[Link, ...], dict[tuple[str, str], str], set[tuple[str, str]]]:
        """Resolve link ends: the sound links, bridge ports ((node, port) -> bridge), and every end named:
        those of broken links too, as (node, interface), or ("", interface) when the node is unknown, so that
        an interface that a broken link meant to create is not reported again as unlinked.
        """
        bridges = {br: n for n, nd in d.nodes.items() for br in nd.bridges if br != LOOPBACK}
        used: dict[tuple[str, str], int] = {}
        ports: dict[tuple[str, str], str] = {}
        out: list[Link] = []
        named: set[tuple[str, str]] = set()
        for text in self.gaps.link_ends:  # the ends of links dropped for their shape
            owner, _, ifname = text.partition(":")
            named.add((owner if owner in d.nodes else bridges.get(owner, ""), ifname))
        for i, entry in enumerate(d.links):
            index = self.gaps.original(("links",), i)
            path: PathKey = ("links", index)
            ends = entry if isinstance(entry, list) else entry.ends
            epath: PathKey = path if isinstance(entry, list) else (*path, "ends")
            for text in ends:
                owner, _, ifname = text.partition(":")
                named.add((owner if owner in d.nodes else bridges.get(owner, ""), ifname))  # nodes win, as in endpoint()
            if any(self._dropped_owner(text, d, bridges) for text in ends):
                self.gaps.links = True  # the link goes with the part it joins; its ends may be named elsewhere
                self.gaps.link_ends.update(ends)
                continue
            if len(ends) != 2:
                self.err("TG108", path, f"a link joins exactly two ends, this one has {len(ends)}",
                         hint="write it like: [red:veth-red, blue:veth-blue]")
                continue
            resolved: list[Endpoint] = []
            for side, text in enumerate(ends):
                peer = ends[1 - side].partition(":")[0]
                end = self.endpoint(text, (*epath, side), d, bridges, ports, peer)
                if end is None:
                    continue
                if end.key in used and used[end.key] == index:
                    self.err("TG104", (*epath, side), f"both ends of links[{index}] are {end}",
                             hint="a veth pair joins two different interfaces; name the other end")
                    continue
                if end.key in used:
                    self.err("TG104", (*epath, side), f"interface {end} is already used by links[{used[end.key]}]",
                             hint="each veth end belongs to one link; give this end another interface name")
                    continue
                used[end.key] = index
                resolved.append(end)
            if len(resolved) != 2:
                continue
            a, b = resolved
            kinds = {d.nodes[a.node].kind, d.nodes[b.node].kind}
            if "external" in kinds and "namespace" in kinds and not self.gaps.incomplete(a.node, "kind") \
                    and not self.gaps.incomplete(b.node, "kind"):
                inner = a if d.nodes[a.node].kind == "namespace" else b
                self.err("TG110", path, f"namespace {quote(inner.node)} is linked straight to an external node",
                         hint="external machines are reached through the host: link the namespace to a bridge "
                              "or interface of the host, and link the host to the external node")
                continue
            out.append(Link(index=index, a=a, b=b, external="external" in kinds, where=Where(self.src, path)))
            if not isinstance(entry, list) and entry.netem is not None and \
                    (netem := impairments.read_netem(entry.netem, (*path, "netem"), self.src, self.report)) is not None:
                self.link_netem[a.key] = self.link_netem[b.key] = netem
        return tuple(out), ports, named

    def _dropped_owner(self, text: str, d: doc.TopologyDoc, bridges: dict[str, str]) -> bool:
        owner = text.partition(":")[0]
        return owner not in d.nodes and owner not in bridges and self.gaps.dropped_owner(owner)

    def endpoint(self, text: str, path: PathKey, d: doc.TopologyDoc, bridges: dict[str, str],
                 ports: dict[tuple[str, str], str], peer: str) -> Endpoint | None:
        owner, sep, ifname = text.partition(":")
        if not sep or not owner or not ifname:
            self.err("TG108", path, f"link end {quote(text)} is not of the form NODE:INTERFACE",
                     hint="write e.g. red:veth-red, or BRIDGE:PORT such as v-net-0:veth-red-br to plug into a bridge")
            return None
        if owner in d.nodes:
            node, bridge = owner, None
        elif owner in bridges:
            node, bridge = bridges[owner], owner
        else:
            hint = did_you_mean(owner, [*d.nodes, *bridges]) or one_of([*d.nodes, *bridges])
            self.err("TG101", path, f"link end {quote(text)} names {quote(owner)}, which is neither a node nor a bridge",
                     hint=hint)
            return None
        nd = d.nodes[node]
        found = interface_name_problem(ifname)
        if found:
            if ifname not in nd.interfaces:  # a declared interface's name was reported where it is declared
                code, reason = found
                self.err(code, path, f"interface name {quote(ifname)} {reason}", hint=rename_hint(code))
            return None
        if ifname == LOOPBACK or ifname in nd.bridges:
            what = "the loopback interface" if ifname == LOOPBACK else f"the bridge {quote(ifname)} itself"
            self.err("TG109", path, f"link end {quote(text)} is {what}",
                     hint=f"a link is a veth pair: plug into a bridge with BRIDGE:PORT, e.g. {ifname}:veth-{peer}-br"
                     if ifname != LOOPBACK else "use an interface name of its own, e.g. veth-" + node)
            return None
        if bridge is not None:
            ports[(node, ifname)] = bridge
        return Endpoint(node, ifname)

    def interface(self, node: str, name: str, idoc: doc.InterfaceDoc, path: PathKey, *,
                  bridge: str | None = None, is_bridge: bool = False, end: bool = False) -> Interface:
        addrs = [self.address(a, path, i) for i, a in enumerate(idoc.address)] \
            if idoc.address else []  # most interfaces of a big lab have none (every loopback)
        if idoc.mac is not None:
            reason = mac_problem(idoc.mac)
            if reason is not None:
                self.err("TG207", (*path, "mac"), f"MAC address {quote(idoc.mac)} {reason}",
                         hint="use a locally administered unicast MAC such as 02:00:00:00:00:01")
        netem = self.link_netem.get((node, name)) if idoc.netem is None else \
            impairments.of_end(idoc.netem, path, self.src, self.report, f"{node}:{name}",
                               None if end or self.gaps.links else "loopback" if name == LOOPBACK
                               else "a bridge" if is_bridge else "in no link")
        return Interface(node=node, name=name, addresses=tuple([a for a in addrs if a is not None]), mtu=idoc.mtu,
                         mac=idoc.mac.lower() if idoc.mac else None, up=idoc.up, bridge=bridge, is_bridge=is_bridge,
                         where=Where(self.src, path, True), netem=netem)

    def node(self, name: str, nd: doc.NodeDoc, linked: list[str],
             ports: dict[tuple[str, str], str], ends: set[tuple[str, str]]) -> Node:
        base: PathKey = ("nodes", name)
        itfs: list[Interface] = []
        lo_doc = nd.interfaces.get(LOOPBACK, _BARE)
        itfs.append(self.interface(name, LOOPBACK, lo_doc, (*base, "interfaces", LOOPBACK)))
        for br, bdoc in nd.bridges.items():
            if br != LOOPBACK:
                itfs.append(self.interface(name, br, bdoc, (*base, "bridges", br), is_bridge=True))
        declared = [i for i in nd.interfaces if i != LOOPBACK and i not in nd.bridges]
        for ifname in declared:
            named = (name, ifname) in ends or ("", ifname) in ends  # ends of broken links count too
            if not named and nd.kind == "namespace" and interface_name_problem(ifname) is None \
                    and not self.gaps.links_unknown and not self.gaps.incomplete(name, "kind"):
                self.err("TG111", (*base, "interfaces", ifname),
                         f"interface {quote(ifname)} of {quote(name)} is in no link, so nothing creates it",
                         hint=f"add a link such as [{'NODE' if node_name_problem(name) else name}:{ifname}, OTHER:IFNAME], "
                              "or put the address on 'lo'", key=True)
        known = set(declared)  # a set: the host of a big lab declares thousands of interfaces
        for ifname in [*declared, *(i for i in linked if i not in known)]:
            idoc = nd.interfaces.get(ifname, _BARE)
            path: PathKey = (*base, "interfaces", ifname) if ifname in nd.interfaces else base
            itfs.append(self.interface(name, ifname, idoc, path, bridge=ports.get((name, ifname)),
                                       end=(name, ifname) in ends))
        names = {i.name for i in itfs}
        def at(field: str, i: int) -> PathKey:  # where the i-th entry left of a list was written
            return (*base, field, self.gaps.original((*base, field), i))

        routes = tuple(r for i, rd in enumerate(nd.routes) if (r := self.route(rd, at("routes", i), name, names)))
        nat = tuple(m for i, md in enumerate(nd.nat) if (m := self.nat_rule(md, at("nat", i), name, names)))
        fwds = tuple(f for i, fd in enumerate(nd.port_forwards)
                     if (f := self.port_forward(fd, at("port_forwards", i), name, names)))
        return Node(name=name, kind=_KINDS[nd.kind], forwarding=nd.forwarding, rp_filter=_RP_FILTERS[nd.rp_filter],
                    bridge_netfilter=nd.bridge_netfilter, interfaces=tuple(itfs), routes=routes, nat=nat, port_forwards=fwds,
                    filter=filters.chains(self, nd.filter, base, name, names),
                    listen=filters.listens(self, nd.listen, base), where=Where(self.src, base, True),
                    services=services.services(self, nd.run, base, name))

    def known_dev(self, dev: str, path: PathKey, node: str, names: set[str]) -> bool:
        if dev in names:
            return True
        if self.gaps.links_unknown or self.gaps.incomplete(node, "interfaces", "bridges") \
                or any(end.partition(":")[2] == dev for end in self.gaps.link_ends):
            return False  # it may be one that a dropped part declared or linked
        hint = did_you_mean(dev, names) or one_of(names)
        self.err("TG102", path, f"node {quote(node)} has no interface {quote(dev)}", hint=hint)
        return False

    def route(self, rd: doc.RouteDoc, path: PathKey, node: str, names: set[str]) -> Route | None:
        to = self.network(rd.to, (*path, "to"), "route destination")
        via = self.ip(rd.via, (*path, "via"), "gateway") if rd.via is not None else None
        ok = to is not None and (rd.via is None or via is not None)
        if rd.dev is not None:
            ok = self.known_dev(rd.dev, (*path, "dev"), node, names) and ok
        if rd.via is None and rd.dev is None:
            self.err("TG301", path, "a route needs a gateway ('via') or an interface ('dev')",
                     hint=f"write e.g. {{to: {rd.to}, via: 192.168.15.5}}")
            ok = False
        if rd.onlink and (rd.via is None or rd.dev is None):
            missing = "'dev'" if rd.dev is None else "'via'"
            self.err("TG306", (*path, "onlink"), f"an onlink route needs a gateway ('via') and an interface ('dev'); "
                     f"this one has no {missing}",
                     hint="the kernel reaches an onlink gateway on the interface named; write e.g. "
                          "{to: 10.9.0.0/16, via: 172.16.0.1, dev: eth0, onlink: true}" if rd.dev is None
                     else "onlink says the gateway needs no connected subnet; without 'via' leave it out")
            ok = False
        if not ok or to is None:
            return None
        if rd.to == "default" and via is not None and via.version == 6:
            to = ipaddress.IPv6Network("::/0")
        if via is not None and via.version != to.version:
            self.err("TG205", (*path, "via"), f"route to {to} (IPv{to.version}) has an IPv{via.version} gateway {via}",
                     hint="use a gateway of the destination's family")
            return None
        return Route(to=to, via=via, dev=rd.dev, metric=rd.metric, onlink=rd.onlink, where=Where(self.src, path))

    def nat_rule(self, md: doc.NatDoc, path: PathKey, node: str, names: set[str]) -> NatRule | None:
        if (md.masquerade is None) == (md.snat is None):
            self.err("TG011" if md.masquerade is not None else "TG012", path,
                     "a nat entry needs exactly one of 'masquerade' and 'snat'",
                     hint="write {masquerade: SUBNET, out: IFNAME} or {snat: SUBNET, to: ADDRESS}")
            return None
        if md.snat is not None:
            return self.snat(md, md.snat, path, node, names)
        for key in ("to", "dst"):
            if key in md.model_fields_set:
                self.err("TG011", (*path, key), f"'{key}' belongs to an snat rule, not to a masquerade",
                         hint="MASQUERADE takes the out-interface's address; write {snat: SUBNET, to: ADDRESS} "
                              "for a fixed one")
                return None
        if md.out is None or md.masquerade is None:
            self.err("TG012", path, f"{path_text(path)} needs the key 'out'",
                     hint="write it like: nat:\n    - {masquerade: 192.168.15.0/24, out: eth0}")
            return None
        source = self.network(md.masquerade, (*path, "masquerade"), "masquerade source")
        ok = self.known_dev(md.out, (*path, "out"), node, names)
        if source is None or not ok:
            return None
        return Masquerade(source=source, out=md.out, where=Where(self.src, path))

    def snat(self, md: doc.NatDoc, subnet: str, path: PathKey, node: str, names: set[str]) -> Snat | None:
        if md.to is None:
            self.err("TG012", path, f"{path_text(path)} needs the key 'to': the address that becomes the source",
                     hint="write it like: nat:\n    - {snat: 192.168.15.0/24, to: 203.0.113.2, out: wan0}")
            return None
        source = self.network(subnet, (*path, "snat"), "snat source")
        to = self.ip(md.to, (*path, "to"), "snat address")
        dst = self.network(md.dst, (*path, "dst"), "snat destination") if md.dst is not None else None
        ok = source is not None and to is not None and (md.dst is None or dst is not None)
        if md.out is not None:
            ok = self.known_dev(md.out, (*path, "out"), node, names) and ok
        if not ok or source is None or to is None:
            return None
        for key, other in (("to", to), ("dst", dst)):
            if other is not None and other.version != source.version:
                self.err("TG205", (*path, key), f"snat of {source} (IPv{source.version}) has an IPv{other.version} "
                         f"{'address' if key == 'to' else 'destination'} {other}",
                         hint="SNAT translates within one family: use an address of the source's family")
                return None
        return Snat(source=source, to=to, out=md.out, dst=dst, where=Where(self.src, path))

    def port_forward(self, fd: doc.PortForwardDoc, path: PathKey, node: str, names: set[str]) -> PortForward | None:
        ok = fd.in_ is None or self.known_dev(fd.in_, (*path, "in"), node, names)
        m = _TARGET.fullmatch(fd.to.strip())
        target = None
        if m:
            target = self.ip(m["v6"] or m["v4"], (*path, "to"), "port-forward target")
        else:
            self.err("TG200", (*path, "to"), f"port-forward target {quote(fd.to)} is not ADDRESS:PORT",
                     hint="write e.g. 192.168.15.2:80, or [fd00:15::2]:80 for IPv6")
        port = int(m["port"]) if m and m["port"] else fd.port
        if m and not 1 <= port <= 65535:
            self.err("TG200", (*path, "to"), f"port {port} is out of range", hint="ports run from 1 to 65535")
            return None
        address = self.ip(fd.address, (*path, "address"), "port-forward address") if fd.address is not None else None
        if target is None or not ok or (fd.address is not None and address is None):
            return None
        if address is not None and address.version != target.version:
            self.err("TG205", (*path, "address"), f"port forward on IPv{address.version} address {address} goes to "
                     f"IPv{target.version} {target}", hint="DNAT translates within one family: forward to an address "
                     f"of IPv{address.version}")
            return None
        return PortForward(proto=Proto(fd.proto), port=fd.port, to_address=target, to_port=port,
                           in_interface=fd.in_, address=address, local=fd.local, where=Where(self.src, path))

    def forward_expectation(self, index: int, ed: doc.ExpectDoc, d: doc.TopologyDoc, name: str,
                            port: int) -> Expectation | None:
        """`to: NODE:PORT`: a TCP connection through NODE's port forward on PORT, as `topograph trace` means it."""
        path: PathKey = ("expect", index)
        if name not in d.nodes:
            self.err("TG101", (*path, "to"), f"expectation to {quote(ed.to)} names {quote(name)}, which is not a node",
                     hint=did_you_mean(name, d.nodes) or f"name a node: {one_of(d.nodes)}")
            return None
        if node_name_problem(name):  # reported as TG100 already (and a 5,000-character name is no help in a message)
            return None
        problem = _forward_problem(ed, d, name, port)
        if problem is not None and not (problem[0] == "to" and self.gaps.incomplete(name, "port_forwards")):
            key, message, hint = problem
            self.err("TG400", (*path, key) if key in ed.model_fields_set or key == "to" else path, message, hint=hint)
        if problem is not None:
            return None
        return Expectation(src=ed.from_, dst=ed.to, dst_address=None, dst_node=name, proto=Proto.TCP, port=port,
                           reach=ed.reach, note=ed.note, where=Where(self.src, path), forward=True)

    def expectation(self, index: int, ed: doc.ExpectDoc, d: doc.TopologyDoc) -> Expectation | None:
        path: PathKey = ("expect", index)
        ok = True
        if ed.from_ not in d.nodes and ed.from_ in self.gaps.nodes:
            ok = False
        elif ed.from_ not in d.nodes:
            self.err("TG101", (*path, "from"), f"expectation from unknown node {quote(ed.from_)}",
                     hint=did_you_mean(ed.from_, d.nodes) or one_of(d.nodes))
            ok = False
        dst_node = ed.to if ed.to in d.nodes else None
        dst_addr = None
        name, colon, port_text = ed.to.rpartition(":")
        forward = dst_node is None and bool(colon and name and port_text.isdigit()) and ":" not in name
        if dst_node is None and (ed.to in self.gaps.nodes or (forward and name in self.gaps.nodes)):
            ok = False
        elif forward:
            checked = self.forward_expectation(index, ed, d, name, int(port_text))
            return checked if ok else None
        elif dst_node is None and self.refused(ed.to, None, (*path, "to"), "expectation target"):
            ok = False
        elif dst_node is None:
            try:
                dst_addr = ipaddress.ip_address(ed.to)
                if self.refused(ed.to, dst_addr, (*path, "to"), "expectation target"):
                    ok = False
            except ValueError:
                hint = did_you_mean(ed.to, d.nodes) or f"name a node ({one_of(d.nodes)}) or an address such as 192.168.15.2"
                self.err("TG101", (*path, "to"), f"expectation to {quote(ed.to)}, which is neither a node nor an address",
                         hint=hint)
                ok = False
        if ed.proto != "icmp" and ed.port is None:
            self.err("TG400", path, f"a {ed.proto} expectation needs a port", hint="add e.g. 'port: 80'")
            ok = False
        if ed.proto == "icmp" and ed.port is not None:
            self.err("TG400", (*path, "port"), "an icmp expectation has no port",
                     hint="drop 'port', or say 'proto: tcp'")
            ok = False
        if not ok:
            return None
        return Expectation(src=ed.from_, dst=ed.to, dst_address=dst_addr, dst_node=dst_node, proto=Proto(ed.proto),
                           port=ed.port, reach=ed.reach, note=ed.note, where=Where(self.src, path))


def _forward_problem(ed: doc.ExpectDoc, d: doc.TopologyDoc, name: str, port: int) -> tuple[str, str, str] | None:
    """What is wrong with an expectation `to: NAME:PORT`, as (key, message, hint), or None."""
    if not 1 <= port <= 65535:
        return "to", f"port {port} is out of range", "ports run from 1 to 65535"
    if ed.proto == "icmp" and "proto" in ed.model_fields_set:
        return "proto", f"'to: {ed.to}' is a TCP connection through a port forward, not a ping", "drop 'proto: icmp'"
    if ed.port is not None and ed.port != port:
        return "port", f"port {ed.port} differs from the port in 'to: {ed.to}'", "drop 'port': the one in 'to' is enough"
    forwards = d.nodes[name].port_forwards
    if not any(f.port == port and f.proto == "tcp" for f in forwards):
        have = ", ".join(f"{name}:{f.port} ({f.proto})" for f in forwards)
        return "to", f"expectation to {ed.to}, but {name} has no tcp port forward on port {port}", \
            f"port forwards of {name}: {have}" if have else f"name a node ({name}) or an address, or add a port forward to {name}"
    return None


def build(source: Source, document: doc.TopologyDoc, report: Report, gaps: Gaps | None = None) -> Topology:
    """Resolve `document`; problems go to `report` (the result is only trustworthy without errors).

    `gaps`: what the shape stage dropped from a broken document; references to it are not reported.
    """
    return _Builder(source, report, gaps if gaps is not None else Gaps()).topology(document)
