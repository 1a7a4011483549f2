"""Check the document's shape with pydantic and turn its errors into positioned diagnostics."""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from topograph.front import document as doc
from topograph.front.diagnostics import PathKey, Report, path_text
from topograph.front.gaps import Gaps
from topograph.front.loader import Source
from topograph.front.names import close_names
from topograph.front.quoting import quote

# Which document class sits at a path, so an unknown key can be matched against its siblings.
_CHILDREN: dict[type[BaseModel], dict[str, type[BaseModel]]] = {
    doc.TopologyDoc: {"nodes": doc.NodeDoc, "expect": doc.ExpectDoc, "links": doc.LinkDoc},
    doc.NodeDoc: {"interfaces": doc.InterfaceDoc, "bridges": doc.InterfaceDoc, "routes": doc.RouteDoc,
                  "nat": doc.NatDoc, "port_forwards": doc.PortForwardDoc, "filter": doc.FilterDoc,
                  "run": doc.RunDoc},
    doc.InterfaceDoc: {"netem": doc.NetemDoc},
    doc.LinkDoc: {"netem": doc.NetemDoc},
    doc.FilterDoc: {"input": doc.ChainDoc, "forward": doc.ChainDoc, "output": doc.ChainDoc},
    doc.ChainDoc: {"rules": doc.RuleDoc},
}
_KEYED = {"nodes", "interfaces", "bridges"}  # mappings whose keys are user names, not fields
_SINGLE = {"filter", "input", "forward", "output", "netem"}  # fields that hold one mapping (no name or index follows)


def _model_at(path: PathKey) -> type[BaseModel]:
    model: type[BaseModel] = doc.TopologyDoc
    i = 0
    while i < len(path):
        step = path[i]
        child = _CHILDREN.get(model, {}).get(str(step))
        if child is None:
            break
        model = child
        i += 1 if step in _SINGLE else 2  # skip the user's name or the list index that follows
    return model


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_PSEUDO_STEP = re.compile(r"[a-z-]+\[.*\]")


def _clean_loc(loc: tuple[int | str, ...], source: Source | None = None) -> PathKey:
    """pydantic's error location as a path in the document.

    pydantic may add pseudo steps for validators ('function-before[...]') that the document lacks;
    drop those, but never a key the user wrote (a node named 'a[1]' is reported as TG100 later).
    """
    out: list[int | str] = []
    for step in loc:
        written = source is not None and ((*out, step) in source.values or (*out, step) in source.keys)
        if isinstance(step, str) and not written and (_PSEUDO_STEP.fullmatch(step) or step.startswith("function-")):
            continue
        out.append(step)
    return tuple(out)


def _written(source: Source, path: PathKey) -> PathKey:
    """The place `path` was written: an interface's address list may be written without 'address:'."""
    if path in source.values or "address" not in path:
        return path
    i = path.index("address")
    short = (*path[:i], *path[i + 1 :])
    return short if short in source.values else path


def shape(source: Source, report: Report) -> doc.TopologyDoc | None:
    """Validate the document's structure; every problem is reported, then None if any."""
    try:
        return doc.TopologyDoc.model_validate(source.data)
    except ValidationError as exc:
        _report_all(source, report, exc)
        return None


def shape_partial(source: Source, report: Report) -> tuple[doc.TopologyDoc, Gaps] | None:
    """Validate the document's structure and report every problem, like `shape`; then the document
    without its broken parts, and what was left out, so that the rest can still be checked.

    None when nothing sound is left to check (no 'nodes:' mapping, or a rest that still does not fit).
    """
    try:
        return doc.TopologyDoc.model_validate(source.data), Gaps()
    except ValidationError as exc:
        return _without(source.data, _report_all(source, report, exc))


def _report_all(source: Source, report: Report, exc: ValidationError) -> list[tuple[PathKey, Any]]:
    errors = [(_clean_loc(err["loc"], source), err) for err in exc.errors(include_url=False)]
    # `{from: red, too: blue}`: the typo explains the missing 'to'; report the typo only
    explained = {(path[:-1], guess) for path, err in errors if err["type"] == "extra_forbidden"
                 for guess in _suggestions(path)}
    for path, err in errors:
        if err["type"] == "missing" and (path[:-1], str(path[-1])) in explained:
            continue
        _report(source, report, path, err)
    return errors


_ENTRY_LISTS = {"routes", "nat", "port_forwards", "listen", "run"}  # lists of a node whose entries are dropped whole
_NODE_FIELDS = set(doc.known_keys(doc.NodeDoc))


