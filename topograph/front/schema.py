"""The JSON Schema of the topology format, for editors and CI (derived from the document model)."""

from __future__ import annotations

from typing import Any

from topograph.front.document import TopologyDoc

_ADDRESS = {"type": "string", "description": "an address in CIDR form, e.g. 192.168.15.1/24 or fd00::1/64"}


def schema() -> dict[str, Any]:
    out = TopologyDoc.model_json_schema(by_alias=True)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "topograph topology"
    defs = out["$defs"]
    # the shorthands the loader accepts: an interface may be written as just its address(es) or left empty
    iface = defs.pop("InterfaceDoc")
    iface["properties"]["address"] = {"anyOf": [_ADDRESS, {"type": "array", "items": _ADDRESS}],
                                      "description": iface["properties"]["address"].get("description", "")}
    defs["InterfaceDoc"] = {"anyOf": [_ADDRESS, {"type": "array", "items": _ADDRESS}, {"type": "null"}, iface]}
    # a rule's state may be one word or a list of them (`state: new`, `state: [established, related]`)
    state = defs["RuleDoc"]["properties"]["state"]
    words = state["anyOf"][0]
    state["anyOf"] = [words["items"], words, {"type": "null"}]
    # a service may be written as just its command, and `run:` as one command
    run = defs.pop("RunDoc")
    defs["RunDoc"] = {"anyOf": [{"type": "string", "description": "the command line"}, run]}
    items = defs["NodeDoc"]["properties"]["run"]
    defs["NodeDoc"]["properties"]["run"] = {"anyOf": [{"type": "string"}, items], "description": items.get("description", "")}
    node = defs.pop("NodeDoc")
    defs["NodeDoc"] = {"anyOf": [{"type": "null"}, node]}
    pair = {"type": "array", "items": {"type": "string", "pattern": "^[^:]+:[^:]+$"}, "minItems": 2, "maxItems": 2}
    defs["LinkDoc"]["properties"]["ends"] = {**pair, "description": defs["LinkDoc"]["properties"]["ends"]["description"]}
    out["properties"]["links"]["items"] = {"anyOf": [pair, {"$ref": "#/$defs/LinkDoc"}]}
    return out
