"""The diagram's title (lab name and description) and its legend, drawn as the graph label."""

from __future__ import annotations

import html
import re
import textwrap

from topograph.front.diagnostics import count
from topograph.model import NodeKind, Topology
from topograph.render import style
from topograph.render.labels import left_lines, mono, small

DESCRIPTION_WRAP = 100  # characters per description line: graphviz never wraps, a long line would widen the picture
# Rough text widths in points, to keep the legend at least as wide as the description (see title()):
# the description is over-estimated and the legend under-estimated, so a wrong guess only leaves blank space.
# Measured with graphviz 2.43 (dot -Tjson) on English prose in DejaVu Sans: 7.2-7.4pt per character at 14pt,
# 5.2pt at 10pt (the legend's own words), 9.6-10.7pt at 18pt bold.
DESCRIPTION_CHAR_PT = 7.5  # the description has no FONT tag: graphviz's default 14pt for a graph label
LEGEND_CHAR_PT = 4.5  # 10pt sans in the legend
LEGEND_CELL_PT = 12  # padding, border and spacing around each legend entry
TITLE_CHAR_PT = 12.5  # 18pt bold: the lab's name


def _swatch(text: str, look: style.Look, color: str | None = None, border: int = 1) -> str:
    st = f' STYLE="{look.style}"' if look.style else ""
    return (f'<TD><TABLE BORDER="{border}" CELLBORDER="0" CELLPADDING="3" COLOR="{color or look.border}"'
            f' BGCOLOR="{look.header}"{st}><TR><TD>{small(text, style.TEXT)}</TD></TR></TABLE></TD>')


def _line(text: str, sample: str, color: str) -> str:
    return f'<TD>{small(f"<B>{sample}</B>", color)} {small(text, style.TEXT)}</TD>'


def entries(topology: Topology, subnets: bool, veth_lines: bool, changes: tuple[bool, bool] = (False, False),
            rules: bool = False) -> list[str]:
    """A cell per legend entry, only for what this diagram shows: a key to things that are absent misleads."""
    kinds = {n.kind for n in topology.nodes}
    cells = [_swatch(kind.value, look) for kind, look in style.LOOKS.items() if kind in kinds]
    if any(n.bridges for n in topology.nodes):
        cells.append(_swatch(style.BRIDGE.caption, style.BRIDGE, border=2))
    if any(n.forwarding for n in topology.nodes):
        badge = f'<FONT COLOR="{style.GATEWAY}"><B>⇄ gateway</B></FONT> (forwarding)'
        cells.append(_swatch(badge, style.LOOKS[NodeKind.NAMESPACE], style.GATEWAY, border=2))
    if veth_lines:  # links into a grid are not drawn one by one
        cells.append(_line("veth link", "───", style.LINK))
    if any(ln.external for ln in topology.links):
        cells.append(_line("uplink (exists)", "- - -", style.UPLINK))
    if any(n.nat for n in topology.nodes):
        cells.append(_line("source NAT", "MASQUERADE", style.NAT))
    if any(n.port_forwards for n in topology.nodes):
        cells.append(_line("port forward", "DNAT ◀", style.NAT))
    if any(n.filter for n in topology.nodes):
        cell = (f'{small("<B>filter</B>", style.FILTER)} {mono("fwd drop (3)", size=style.SMALL, color=style.DENY)} '
                f'{small("chain, policy (rules)", style.TEXT)}')
        if rules:  # the colours of the listed rules' actions
            cell += (f'  {mono("accept", size=style.SMALL, color=style.ALLOW)}{small("/")}'
                     f'{mono("drop", size=style.SMALL, color=style.DENY)} {small("verdict", style.TEXT)}')
        cells.append(f"<TD>{cell}</TD>")
    if subnets:  # a placeholder, not an address: a real-looking one would read as part of the lab
        cells.append(f'<TD>{mono("a.b.c.0/24", size=style.SMALL, color=style.SUBNET)} '
                     f'{small("subnet of a segment", style.TEXT)}</TD>')
    boxes, links = changes  # review --against: boxes and links new or changed since the older design
    if boxes:
        look = style.Look(header=style.CHANGED_ROW, border=style.CHANGED, fill="", style="", caption="")
        cells.append(_swatch("added or changed", look, border=3))
    if links:
        cells.append(_line("link added", "───", style.CHANGED))
    return cells


def legend(topology: Topology, subnets: bool, veth_lines: bool, min_width: float = 0,
           changes: tuple[bool, bool] = (False, False), rules: bool = False) -> str:
    """One row: graphviz stretches a nested table narrower than its column, so two rows would not stay compact.

    An empty last cell pads the row to `min_width` points, so that a wider title or description leaves
    blank space after the entries instead of stretching them.
    """
    cells = [f'<TD>{small("<B>legend</B>", style.TEXT)}</TD>', *entries(topology, subnets, veth_lines, changes, rules)]
    estimate = sum(_visible(cell) * LEGEND_CHAR_PT + LEGEND_CELL_PT for cell in cells)
    if min_width > estimate:
        cells.append(f'<TD WIDTH="{round(min_width - estimate)}"></TD>')
    return '<TABLE BORDER="0" CELLSPACING="5" CELLPADDING="0"><TR>' + "".join(cells) + "</TR></TABLE>"


def _visible(cell: str) -> int:
    """Characters a cell shows: its text without tags, entities counted once."""
    return len(html.unescape(re.sub(r"<[^>]*>", "", cell)))


def description_lines(text: str) -> list[str]:
    """The description's own line breaks kept (YAML block scalars), long lines wrapped."""
    lines: list[str] = []
    for paragraph in text.strip().splitlines():
        lines += textwrap.wrap(paragraph, DESCRIPTION_WRAP) or [""]
    return lines


def title(topology: Topology, *, subnets: bool, veth_lines: bool, changes: tuple[bool, bool] = (False, False),
          rules: bool = False) -> str:
    """The graph label: the lab's name, its description, a summary line and the legend.

    `subnets` and `veth_lines` say whether the drawing shows any subnet and any plain veth line; `changes`,
    whether it marks boxes and links new or changed since an older design (review --against); `rules`, whether
    filter rules are listed.
    """
    counts = f"{count(len(topology.nodes), 'node')} · {count(len(topology.links), 'link')}"
    rows = [f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="18"><B>lab {html.escape(topology.name)}</B></FONT>'
            f'   {small(html.escape(counts))}</TD></TR>']
    width = len(f"lab {topology.name}") * TITLE_CHAR_PT + len(counts) * DESCRIPTION_CHAR_PT
    if topology.description:
        lines = description_lines(topology.description)
        width = max(width, max(len(line) for line in lines) * DESCRIPTION_CHAR_PT)
        text = left_lines(html.escape(line) for line in lines)
        rows.append(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{text}</TD></TR>')
    rows.append(f'<TR><TD ALIGN="LEFT">{legend(topology, subnets, veth_lines, width, changes, rules)}</TD></TR>')
    return '<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="0">' + "".join(rows) + "</TABLE>"
