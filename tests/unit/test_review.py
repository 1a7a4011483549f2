"""`topograph review`: the design review page, golden per sample in HTML and Markdown, and what each section holds."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.labs import star
from tests.conftest import ROOT, SAMPLES
from topograph.cli import main
from topograph.pipeline import check_file, check_text
from topograph.render import style
from topograph.render.output import draw
from topograph.review.page import Against, build_page, to_html, to_markdown
from topograph.review.sections import SECTIONS, Context, Page, expectations, matrix, nodes, single_points
from topograph.review.views import MATRIX_MAX, ChangesView, ExpectationView, MatrixView, NodeView
from topograph.sim.trace import Disposition

GOLDEN = ROOT / "tests" / "golden" / "review"
BROKEN = ROOT / "tests" / "golden" / "errors" / "TG410-expectation-violated.yml"  # its expectations are broken
CASES = [*SAMPLES, BROKEN]
OPTIONAL = ("what_changed", "single_points")  # sections only --against and --failures add


def review(file: Path | str, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["review", str(file), "-o", str(out), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


def svg(dot: str) -> str:
    return draw(dot, "svg").decode()


def context(text_or_path: Path | str) -> Context:
    c = check_file(text_or_path) if isinstance(text_or_path, Path) else check_text(text_or_path, "lab.yml")
    assert c.ok and c.topology is not None, [d.render() for d in c.report]
    return Context(c.topology, c.graph, tuple(d for d in c.report if not d.is_error), svg)


def dot_digest(dot: str) -> str:
    """A diagram that stands for its DOT source in the golden pages: the page is ours, the drawing graphviz's
    (whose SVG differs between graphviz versions and fonts); the DOT itself is golden in tests/golden/render."""
    digest = hashlib.sha256(dot.encode()).hexdigest()
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="80pt" height="20pt"><desc>DOT sha256 {digest}</desc></svg>\n'


@pytest.mark.parametrize("fmt", ["html", "md"])
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_review(case: Path, fmt: str, golden: Callable[[Path, str], None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the page names the file as given: relative to the repository, as in the README
    checked = check_file(case.relative_to(ROOT))
    assert checked.ok and checked.topology is not None
    page = build_page(checked.topology, checked.graph, tuple(d for d in checked.report if not d.is_error), dot_digest)
    written = to_html(page) if fmt == "html" else to_markdown(page, case.stem)
    golden(GOLDEN / f"{case.stem}.{fmt}", written.text)


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_the_command_writes_the_same_bytes_every_time(fmt: str, tmp_path: Path) -> None:
    first, second = tmp_path / f"a.{fmt}", tmp_path / "again" / f"a.{fmt}"
    second.parent.mkdir()
    assert review(BROKEN, first)[0] == 0 and review(BROKEN, second)[0] == 0
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(p.name for p in second.parent.iterdir())
    for p in second.parent.iterdir():
        assert p.read_bytes() == (tmp_path / p.name).read_bytes()


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_the_html_page_is_self_contained(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "review.html"
    assert review(case, out)[0] == 0
    page = out.read_text()
    # nothing to fetch: no scripts, no external style sheets, images or links (the SVG's xmlns is a name, not a fetch)
    assert "<script" not in page and "@import" not in page
    assert not re.search(r'\b(src|href)="(?!#|data:)', page)
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "ids are unique, also across the embedded diagrams"
    for target in re.findall(r'href="#([^"]+)"', page):
        assert target in ids, target
    for kind, _, _ in SECTIONS:
        assert (f'<section id="{kind.replace("_", "-")}">' in page) == (kind not in OPTIONAL)


def test_every_cell_that_is_not_delivered_links_to_its_explanation() -> None:
    mx = matrix(context(ROOT / "samples" / "06-port-forward.yml"))
    assert isinstance(mx, MatrixView) and mx.rows
    explained = {x.anchor: x for x in mx.explanations}
    failing = 0
    for src, cells in mx.rows:
        for col, cell in zip(mx.columns, cells, strict=True):
            if cell.disposition == Disposition.DELIVERED:
                assert cell.anchor is None
                continue
            failing += 1
            assert cell.anchor is not None
            x = explained[cell.anchor]
            assert (x.src, x.dst, x.disposition) == (src, col, cell.disposition)
            assert x.text.startswith("flow: ") and x.text.endswith(f"{x.disposition}: {x.reason}")
    assert failing == len(explained) == sum(t.cells for t in mx.tallies if t.disposition != "DELIVERED") > 0


def test_broken_expectations_carry_their_path_over_the_diagram() -> None:
    views = expectations(context(BROKEN))
    assert all(isinstance(v, ExpectationView) for v in views)
    assert [v.status for v in views] == ["held", "broken", "broken"]
    held, no_route, reaches = views
    assert held.figure is None
    assert no_route.figure is not None and "✖ NO_ROUTE at red" in no_route.figure.svg
    assert no_route.reason == "red has no route to 10.0.0.0/30 — add a route to it"
    assert reaches.figure is not None and "✔ DELIVERED at blue" in reaches.figure.svg
    assert no_route.figure.svg.startswith("<svg") and 'id="expect-2-' in no_route.figure.svg


def test_a_big_lab_gets_a_tally_not_a_table() -> None:
    n = 3 * MATRIX_MAX
    ctx = context(star(n))
    mx = matrix(ctx)
    assert mx.rows == () and mx.command == "topograph reach lab.yml"
    assert sum(t.cells for t in mx.tallies) == (n + 1) ** 2
    views = nodes(ctx)
    assert all(isinstance(v, NodeView) for v in views)
    assert [(v.name, len(v.alike)) for v in views] == [("host", 0), ("ns0", n - 1)]


def test_a_big_lab_explains_only_the_first_failures() -> None:
    # the namespaces have no route out of their subnet: each fails to reach 'far' beyond the host
    text = star(2 * MATRIX_MAX).replace("lab: star", "lab: cut").replace(", routes: [{to: default, via: 10.0.0.1}]", "")
    text = text.replace("    bridges: {br0: 10.0.0.1/16}", "    bridges: {br0: 10.0.0.1/16}\n    interfaces: {up: 192.0.2.1/24}")
    text = text.replace("links:", "  far: {kind: external, interfaces: {eth0: 192.0.2.2/24}}\nlinks:\n  - [host:up, far:eth0]")
    mx = matrix(context(text))
    failing = sum(t.cells for t in mx.tallies if t.disposition != "DELIVERED")
    assert failing > len(mx.explanations) == 40
    assert "the first 40 are explained below" in mx.note


def test_markdown_links_its_diagrams_written_beside_it(tmp_path: Path) -> None:
    out = tmp_path / "pr.md"
    code, err = review(BROKEN, out)
    assert code == 0 and err.endswith(f"wrote {out} (md) and 3 diagrams beside it\n")
    text = out.read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert linked == ["pr-diagram.svg", "pr-expect-2.svg", "pr-expect-3.svg"]
    for name in linked:
        assert (tmp_path / name).read_text().startswith("<svg")
    assert "[no-route](#why-0-2)" in text and '<a id="why-0-2"></a>' in text


def test_html_and_markdown_come_from_the_same_sections() -> None:
    ctx = context(ROOT / "samples" / "07-router-two-lans.yml")
    page = build_page(ctx.topology, ctx.graph, ctx.warnings, svg)
    html, md = to_html(page).text, to_markdown(page, "r").text
    for s in page.sections:
        assert f'<h2>{s.title}</h2>' in html and f"\n## {s.title}\n" in md


def test_warnings_are_listed(tmp_path: Path) -> None:
    lab = tmp_path / "warn.yml"
    lab.write_text("lab: warn\nnodes:\n  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: 10.9.0.2/24}}\n"
                   "  c: {forwarding: true, interfaces: {lo: 10.9.9.9/32}}\nlinks:\n  - [a:e0, b:e0]\n")
    checked = check_file(lab)
    warned = [d for d in checked.report if not d.is_error]
    assert checked.ok and warned, "the lab must draw at least one warning from check"
    out = tmp_path / "warn.html"
    assert review(lab, out)[0] == 0
    page = out.read_text()
    for d in warned:
        assert f"warning[{d.code}]" in page


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "x.txt"], "topograph: cannot tell the format of 'x.txt'; name it .html or .md, or pass --format html|md"),
    (["-o", "nowhere/x.html"], "topograph: cannot write nowhere/x.html: nowhere does not exist"),
])
def test_cli_errors_are_one_line(args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["review", str(ROOT / "samples" / "01-veth-pair.yml"), *args])
    assert result.exit_code == 1 and result.stderr == message + "\n"


def test_a_broken_file_writes_no_page(tmp_path: Path) -> None:
    lab = tmp_path / "bad.yml"
    lab.write_text("lab: bad\nnodes:\n  a: {interfaces: {e0: 10.9.0.1/24}}\nlinks:\n  - [a:e0, nowhere:e0]\n")
    out = tmp_path / "bad.html"
    code, err = review(lab, out)
    assert code == 1 and "error[" in err and not out.exists()


def test_format_option_wins_over_the_extension(tmp_path: Path) -> None:
    out = tmp_path / "page.txt"
    assert review(ROOT / "samples" / "01-veth-pair.yml", out, "--format", "md")[0] == 0
    assert out.read_text().startswith("# Design review: lab ")


def test_title_and_description_are_escaped(tmp_path: Path) -> None:
    lab = tmp_path / "desc.yml"
    lab.write_text('lab: desc\ndescription: |\n  Two <b>namespaces</b> & a pipe | see "docs"\n  second line\n'
                   "nodes:\n  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: 10.9.0.2/24}}\n"
                   "links:\n  - [a:e0, b:e0]\n")
    assert review(lab, tmp_path / "d.html")[0] == 0 and review(lab, tmp_path / "d.md")[0] == 0
    html = (tmp_path / "d.html").read_text()
    assert "<p>Two &lt;b&gt;namespaces&lt;/b&gt; &amp; a pipe | see &#34;docs&#34;</p>\n<p>second line</p>" in html
    md = (tmp_path / "d.md").read_text()
    assert "Two \\<b\\>namespaces\\</b\\> & a pipe \\| see \"docs\"\nsecond line\n" in md


def test_a_section_can_be_added_or_left_out() -> None:
    ctx = context(ROOT / "samples" / "01-veth-pair.yml")
    extra = (*SECTIONS, ("warnings", "Warnings again", lambda c: ()), ("nodes", "Left out", lambda c: None))
    p = build_page(ctx.topology, ctx.graph, ctx.warnings, svg, extra)
    assert [s.title for s in p.sections] == [title for kind, title, _ in SECTIONS if kind not in OPTIONAL] + ["Warnings again"]
    assert "<h2>Warnings again</h2>" in to_html(p).text and "Left out" not in to_html(p).text


def test_an_expectation_without_a_target_address_is_unchecked(tmp_path: Path) -> None:
    lab = tmp_path / "noaddr.yml"
    lab.write_text("lab: noaddr\nnodes:\n  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: []}}\n"
                   "links:\n  - [a:e0, b:e0]\nexpect:\n  - {from: a, to: b}\n")
    ctx = context(lab)
    assert any(d.code == "TG506" for d in ctx.warnings)
    (view,) = expectations(ctx)
    assert view.status == "unchecked" and view.figure is None and "b has no address" in view.reason


def test_a_wide_matrix_writes_its_cells_in_a_few_letters(tmp_path: Path) -> None:
    # 20 veth pairs: each node reaches its partner only; 40 columns
    lines = ["lab: pairs", "nodes:"]
    lines += [f"  {x}{i}: {{interfaces: {{e0: 10.{i}.0.{k}/24}}}}" for i in range(20) for k, x in ((1, "a"), (2, "b"))]
    lines += ["links:", *(f"  - [a{i}:e0, b{i}:e0]" for i in range(20))]
    lab = tmp_path / "pairs.yml"
    lab.write_text("\n".join(lines) + "\n")
    mx = matrix(context(lab))
    assert mx.wide and len(mx.rows) == 40
    assert {c.tiny for _, cells in mx.rows for c in cells} == {"ok", "NR"}
    out = tmp_path / "pairs.html"
    assert review(lab, out)[0] == 0
    page = out.read_text()
    assert '<table class="matrix many">' in page and '<a href="#why-0-2">NR</a>' in page
    assert '<span class="c c-no-route">NR</span> NO_ROUTE (1520)' in page


# -- review --against OLD and review --failures ------------------------------------------------------------------

SEED = ROOT / "samples" / "06-port-forward.yml"
OLDER = ROOT / "samples" / "05-default-route.yml"
# golden pages of the two options: (name, FILE, --against OLD or None, --failures)
OPTION_CASES = [("06-port-forward-failures", SEED, None, True), ("05-to-06-against", SEED, OLDER, False)]


@pytest.mark.parametrize("fmt", ["html", "md"])
@pytest.mark.parametrize(("name", "lab", "old", "failures"), OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_golden_review_with_options(name: str, lab: Path, old: Path | None, failures: bool, fmt: str,
                                    golden: Callable[[Path, str], None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    checked = check_file(lab.relative_to(ROOT))
    assert checked.ok and checked.topology is not None
    against = None
    if old is not None:
        against = Against(check_file(old.relative_to(ROOT)), str(old.relative_to(ROOT)), str(lab.relative_to(ROOT)))
    page = build_page(checked.topology, checked.graph, tuple(d for d in checked.report if not d.is_error), dot_digest,
                 against=against, failures=failures)
    kinds = [s.kind for s in page.sections]
    assert ("what_changed" in kinds) == (old is not None) and ("single_points" in kinds) == failures
    written = to_html(page) if fmt == "html" else to_markdown(page, name)
    golden(GOLDEN / f"{name}.{fmt}", written.text)




def _changes_view(p: Page) -> ChangesView:
    (view,) = [s.value for s in p.sections if s.kind == "what_changed"]
    assert isinstance(view, ChangesView)
    return view


def test_against_marks_what_is_new_or_changed_on_the_diagram(tmp_path: Path) -> None:
    old = tmp_path / "old.yml"
    old.write_text("lab: pair\nnodes:\n  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: 10.9.0.2/24}}\n"
                   "  gone: {interfaces: {lo: 10.9.1.2/32}}\n"
                   "  same: {interfaces: {e0: 10.9.3.1/24}}\n  same2: {interfaces: {e0: 10.9.3.2/24}}\n"
                   "links:\n  - [a:e0, b:e0]\n  - [same2:e0, same:e0]\n")
    new = tmp_path / "new.yml"
    new.write_text("lab: pair\nnodes:\n  a: {interfaces: {e0: 10.9.0.1/24, e1: 10.9.2.1/24}}\n"
                   "  b: {interfaces: {e0: 10.9.0.3/24}}\n  c: {interfaces: {e0: 10.9.2.2/24}}\n"
                   "  same: {interfaces: {e0: 10.9.3.1/24}}\n  same2: {interfaces: {e0: 10.9.3.2/24}}\n"
                   "links:\n  - [a:e0, b:e0]\n  - [a:e1, c:e0]\n  - [same:e0, same2:e0]\n")
    dots: list[str] = []

    def keep(dot: str) -> str:
        dots.append(dot)
        return svg(dot)

    ctx = context(new)
    p = build_page(ctx.topology, ctx.graph, ctx.warnings, keep, against=Against(check_file(old), "old.yml", "new.yml"))
    diagram = dots[0]
    boxes = {line.split(" ", 1)[0].strip() for line in diagram.splitlines()
             if f'COLOR="{style.CHANGED}"' in line and "[label=<" in line}
    assert boxes == {"a", "b", "c"}, "the changed and the added nodes are outlined, the unchanged ones not"
    assert diagram.count(f'BGCOLOR="{style.CHANGED_ROW}"') == 4, "a:e1, b:e0 and c:e0 filled, and the legend's swatch"
    assert diagram.count(f'color="{style.CHANGED}"') == 1, "the one added link (a:e1 -- c:e0)"
    assert "added or changed" in diagram
    view = _changes_view(p)
    assert view.removed == ("gone",)
    assert "node added: c" in view.changes and "address added: b:e0 10.9.0.3/24" in view.changes
    assert view.cells and view.reach.startswith("reachability: ")
    html, md = to_html(p).text, to_markdown(p, "r").text
    assert "Removed, so not on the diagram: <code>gone</code>" in html and "Removed, so not on the diagram: `gone`" in md


def test_against_the_same_design_says_nothing_changed_and_marks_nothing(tmp_path: Path) -> None:
    dots: list[str] = []

    def keep(dot: str) -> str:
        dots.append(dot)
        return svg(dot)

    ctx = context(SEED)
    p = build_page(ctx.topology, ctx.graph, ctx.warnings, keep, against=Against(check_file(SEED), "old.yml", "new.yml"))
    view = _changes_view(p)
    assert view.changes == () and view.cells == () and not view.marked
    assert (view.design, view.reach) == ("design: unchanged", "reachability: unchanged")
    assert style.CHANGED not in dots[0] and style.CHANGED_ROW not in dots[0], "no mark, and no legend entry for none"


def test_failures_list_each_single_failure_that_breaks_an_expectation() -> None:
    ctx = context(SEED)
    ctx.failures = True
    view = single_points(ctx)
    assert view is not None
    by_name = {r.name: r for r in view.rows}
    assert set(by_name) >= {"host", "blue"} and "red" not in by_name, "red's failure breaks only expectations from red"
    (broken,) = by_name["blue"].broken
    assert broken.text == "lan -> 192.168.1.2 (tcp/80)" and broken.disposition == "NEIGHBOR_UNREACHABLE"
    assert all(r.broken for r in view.rows) and view.note.startswith(f"{len(view.rows)} single failures of the ")


def test_failures_say_so_when_there_is_none(tmp_path: Path) -> None:
    lab = tmp_path / "none.yml"
    lab.write_text("lab: none\nnodes:\n  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: 10.9.0.2/24}}\n"
                   "links:\n  - [a:e0, b:e0]\nexpect:\n  - {from: a, to: a}\n")
    ctx = context(lab)
    ctx.failures = True
    view = single_points(ctx)
    assert view is not None and view.rows == ()
    assert view.note == ("No single failure breaks an expectation (1 link and 2 nodes taken down one at a time): "
                         "the lab has no single point of failure.")
    lab.write_text(lab.read_text().split("expect:")[0])
    ctx = context(lab)
    ctx.failures = True
    view = single_points(ctx)
    assert view is not None and view.rows == () and view.note.startswith("The file states no expectations")
    assert single_points(context(lab)) is None, "left out without --failures"


def test_the_command_writes_both_sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "both.md"
    code, err = review("samples/06-port-forward.yml", out, "--against", "samples/05-default-route.yml", "--failures")
    assert code == 0, err
    text = out.read_text()
    assert "\n## What changed\n" in text and "\n## Single failures\n" in text
    assert "**reachability: 7 cells changed**" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--against", "missing.yml"], "missing.yml:1:1: error[TG000]"),
    (["--against", "NOREV:samples/05-default-route.yml"], "topograph: NOREV:samples/05-default-route.yml: "),
])
def test_against_errors_are_one_line_and_exit_1(args: list[str], message: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "x.html"
    result = CliRunner().invoke(main, ["review", "samples/06-port-forward.yml", "-o", str(out), *args])
    assert result.exit_code == 1 and result.stderr.startswith(message) and not out.exists()
    assert "Traceback" not in result.stderr


def test_against_and_file_cannot_both_be_stdin(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["review", "-", "-o", str(tmp_path / "x.html"), "--against", "-"], input="")
    assert result.exit_code == 1
    assert result.stderr == "topograph: FILE and --against OLD cannot both be '-' (standard input)\n"