def _without(data: Any, errors: list[tuple[PathKey, Any]]) -> tuple[doc.TopologyDoc, Gaps] | None:
    """The document with the smallest broken part around each error taken out, and the gaps that leaves.

    An unknown key that resembles no known key is only dropped; any other problem drops what holds it:
    a node's field (which then takes its default and counts as unknown), an interface or bridge entry,
    or a whole route, NAT rule, port forward, link or expectation (dropping one of its keys would change
    what it means: a route without its misspelt 'via' is a route without a gateway).
    """
    gaps = Gaps()
    units: list[PathKey] = []
    for path, err in errors:
        guesses = _suggestions(path) if err["type"] == "extra_forbidden" else []
        meaningless = err["type"] == "extra_forbidden" and not guesses
        unit = path if meaningless else _unit(path, data)
        if unit is None:
            return None
        if not meaningless:
            _note(gaps, unit, guesses if err["type"] == "extra_forbidden" else [], _value_at(data, unit))
        units.append(unit)
    data = copy.deepcopy(data)
    removed: list[PathKey] = []
    from_lists: dict[PathKey, set[int]] = {}
    for unit in sorted(set(units), key=len):
        if any(unit[: len(r)] == r for r in removed):
            continue
        removed.append(unit)
        parent = _value_at(data, unit[:-1])
        if isinstance(parent, dict):
            parent.pop(unit[-1], None)
        elif isinstance(parent, list) and isinstance(unit[-1], int):
            from_lists.setdefault(unit[:-1], set()).add(unit[-1])
    for path, indices in from_lists.items():
        entries = _value_at(data, path)
        gaps.kept[path] = [i for i in range(len(entries)) if i not in indices]
        entries[:] = [entries[i] for i in gaps.kept[path]]
    try:
        return doc.TopologyDoc.model_validate(data), gaps
    except ValidationError:
        return None  # what is left still does not fit: better no further diagnostics than wrong ones


def _unit(path: PathKey, data: Any) -> PathKey | None:
    """The part of the document to drop for a problem at `path` (None: the document's 'nodes' itself)."""
    if not path or (path[0] == "nodes" and len(path) < 2):
        return None
    if path[0] in ("links", "expect"):
        unit = path[:2]
    elif path[0] != "nodes":
        unit = path[:1]
    elif len(path) < 3:
        unit = path[:2]
    elif path[2] in _ENTRY_LISTS:
        unit = path[:4]
    elif path[2] == "filter":  # a broken rule drops that rule, anything else its chain (or the whole filter)
        unit = path[:6] if len(path) >= 6 and path[4] == "rules" else path[:4]
    elif path[2] in ("interfaces", "bridges"):
        unit = path[:5]
    else:
        unit = path[:3]
    while len(unit) > 1 and not _exists(data, unit):  # a missing key, or a field of a shorthand (`eth0: [..]`)
        unit = unit[:-1]
    return unit if unit != ("nodes",) else None


def _exists(data: Any, path: PathKey) -> bool:
    for step in path:
        in_list = isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data)
        if in_list or (isinstance(data, dict) and step in data):
            data = data[step]
        else:
            return False
    return True


def _note(gaps: Gaps, unit: PathKey, guesses: list[str], value: Any) -> None:
    """Record in `gaps` what dropping `unit` leaves unknown (`guesses`: what a dropped unknown key meant)."""
    head = unit[0]
    if head == "lab" or (len(unit) == 1 and "lab" in guesses):
        gaps.lab = True
    elif head == "links" or (len(unit) == 1 and "links" in guesses):
        gaps.links = True
        ends = [] if len(unit) == 1 else _link_ends(value)
        gaps.link_ends.update(ends)
        if not ends:  # what it would have created cannot be told
            gaps.links_unknown = True
    elif head == "nodes" and isinstance(unit[1], str):
        name = unit[1]
        if len(unit) == 2:
            gaps.nodes.add(name)
            gaps.bridges_unknown = True  # a node that is not a mapping: what bridges it meant is unknown
            return
        fields = [g for g in guesses if g in _NODE_FIELDS] if len(unit) == 3 and guesses else [str(unit[2])]
        gaps.parts.setdefault(name, set()).update(fields)
        if "bridges" in fields:
            if len(unit) == 4:
                gaps.bridges.add(str(unit[3]))
            elif len(unit) == 3 and isinstance(value, dict):
                gaps.bridges.update(str(k) for k in value)
            elif len(unit) == 3:
                gaps.bridges_unknown = True


