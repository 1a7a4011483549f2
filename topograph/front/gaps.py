"""What the shape stage left out of a broken document, so that later stages check the rest without
reporting what only follows from the missing parts (a link to a node whose entry was dropped is not
also "unknown node"; an address that was dropped does not make a gateway "not connected").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from topograph.front.diagnostics import PathKey


@dataclass
class Gaps:
    """The parts of the document that were dropped or defaulted; empty for a well-formed document."""

    lab: bool = False  # 'lab' was dropped: the default name is not what the author wrote
    nodes: set[str] = field(default_factory=set)  # node entries dropped whole
    bridges: set[str] = field(default_factory=set)  # bridge entries dropped whole (named by link ends)
    bridges_unknown: bool = False  # a dropped part may have held bridges that cannot be listed
    parts: dict[str, set[str]] = field(default_factory=dict)  # node -> its fields that are incomplete
    links: bool = False  # a link was dropped (or all of them): segments and link-made interfaces may be missing
    link_ends: set[str] = field(default_factory=set)  # the ends written in dropped links ('red:veth-red')
    links_unknown: bool = False  # the links section itself was dropped or misspelt
    kept: dict[PathKey, list[int]] = field(default_factory=dict)  # list path -> the indices it still holds

    def original(self, path: PathKey, index: int) -> int:
        """The index an entry of the list at `path` had in the file (entries before it may be dropped)."""
        kept = self.kept.get(path)
        return index if kept is None else kept[index]

    def incomplete(self, node: str, *fields: str) -> bool:
        """Whether any of `fields` of `node` lost something (or the whole node is gone)."""
        if node in self.nodes:
            return True
        parts = self.parts.get(node, set())
        return any(f in parts for f in fields)

    def dropped_owner(self, name: str) -> bool:
        """Whether `name` in a link end may be a node or bridge that was dropped ('unknown' would be a consequence)."""
        return name in self.nodes or name in self.bridges or self.bridges_unknown

    @property
    def addresses(self) -> bool:
        """Whether some address of the lab may be missing (a node, an interface or a bridge dropped)."""
        return bool(self.nodes) or any(p & {"interfaces", "bridges"} for p in self.parts.values())

    def __bool__(self) -> bool:
        return bool(self.lab or self.nodes or self.bridges or self.bridges_unknown or self.parts or self.links)
