"""Graphviz HTML-like labels: the table of a node, of a bridge (switch), and of a small leaf in a grid."""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable, Mapping, Sequence

from topograph.model import LOOPBACK, Interface, IPNetwork, Node, Route
from topograph.render import style
from topograph.render.layout import HEAD

GRID_PORT = "_grid"  # the bridge row that the edge to a grid of its leaves starts from
NBSP = "&#160;"  # graphviz keeps runs of non-breaking spaces, so mono columns line up
BR_LEFT = '<BR ALIGN="LEFT"/>'  # graphviz aligns each line of a cell by the break that ends it


def mono(text: str, size: int | None = None, color: str | None = None) -> str:
    """Monospaced text; spaces become non-breaking so padding survives."""
    attrs = f' FACE="{style.MONO}"'
    if size is not None:
        attrs += f' POINT-SIZE="{size}"'
    if color is not None:
        attrs += f' COLOR="{color}"'
    return f"<FONT{attrs}>{html.escape(text).replace(' ', NBSP)}</FONT>"


def left_lines(lines: Iterable[str]) -> str:
    """Lines of a cell, each ended by a left-aligning break."""
    return "".join(line + BR_LEFT for line in lines)


def small(text: str, color: str = style.MUTED) -> str:
    return f'<FONT POINT-SIZE="{style.SMALL}" COLOR="{color}">{text}</FONT>'


def row(content: str, port: str | None = None, bg: str | None = None, align: str = "LEFT") -> str:
    attrs = f' ALIGN="{align}" BALIGN="{align}"'
    if port is not None:
        attrs = f' PORT="{html.escape(port)}"' + attrs
    if bg is not None:
        attrs += f' BGCOLOR="{bg}"'
    return f"<TR><TD{attrs}>{content}</TD></TR>"


def html_table(rows: Sequence[str], look: style.Look, border: int = 1, color: str | None = None) -> str:
    st = f' STYLE="{look.style}"' if look.style else ""
    return (f'<TABLE BORDER="{border}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4" COLOR="{color or look.border}"'
            f' BGCOLOR="{look.fill}"{st}>' + "".join(rows) + "</TABLE>")


def interface_text(itf: Interface, width: int, notes: Sequence[str] = ()) -> str:
    """'eth0    192.168.1.2/24' with further addresses, and non-default properties, on their own lines."""
    name = itf.name.ljust(width)
    addresses = [str(a) for a in itf.addresses] or ["(no address)" if not itf.is_bridge else "(bridge, no address)"]
    extras = []
    if itf.is_bridge and itf.addresses:
        extras.append("bridge")
    if itf.mtu is not None:
        extras.append(f"mtu {itf.mtu}")
    if itf.mac is not None:
        extras.append(f"mac {itf.mac}")
    if not itf.up:
        extras.append("DOWN")
    lines = [mono(f"{name} {addresses[0]}")]
    lines += [mono(f"{'':{width}} {a}") for a in addresses[1:]]
    if extras:
        lines.append(mono(f"{'':{width}} {', '.join(extras)}", size=style.SMALL, color=style.MUTED))
    lines += [mono(f"{'':{width}} {note}", size=style.SMALL, color=style.NAT) for note in notes]
    return left_lines(lines)


def shown_interfaces(node: Node) -> list[Interface]:
    """Rows of a node's box: loopback only when it carries addresses, bridge ports go to the bridge box."""
    return [i for i in node.interfaces if i.bridge is None and (i.name != LOOPBACK or i.addresses)]


def title_fill(look: style.Look) -> str | None:
    """The title cell's fill: none in rounded tables, which do not clip cell fills (the whole box is tinted)."""
    return None if look.style == "rounded" else look.header


def node_header(title: str, caption: str, look: style.Look, gateway: bool = False) -> str:
    badge = f'  <FONT COLOR="{style.GATEWAY}"><B>⇄ gateway</B></FONT>' if gateway else ""
    return row(f'<B><FONT POINT-SIZE="13">{html.escape(title)}</FONT></B><BR/>{small(html.escape(caption))}{badge}',
               port=HEAD, bg=title_fill(look), align="CENTER")


