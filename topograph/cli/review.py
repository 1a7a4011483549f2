"""`topograph review FILE -o review.html`: the lab's design review as one self-contained page (or Markdown)."""

from __future__ import annotations

from pathlib import Path

import click

from topograph.cli.common import FILE_TYPE, abort, load_or_exit, shown, topology_argument
from topograph.front.diagnostics import count
from topograph.render.output import RenderError, check_writable, draw, write_output

EXTENSIONS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}


@click.command("review")
@topology_argument
@click.option("-o", "--output", metavar="OUT", required=True, help="the page to write: review.html, or review.md")
@click.option("--format", "fmt", type=click.Choice(["html", "md"], case_sensitive=False),
              help="html (one self-contained file) or md (Markdown, its diagrams as OUT-NAME.svg beside it); "
                   "default: from the extension of OUT")
@click.option("--against", metavar="OLD", type=FILE_TYPE,
              help="compare with the older design OLD (a file, `-`, or REV:path as for `topograph diff`): add what "
                   "changed, with every changed matrix cell, and mark what is new or changed on the diagram")
@click.option("--failures", is_flag=True,
              help="add the single failures (each link, each node) that break an expectation, and why")
def command(file: str, output: str, fmt: str | None, against: str | None, failures: bool) -> None:
    """Write the design review of FILE: title and description, the diagram, the address plan per L2
    segment, every node's interfaces, routes, forwarding, rp_filter and NAT, the reachability matrix
    (each cell that is not delivered linked to its hop-by-hop explanation), the expectations (held or
    broken, a broken one with its path drawn over the diagram) and check's warnings.

    The HTML page is one file (inline SVG and CSS, nothing fetched) that prints well; `--format md`
    writes Markdown for pull requests and wikis. The same FILE always gives the same bytes.
    FILE `-` reads the topology from standard input.

    `--against OLD` adds "What changed" (as `topograph diff OLD FILE` says it) and marks on the diagram
    the nodes, interfaces and links added or changed; `--failures` adds the lab's single points of failure.
    """
    chosen = fmt.lower() if fmt is not None else EXTENSIONS.get(Path(output).suffix.lower())
    if chosen is None:
        abort(f"cannot tell the format of {output!r}; name it .html or .md, or pass --format html|md")
    try:
        check_writable(output)
    except RenderError as exc:
        abort(str(exc))
    if against == "-" and file == "-":
        abort("FILE and --against OLD cannot both be '-' (standard input)")
    checked = load_or_exit(file, stdin=True)
    assert checked.topology is not None and checked.graph is not None
    from topograph.cli.diff import load_revision
    from topograph.review.page import Against, build_page, to_html, to_markdown  # the simulator and jinja2 load lazily

    old = Against(load_revision(against, status=1), against, file) if against is not None else None

    warnings = tuple(d for d in checked.report if not d.is_error)
    try:
        page = build_page(checked.topology, checked.graph, warnings, lambda dot: draw(dot, "svg").decode(),
                     against=old, failures=failures)
        written = to_html(page) if chosen == "html" else to_markdown(page, Path(output).stem)
        for name, content in written.assets:
            write_output(str(Path(output).with_name(name)), content.encode())
        write_output(output, written.text.encode())
    except RenderError as exc:
        abort(str(exc))
    extra = f" and {count(len(written.assets), 'diagram')} beside it" if written.assets else ""
    click.echo(f"{shown(file)}: wrote {output} ({chosen}){extra}", err=True)

