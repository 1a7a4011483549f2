"""The diagram's title (lab name and description) and its legend, drawn as the graph label."""

from __future__ import annotations

import html

from topograph.model import NodeKind, Topology
from topograph.render import style
from topograph.render.labels import small


def _swatch(text: str, look: style.Look, color: str | None = None, border: int = 1) -> str:
    st = f' STYLE="{look.style}"' if look.style else ""
    return (f'<TD><TABLE BORDER="{border}" CELLBORDER="0" CELLPADDING="3" COLOR="{color or look.border}"'
            f' BGCOLOR="{look.header}"{st}><TR><TD>{small(text, style.TEXT)}</TD></TR></TABLE></TD>')


def _line(text: str, sample: str, color: str) -> str:
    return f'<TD>{small(f"<B>{sample}</B>", color)} {small(text, style.TEXT)}</TD>'


def legend() -> str:
    """One row: graphviz stretches a nested table narrower than its column, so two rows would not stay compact."""
    cells = [
        _swatch("namespace", style.LOOKS[NodeKind.NAMESPACE]),
        _swatch("host", style.LOOKS[NodeKind.HOST]),
        _swatch("external", style.LOOKS[NodeKind.EXTERNAL]),
        _swatch("bridge (switch)", style.BRIDGE, border=2),
        _swatch(f'<FONT COLOR="{style.GATEWAY}"><B>⇄ gateway</B></FONT> (forwarding)',
                style.LOOKS[NodeKind.NAMESPACE], color=style.GATEWAY, border=2),
        _line("veth link", "───", style.LINK),
        _line("uplink (exists)", "- - -", style.UPLINK),
        _line("NAT", "MASQUERADE ◀ DNAT", style.NAT),
        _line("subnet", "10.0.0.0/24", style.SUBNET),
    ]
    return ('<TABLE BORDER="0" CELLSPACING="5" CELLPADDING="0"><TR>'
            f'<TD>{small("<B>legend</B>", style.TEXT)}</TD>' + "".join(cells) + "</TR></TABLE>")


def title(topology: Topology) -> str:
    """The graph label: the lab's name, its description, a summary line and the legend."""
    counts = f"{_count(len(topology.nodes), 'node')} · {_count(len(topology.links), 'link')}"
    rows = [f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="18"><B>lab {html.escape(topology.name)}</B></FONT>'
            f'   {small(html.escape(counts))}</TD></TR>']
    if topology.description:
        rows.append(f'<TR><TD ALIGN="LEFT">{html.escape(topology.description)}</TD></TR>')
    rows.append(f'<TR><TD ALIGN="LEFT">{legend()}</TD></TR>')
    return '<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="0">' + "".join(rows) + "</TABLE>"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
