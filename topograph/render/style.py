"""The diagram's visual vocabulary: fonts, colours and border styles per kind of thing, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from topograph.model import NodeKind

# DejaVu first: wide Unicode coverage (arrows) and installed wherever graphviz is; the fallbacks are
# for SVG viewers without it (the SVG keeps the whole list as its CSS font-family)
FONT = "DejaVu Sans,Helvetica,Arial,sans-serif"
MONO = "DejaVu Sans Mono,Menlo,Consolas,monospace"  # interface names and addresses line up in columns
SMALL = 10  # point size of secondary text (kinds, routes)
TEXT = "#1f2328"
MUTED = "#57606a"


@dataclass(frozen=True, slots=True)
class Look:
    """How one kind of box looks: header fill, border colour, table border style, kind caption."""

    header: str
    border: str
    fill: str
    style: str  # HTML-table STYLE: rounded, dashed, or "" for square corners
    caption: str


LOOKS: dict[NodeKind, Look] = {
    NodeKind.NAMESPACE: Look(header="#dbe8fd", border="#1f4e99", fill="#dbe8fd", style="rounded", caption="namespace"),
    NodeKind.HOST: Look(header="#c8ecc9", border="#1b5e20", fill="#f6fbf6", style="", caption="host (root namespace)"),
    NodeKind.EXTERNAL: Look(header="#e6e6e6", border="#555555", fill="#fafafa", style="dashed",
                            caption="external (exists already)"),
}
BRIDGE = Look(header="#ffd8a8", border="#c25e00", fill="#fff8f0", style="", caption="bridge (switch)")

GATEWAY = "#b71c1c"  # badge and extra border of forwarding nodes
NAT = "#6a1b9a"  # MASQUERADE and port-forward rows, and port-forward arrows
LINK = "#24292f"
UPLINK = "#555555"  # links to external nodes: drawn dashed, they exist already
CLUSTER = "#8c959f"  # outline of a node's cluster (the node with the bridges it holds)
SUBNET = "#0b5394"

# packet filters: the section's heading, and verdicts that let a packet pass or stop it
FILTER = "#37474f"
ALLOW = "#2e7d32"
DENY = "#c62828"

# a flow drawn over the diagram (render --trace)
REQUEST = "#1565c0"  # the request's edges and the boxes it visits
REPLY = "#ef6c00"  # the reply's, where it does not retrace the request
DIED = Look(header="#ffebee", border="#c62828", fill="#fff5f5", style="", caption="")
ARRIVED = Look(header="#e8f5e9", border="#2e7d32", fill="#f5fbf5", style="", caption="")

# what a design review marks as added or changed since an older design (review --against)
CHANGED = "#d81b60"  # the outline of changed boxes and the colour of new links
CHANGED_ROW = "#fce4ec"  # the background of an added or changed interface's row
