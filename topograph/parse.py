"""Check the document's shape with pydantic and turn its errors into positioned diagnostics."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from topograph import document as doc
from topograph.diagnostics import PathKey, Report, path_text
from topograph.loader import Source
from topograph.names import close_names

# Which document class sits at a path, so an unknown key can be matched against its siblings.
_CHILDREN: dict[type[BaseModel], dict[str, type[BaseModel]]] = {
    doc.TopologyDoc: {"nodes": doc.NodeDoc, "expect": doc.ExpectDoc},
    doc.NodeDoc: {"interfaces": doc.InterfaceDoc, "bridges": doc.InterfaceDoc, "routes": doc.RouteDoc,
                  "nat": doc.NatDoc, "port_forwards": doc.PortForwardDoc},
}
_KEYED = {"nodes", "interfaces", "bridges"}  # mappings whose keys are user names, not fields


def _model_at(path: PathKey) -> type[BaseModel]:
    model: type[BaseModel] = doc.TopologyDoc
    i = 0
    while i < len(path):
        step = path[i]
        child = _CHILDREN.get(model, {}).get(str(step))
        if child is None:
            break
        model = child
        i += 2  # skip the user's name or the list index that follows
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
        errors = [(_clean_loc(err["loc"], source), err) for err in exc.errors(include_url=False)]
        # `{from: red, too: blue}`: the typo explains the missing 'to'; report the typo only
        explained = {(path[:-1], guess) for path, err in errors if err["type"] == "extra_forbidden"
                     for guess in _suggestions(path)}
        for path, err in errors:
            if err["type"] == "missing" and (path[:-1], str(path[-1])) in explained:
                continue
            _report(source, report, path, err)
        return None


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
    where = path_text(path) or "the document"
    if kind == "extra_forbidden":
        key = str(path[-1])
        parent = path[:-1]
        model = _model_at(parent)
        known = doc.known_keys(model)
        guesses = _suggestions(path)
        hint = f"did you mean {' or '.join(map(repr, guesses))}?" if guesses else f"allowed here: {', '.join(known)}"
        bare = path in source.values and _value_at(source.data, path) is None
        if " " in key.strip() or (bare and not guesses):
            # `{note: a, b}` makes 'b' a key without a value: the comma ended the value
            hint = "a comma inside {...} ends the value before it; put such text in quotes, e.g. note: \"a, b\""
        report.error("TG010", source.pos(path, key=True), f"unknown key {key!r} in {path_text(parent) or 'the document'}",
                     hint=hint, path=where)
        return
    if kind == "missing":
        key = str(path[-1])
        report.error("TG012", source.pos(path[:-1]), f"{path_text(path[:-1]) or 'the document'} needs the key {key!r}",
                     hint=_hint_for(path, missing=True), path=where)
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
    report.error("TG011", source.pos(_written(source, path)), message, hint=fix, path=where)


def _unquoted_fits(kind: str, text: str) -> bool:
    """Whether `text` would have been the right type had it not been quoted."""
    if kind == "int_type":
        return text.strip().isdigit()
    return text.strip().lower() in ("true", "false")


_SHAPES = {
    "NodeDoc": "a mapping of kind, forwarding, interfaces, bridges, routes, nat, port_forwards",
    "InterfaceDoc": "an address in CIDR form, a list of addresses, or a mapping of address, mtu, mac, up",
    "RouteDoc": "a mapping of to, via, dev, metric",
    "NatDoc": "a mapping of masquerade and out",
    "PortForwardDoc": "a mapping of proto, port, to, in",
    "ExpectDoc": "a mapping of from, to, proto, port, reach, note",
}

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
    "kind": "kind: namespace | host | external",
    "rp_filter": "rp_filter: disabled | loose | strict",
    "proto": "proto: tcp | udp",
    "forwarding": "forwarding: true",
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
        return "write it like: proto: icmp | tcp"
    if parent in _ENTRY_EXAMPLES:
        return "write it like: " + _ENTRY_EXAMPLES[str(parent)]
    return "write it like: " + _EXAMPLES[last] if last in _EXAMPLES else None