def routes_text(routes: Sequence[Route]) -> str:
    lines = [mono(str(r), size=style.SMALL) for r in routes]
    return left_lines([small("<B>routes</B>", style.TEXT), *lines])


def nat_text(node: Node) -> str:
    """What the node rewrites: MASQUERADE source → out-interface, SNAT source → address, and port forwards
    proto/port → address:port (with their in-interface, address and `local` conditions)."""
    lines = [mono(str(m), size=style.SMALL, color=style.NAT) for m in node.nat]
    for pf in node.port_forwards:
        lines.append(mono(f"DNAT {pf.proto}/{pf.port} → {pf.target}{pf.conditions}", size=style.SMALL, color=style.NAT))
    return left_lines([small("<B>NAT</B>", style.NAT), *lines])


def node_label(node: Node, with_routes: bool, inbound: Mapping[tuple[str, str], Sequence[str]],
               mark: str | None = None, changed: Collection[tuple[str, str]] = (), filtering: Sequence[str] = ()) -> str:
    """`mark`: the colour of a path drawn over the diagram that visits this node, or of a change (a thicker
    border in it); `changed`: interfaces added or changed since an older design, whose rows are filled;
    `filtering`: the cells of the node's packet filter and listeners (render.filters), each a row of its own."""
    look = style.LOOKS[node.kind]
    caption = look.caption
    if node.rp_filter.value != "disabled":
        caption += f" · rp_filter {node.rp_filter.value}"
    rows = [node_header(node.name, caption, look, node.forwarding)]
    shown = shown_interfaces(node)
    width = max((len(i.name) for i in shown), default=0)
    for itf in shown:
        rows.append(row(interface_text(itf, width, inbound.get(itf.key, ())), port=itf.name,
                        bg=style.CHANGED_ROW if itf.key in changed else None))
    if node.nat or node.port_forwards:
        rows.append("<HR/>" + row(nat_text(node)))
    rows += ["<HR/>" + row(cell) for cell in filtering]
    if with_routes and node.routes:
        rows.append("<HR/>" + row(routes_text(node.routes)))
    if mark is not None:
        return html_table(rows, look, border=4, color=mark)
    return html_table(rows, look, border=2 if node.forwarding else 1, color=style.GATEWAY if node.forwarding else None)


def bridge_label(holder: str, bridge: Interface, ports: Sequence[Interface], subnets: Sequence[IPNetwork] | None,
                 gridded: int = 0, mark: str | None = None, changed: Collection[tuple[str, str]] = ()) -> str:
    """A switch: its name and holder, the segment's subnet (once per segment), then one row per port."""
    rows = [node_header(bridge.name, f"{style.BRIDGE.caption} in {holder}", style.BRIDGE)]
    if subnets:
        nets = "<BR/>".join(mono(str(n), color=style.SUBNET) for n in subnets)
        rows.append(row(small("L2 segment", style.SUBNET) + "<BR/>" + nets, align="CENTER"))
    for port in ports:
        rows.append(row(mono(f"▪ {port.name}"), port=port.name, bg=style.CHANGED_ROW if port.key in changed else None))
    if gridded:
        rows.append(row(small(f"+ {gridded} ports, named on each namespace", style.TEXT), port=GRID_PORT, align="CENTER"))
    return html_table(rows, style.BRIDGE, border=4 if mark else 2, color=mark)


def leaf_label(node: Node, peer: str, with_routes: bool, inbound: Mapping[tuple[str, str], Sequence[str]],
               mark: str | None = None, filtering: Sequence[str] = ()) -> str:
    """A small box for a namespace packed into a grid: name, its one interface and the bridge port it plugs into."""
    look = style.LOOKS[node.kind]
    itf = next(i for i in node.interfaces if i.name != LOOPBACK)
    rows = [row(f"<B>{html.escape(node.name)}</B>", port=HEAD, bg=title_fill(look), align="CENTER"),
            row(interface_text(itf, len(itf.name), inbound.get(itf.key, ())), port=itf.name),
            row(mono(f"↔ {peer}", size=style.SMALL, color=style.MUTED))]
    if with_routes and node.routes:
        rows.append(row(left_lines(mono(str(r), size=style.SMALL) for r in node.routes)))
    rows += [row(cell) for cell in filtering]
    return html_table(rows, look, border=4 if mark else 1, color=mark)