def _link_ends(value: Any) -> list[str]:
    """The NODE:IFNAME ends a dropped link names: `[red:veth-red, 5]`, or `red:veth-red blue:veth-blue`."""
    if isinstance(value, dict):  # the mapping form: {ends: [...], netem: {...}}
        value = value.get("ends")
    words = value if isinstance(value, list) else re.split(r"[\s,\[\]]+", value) if isinstance(value, str) else []
    return [w for w in words if isinstance(w, str) and ":" in w]


# words people use for a key topograph spells differently
_SYNONYMS = {
    "gateway": "via", "gw": "via", "nexthop": "via", "next_hop": "via", "next-hop": "via",
    "device": "dev", "iface": "dev", "interface": "dev", "dst": "to", "destination": "to", "prefix": "to",
    "addresses": "address", "addr": "address", "ip": "address", "ips": "address",
    "type": "kind", "forward": "forwarding", "ip_forward": "forwarding", "routing": "forwarding",
    "bridge": "bridges", "route": "routes", "link": "links", "node": "nodes", "expects": "expect",
    "expectations": "expect", "portforwards": "port_forwards", "port_forward": "port_forwards",
    "dnat": "port_forwards", "masq": "masquerade", "snat": "nat", "protocol": "proto", "src": "from",
    "source": "from", "dest": "to", "name": "lab",
    "iif": "in", "iifname": "in", "oif": "out", "oifname": "out", "ctstate": "state", "states": "state",
    "verdict": "action", "target": "action", "jump": "action", "firewall": "filter", "filters": "filter",
    "nftables": "filter", "iptables": "filter", "listen_on": "listen", "listens": "listen", "services": "run",
    "command": "cmd", "commands": "run", "exec": "run",
    "daddr": "to", "saddr": "from", "destination_port": "dport", "source_port": "sport",
}


def _suggestions(path: PathKey) -> list[str]:
    """The known keys an unknown key at `path` most likely means (two at most: 'prot' is port or proto)."""
    key = str(path[-1])
    known = doc.known_keys(_model_at(path[:-1]))
    synonym = _SYNONYMS.get(key.lower())
    if synonym in known:
        return [synonym]
    return close_names(key, known)


def _report(source: Source, report: Report, path: PathKey, err: Any) -> None:
    kind = err["type"]
    where = path_text(path) or "the document"  # for the message; `exact` for --json's path
    exact = path_text(path, whole=True) or "the document"
    if kind == "extra_forbidden":
        key = str(path[-1])
        parent = path[:-1]
        model = _model_at(parent)
        known = doc.known_keys(model)
        guesses = _suggestions(path)
        hint = f"did you mean {' or '.join(map(quote, guesses))}?" if guesses else f"allowed here: {', '.join(known)}"
        bare = path in source.values and _value_at(source.data, path) is None
        if " " in key.strip() or (bare and not guesses):
            # `{note: a, b}` makes 'b' a key without a value: the comma ended the value
            hint = "a comma inside {...} ends the value before it; put such text in quotes, e.g. note: \"a, b\""
        report.error("TG010", source.pos(path, key=True), f"unknown key {quote(key)} in {path_text(parent) or 'the document'}",
                     hint=hint, path=exact)
        return
    if kind == "missing":
        key = str(path[-1])
        report.error("TG012", source.pos(path[:-1]), f"{path_text(path[:-1]) or 'the document'} needs the key {quote(key)}",
                     hint=_hint_for(path, missing=True), path=exact)
        return
    value = err.get("input")
    if kind in ("model_type", "model_attributes_type", "dict_type") and path == ():
        message = f"a topology must be a mapping with a 'nodes:' section, not {_describe(value)}"
    elif kind == "model_type":
        # pydantic names its class ("instance of InterfaceDoc"); say what the file may hold instead
        wanted = _SHAPES.get(str(err.get("ctx", {}).get("class_name")), "a mapping")
        message = f"{where} must be {wanted}, not {_describe(value)}"
    else:
        message = f"{where}: {err['msg'].rstrip('.')}, got {_describe(value)}"
    fix = _hint_for(path)
    if kind in ("int_type", "bool_type") and isinstance(value, str) and _unquoted_fits(kind, value):
        fix = "write it without quotes"
    elif kind == "string_type" and fix is None and isinstance(value, bool):
        fix = "put it in quotes: YAML reads yes, no, on and off as true or false"
    elif kind == "string_type" and fix is None and isinstance(value, (int, float)):
        fix = "put it in quotes: YAML reads it as a number"
    report.error("TG011", source.pos(_written(source, path)), message, hint=fix, path=exact)


def _unquoted_fits(kind: str, text: str) -> bool:
    """Whether `text` would have been the right type had it not been quoted."""
    if kind == "int_type":
        return text.strip().isdigit()
    return text.strip().lower() in ("true", "false")


