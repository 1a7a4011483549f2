"""A built scan as topology YAML in the samples' style, with `# scan:` comments for what the file cannot say.

Block style down to each node's keys, flow style for each small value (an interface map, a route, a
rule); the order is the document's, so the same scan always gives the same text.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from topograph.scan.build import Built

#: a link end YAML reads as plain text unquoted (NODE:IFNAME with names of these characters)
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*:[A-Za-z0-9_.-]+")
#: an interface or bridge map with more entries than this is written one entry a line
FLOW_ENTRIES = 4


def flow_style(value: Any) -> str:
    """One value in YAML flow style on one line."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(value, Dumper=dumper, default_flow_style=True, sort_keys=False, width=1 << 30)
    return text.strip().removesuffix("...").strip()


def _comment(indent: str, text: str) -> str:
    return f"{indent}# scan: {' '.join(text.split())}"


def _node(name: str, doc: dict[str, Any], notes: list[str]) -> list[str]:
    lines = [f"  {flow_style(name)}:"]
    lines += [_comment("    ", n) for n in notes]
    if not doc and not notes:
        lines[0] += " {}"  # a node with nothing to say (only comments: the value is null, which reads as {})
    for key, value in doc.items():
        if key in ("interfaces", "bridges"):
            if len(value) > FLOW_ENTRIES:
                lines.append(f"    {key}:")
                lines += [f"      {flow_style(k)}: {flow_style(v)}" for k, v in value.items()]
            else:
                lines.append(f"    {key}: {flow_style(value)}")
        elif key in ("routes", "nat", "port_forwards"):
            lines.append(f"    {key}:")
            lines += [f"      - {flow_style(v)}" for v in value]
        elif key == "filter":
            lines.append("    filter:")
            for hook, chain in value.items():
                lines += [f"      {hook}:", f"        policy: {chain['policy']}"]
                if chain["rules"]:
                    lines.append("        rules:")
                    lines += [f"          - {flow_style(r)}" for r in chain["rules"]]
        else:
            lines.append(f"    {key}: {flow_style(value)}")
    return lines


def write(built: Built, header: str = "") -> str:
    """The YAML text of `built`; `header`: a first comment line (e.g. the command that scanned)."""
    doc = built.document
    lines = [f"# {header}"] if header else []
    lines += [_comment("", n) for n in built.notes.get("", [])]
    lines.append(f"lab: {flow_style(doc['lab'])}")
    lines.append("nodes:")
    for name, node in doc["nodes"].items():
        lines += _node(name, node, built.notes.get(name, []))
    if doc["links"]:
        lines.append("links:")
        lines += [f"  - [{', '.join(pair)}]" if all(_PLAIN.fullmatch(e) for e in pair) else f"  - {flow_style(pair)}"
                  for pair in doc["links"]]
    return "\n".join(lines) + "\n"
