"""The review page in a real browser: headless Chromium loads every sample's page (and a 300-namespace star's)
without a console error or a request beyond the file itself, finds every section and every link's target.

Set TOPOGRAPH_SCREENSHOTS=DIR to keep a full-page screenshot of each page there (how the pages were looked at).
Chromium comes from Debian's package (.ci/install); without it these tests are skipped, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.labs import star
from tests.chromium import Chromium, binary
from tests.conftest import ROOT, SAMPLES
from topograph.cli import main
from topograph.render import style
from topograph.review.sections import SECTIONS

pytestmark = pytest.mark.skipif(binary() is None, reason="chromium is not installed (apt-get install chromium; .ci/install does)")

BROKEN = ROOT / "tests" / "golden" / "errors" / "TG410-expectation-violated.yml"
# star39: the biggest lab with a matrix table (40 nodes); star300: one with a tally
CASES: list[Path | str] = [*SAMPLES, BROKEN, "star39", "star300"]
ALL_IDS = ["title", *(kind.replace("_", "-") for kind, _, _ in SECTIONS)]
SECTION_IDS = [i for i in ALL_IDS if i not in ("what-changed", "single-points")]  # those two: --against, --failures

# what the page must show: each section with content, a diagram, a matrix or its tally
CHECKS = """(() => {
  const ids = [...document.querySelectorAll('header[id], section[id]')].map(e => e.id);
  const empty = [...document.querySelectorAll('section')].filter(s => s.innerText.trim().split('\\n').length < 2).map(s => s.id);
  const broken = [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute('href').slice(1))
                   .filter(id => !document.getElementById(id));
  const diagram = document.querySelector('#diagram svg');
  const box = diagram ? diagram.getBoundingClientRect() : null;
  return {ids, empty, broken, diagram: box ? [Math.round(box.width), Math.round(box.height)] : null,
          matrix: document.querySelectorAll('#matrix table.matrix td').length,
          tally: document.querySelectorAll('#matrix .legend .c').length,
          brokenFigures: document.querySelectorAll('#expectations .broken-detail svg').length,
          overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};
})()"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as b:
        yield b


def _page(case: Path | str, tmp_path: Path, *options: str) -> Path:
    lab = case if isinstance(case, Path) else tmp_path / f"{case}.yml"
    if isinstance(case, str):
        lab.write_text(star(int(case.removeprefix("star"))))
    out = tmp_path / f"{lab.stem}.html"
    result = CliRunner().invoke(main, ["review", str(lab), "-o", str(out), *options])
    assert result.exit_code == 0, result.stderr
    return out


@pytest.mark.parametrize("case", CASES, ids=[c if isinstance(c, str) else c.stem for c in CASES])
def test_the_page_loads_cleanly_with_every_section(case: Path | str, tmp_path: Path, browser: Chromium) -> None:
    page = _page(case, tmp_path)
    loaded = browser.load(page)
    assert loaded.errors == []
    assert loaded.requests == [page.resolve().as_uri()], "the page fetches nothing"
    found = browser.evaluate(CHECKS)
    assert found["ids"] == SECTION_IDS
    assert found["empty"] == [] and found["broken"] == []
    assert found["diagram"] is not None and found["diagram"][0] > 300 and found["diagram"][1] > 100
    assert found["overflow"] <= 0, "nothing wider than the window"
    assert found["tally"] >= 1
    if case == "star300":
        assert found["matrix"] == 0  # a tally, not a table of 90,000 cells
    else:
        assert found["matrix"] > 0
    assert found["brokenFigures"] == (2 if case == BROKEN else 0)
    shots = os.environ.get("TOPOGRAPH_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        browser.screenshot(Path(shots) / f"{page.stem}.png")


def test_the_page_with_against_and_failures_loads_cleanly(tmp_path: Path, browser: Chromium) -> None:
    page = _page(ROOT / "samples" / "06-port-forward.yml", tmp_path,
                 "--against", str(ROOT / "samples" / "05-default-route.yml"), "--failures")
    loaded = browser.load(page)
    assert loaded.errors == []
    assert loaded.requests == [page.resolve().as_uri()], "the page fetches nothing"
    found = browser.evaluate(CHECKS)
    assert found["ids"] == ALL_IDS
    assert found["empty"] == [] and found["broken"] == []
    assert found["overflow"] <= 0, "nothing wider than the window"
    extra = browser.evaluate(f"""(() => ({{
      changed: document.querySelectorAll('#what-changed table tr').length,
      toDiagram: document.querySelectorAll('#what-changed a[href="#diagram"]').length,
      failures: document.querySelectorAll('#single-points table tr').length,
      marked: document.querySelectorAll('#diagram svg [stroke="{style.CHANGED}"]').length,
    }}))()""")
    assert extra["changed"] == 5, "a header and the four groups of changed cells"
    assert extra["toDiagram"] == 1 and extra["marked"] >= 3, "red, blue and host are outlined"
    assert extra["failures"] > 1
    shots = os.environ.get("TOPOGRAPH_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        browser.screenshot(Path(shots) / f"{page.stem}-against-failures.png")


def test_the_page_prints(tmp_path: Path, browser: Chromium) -> None:
    browser.load(_page(ROOT / "samples" / "06-port-forward.yml", tmp_path))
    assert browser.pdf().startswith(b"%PDF")


def test_the_check_sees_console_errors_and_fetches(tmp_path: Path, browser: Chromium) -> None:
    """The harness itself: a page with an error, an exception and a missing image is not clean."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body><img src="missing.png">'
                   '<script>console.error("boom"); notDefined();</script></body></html>')
    loaded = browser.load(bad)
    assert any("boom" in e for e in loaded.errors)
    assert any(e.startswith("exception:") for e in loaded.errors)
    assert any("missing.png" in r for r in loaded.requests)