# What a mapping of each document class may hold, derived from the class so it cannot drift from it
_SHAPES = {model.__name__: "a mapping of " + ", ".join(doc.known_keys(model))
           for model in (doc.NodeDoc, doc.RouteDoc, doc.NatDoc, doc.PortForwardDoc, doc.ExpectDoc, doc.InterfaceDoc,
                         doc.FilterDoc, doc.ChainDoc, doc.RuleDoc, doc.NetemDoc, doc.LinkDoc)}
_SHAPES["InterfaceDoc"] = "an address in CIDR form, a list of addresses, or " + _SHAPES["InterfaceDoc"]

_EXAMPLES = {
    "nodes": "nodes:\n    red: {interfaces: {veth-red: 192.168.15.1/24}}",
    "links": "links:\n    - [red:veth-red, blue:veth-blue]",
    "interfaces": "interfaces: {veth-red: 192.168.15.1/24}",
    "bridges": "bridges: {v-net-0: 192.168.15.5/24}",
    "address": "address: 192.168.15.1/24  (or a list of addresses)",
    "routes": "routes:\n    - {to: default, via: 192.168.15.5}",
    "nat": "nat:\n    - {masquerade: 192.168.15.0/24, out: eth0}",
    "port_forwards": "port_forwards:\n    - {proto: tcp, port: 80, to: 192.168.15.2:80}",
    "expect": "expect:\n    - {from: red, to: blue}",
    "filter": "filter:\n    forward: {policy: drop, rules: [{state: [established, related], action: accept}]}",
    "input": "input: {policy: drop, rules: [{proto: tcp, dport: 22, action: accept}]}",
    "forward": "forward: {policy: drop, rules: [{from: 192.168.15.0/24, action: accept}]}",
    "output": "output: {policy: accept}",
    "rules": "rules:\n    - {from: 192.168.15.0/24, proto: tcp, dport: 22, action: accept}",
    "action": "action: accept | drop | reject | reset",
    "policy": "policy: accept | drop",
    "state": "state: [established, related]  (new, established, related, invalid)",
    "listen": "listen: [tcp/22, udp/53]",
    "run": "run:\n    - python3 -m http.server 80\n    - {name: web, cmd: python3 -m http.server 8080}",
    "cmd": "cmd: python3 -m http.server 80",
    "kind": "kind: namespace | host | external",
    "rp_filter": "rp_filter: disabled | loose | strict",
    "proto": "proto: tcp | udp",
    "dport": "dport: 22  (or a range: 1000-2000)",
    "sport": "sport: 1024-65535",
    "forwarding": "forwarding: true",
    "bridge_netfilter": "bridge_netfilter: false",
    "up": "up: false",
    "reach": "reach: false  (when the author expects a failure)",
}
# the example for one entry of a keyed mapping (a node, an interface) named by the user
_ENTRY_EXAMPLES = {
    "nodes": "red: {interfaces: {veth-red: 192.168.15.1/24}}",
    "interfaces": "veth-red: 192.168.15.1/24  (or {address: 192.168.15.1/24, mtu: 1500})",
    "bridges": "v-net-0: 192.168.15.5/24  (or leave it empty: v-net-0: {})",
}


def _value_at(data: Any, path: PathKey) -> Any:
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _hint_for(path: PathKey, *, missing: bool = False) -> str | None:
    """A short example of what belongs at `path` — only about that very place, not a distant parent."""
    if missing:
        # a missing key: its own example if it has one, else the example of the entry that lacks it
        if path and str(path[-1]) in _EXAMPLES:
            return "write it like: " + _EXAMPLES[str(path[-1])]
        path = path[:-1]
    if not path:
        return None
    last = path[-1]
    parent = path[-2] if len(path) > 1 else None
    if isinstance(last, int):  # an entry of a list: show the list's example
        name = parent if isinstance(parent, str) else (path[-3] if len(path) > 2 else None)
        return "write it like: " + _EXAMPLES[name] if name in _EXAMPLES else None
    if last == "proto" and path[0] == "expect":
        return "write it like: proto: icmp | tcp | udp"
    if last == "proto" and "rules" in path:
        return "write it like: proto: icmp | icmpv6 | tcp | udp"
    if parent == "state":
        return "write it like: " + _EXAMPLES["state"]
    if parent in _ENTRY_EXAMPLES:
        return "write it like: " + _ENTRY_EXAMPLES[str(parent)]
    return "write it like: " + _EXAMPLES[last] if last in _EXAMPLES else None
