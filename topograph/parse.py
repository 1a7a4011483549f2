"""Check the document's shape with pydantic and turn its errors into positioned diagnostics."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from topograph import document as doc
from topograph.diagnostics import Report
from topograph.loader import PathKey, Source
from topograph.names import did_you_mean

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


def _path_text(path: PathKey) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _clean_loc(loc: tuple[int | str, ...]) -> PathKey:
    # pydantic adds pseudo steps for validators ('function-before[...]') that the document lacks
    return tuple(s for s in loc if not (isinstance(s, str) and ("[" in s or s.startswith("function-"))))


def shape(source: Source, report: Report) -> doc.TopologyDoc | None:
    """Validate the document's structure; every problem is reported, then None if any."""
    try:
        return doc.TopologyDoc.model_validate(source.data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            _report(source, report, _clean_loc(err["loc"]), err)
        return None


def _report(source: Source, report: Report, path: PathKey, err: Any) -> None:
    kind = err["type"]
    where = _path_text(path) or "the document"
    if kind == "extra_forbidden":
        key = str(path[-1])
        parent = path[:-1]
        model = _model_at(parent)
        known = doc.known_keys(model)
        hint = did_you_mean(key, known) or f"allowed here: {', '.join(known)}"
        if " " in key.strip():
            # `{note: a, b}` makes ' b' a key: the comma ended the value
            hint = "a comma inside {...} ends the value before it; put such text in quotes, e.g. note: \"a, b\""
        report.error("TG010", source.pos(path, key=True), f"unknown key {key!r} in {_path_text(parent) or 'the document'}",
                     hint=hint, path=where)
        return
    if kind == "missing":
        key = str(path[-1])
        report.error("TG012", source.pos(path[:-1]), f"{_path_text(path[:-1]) or 'the document'} needs the key {key!r}",
                     hint=_hint_for(path), path=where)
        return
    value = err.get("input")
    if kind in ("model_type", "model_attributes_type", "dict_type") and path == ():
        message = f"a topology must be a mapping with a 'nodes:' section, not {_describe(value)}"
    else:
        message = f"{where}: {err['msg'].rstrip('.')}, got {_describe(value)}"
    report.error("TG011", source.pos(path), message, hint=_hint_for(path), path=where)


def _hint_for(path: PathKey) -> str | None:
    """A short example of what belongs at `path`."""
    names = [s for s in path if isinstance(s, str)]
    last = names[-1] if names else ""
    examples = {
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
        "proto": "proto: tcp | udp  (icmp too, in expectations)",
        "forwarding": "forwarding: true",
        "reach": "reach: false  (when the author expects a failure)",
    }
    for name in reversed(names):
        if name in examples and name not in _KEYED - {last}:
            return "write it like: " + examples[name]
    return None
