"""The review page as one self-contained HTML file, or as Markdown with its diagrams as SVG files beside it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2
import networkx as nx

from topograph.compile import template_dir
from topograph.front.diagnostics import Diagnostic
from topograph.model import Topology
from topograph.pipeline import Checked
from topograph.review import markdown
from topograph.review.diff import changed_elements, design_diff
from topograph.review.sections import SECTIONS, Context, Draw, Page, SectionSpec, page
from topograph.review.views import Figure

FORMATS = ("html", "md")


@dataclass(frozen=True, slots=True)
class WrittenPage:
    """The page's text, and the files a Markdown page links to (name -> content)."""

    text: str
    assets: tuple[tuple[str, str], ...] = ()


def build_page(topology: Topology, graph: nx.Graph, warnings: tuple[Diagnostic, ...], draw: Draw,
          sections: Sequence[SectionSpec] = SECTIONS, *, against: Against | None = None,
          failures: bool = False) -> Page:
    """`against`: an older design to compare with (review --against): the diff is shown and what is new or
    changed marked on the diagram; `failures`: add the single failures that break an expectation."""
    diff = changes = None
    if against is not None:
        old = against.checked
        assert old.topology is not None, "--against needs a checked design"
        diff = design_diff(old, Checked(topology=topology, graph=graph), old_name=against.name, new_name=against.new_name)
        changes = changed_elements(old.topology, topology)
    return page(Context(topology, graph, warnings, draw, diff, changes, failures), sections)


@dataclass(frozen=True, slots=True)
class Against:
    """The older design a review compares with: checked, and its name and the new one's as the page shows them."""

    checked: Checked
    name: str
    new_name: str | None = None  # None: the new lab's file


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())), undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = markdown.escape
    env.filters["mdcode"] = markdown.code
    return env


def to_html(p: Page) -> WrittenPage:
    return WrittenPage(_environment().get_template("review/page.html.j2").render(page=p))


def to_markdown(p: Page, stem: str) -> WrittenPage:
    """`stem`: the page's file name without extension; its diagrams become STEM-NAME.svg beside it."""
    figures = [f for s in p.sections for f in _figures(s.value)]
    text = _environment().get_template("review/page.md.j2").render(page=p, stem=stem)
    return WrittenPage(text, tuple((f"{stem}-{f.name}", f.svg + "\n") for f in figures))


def _figures(value: object) -> list[Figure]:
    if isinstance(value, Figure):
        return [value]
    if isinstance(value, tuple):
        return [f for v in value for f in _figures(v)]
    figure = getattr(value, "figure", None)
    return [figure] if isinstance(figure, Figure) else []
