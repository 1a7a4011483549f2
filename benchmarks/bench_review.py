"""The review page of stars of 100 / 300 namespaces: `python benchmarks/bench_review.py [SIZES...]`.

Per size: checking the file (the yardstick every command pays), drawing the diagram alone (what
`render -o lab.svg` does), the matrix section, and the whole page in HTML and in Markdown; the ratio
is the whole page against the diagram alone, both measured in this run. Best of --repeat runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.labs import star
from topograph.pipeline import check_text
from topograph.render import Options, to_dot
from topograph.render.output import draw
from topograph.review.page import build_page, to_html, to_markdown
from topograph.review.sections import Context, matrix

T = TypeVar("T")


def best(fn: Callable[[], T], repeat: int) -> tuple[T, float]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    assert value is not None
    return value, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 300])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'nodes':>6} {'check':>7} {'diagram':>8} {'matrix':>7} {'html':>7} {'md':>7} {'html/diagram':>12} {'page bytes':>10}")
    for n in args.sizes:
        text = star(n)
        checked, t_check = best(lambda: check_text(text, f"star{n}.yml"), args.repeat)  # noqa: B023
        assert checked.ok and checked.topology is not None
        t, g = checked.topology, checked.graph

        def svg(dot: str) -> str:
            return draw(dot, "svg").decode()

        _, t_diagram = best(lambda: svg(to_dot(t, g, Options())), args.repeat)  # noqa: B023
        _, t_matrix = best(lambda: matrix(Context(t, g, (), svg)), args.repeat)  # noqa: B023
        page, t_html = best(lambda: to_html(build_page(t, g, (), svg)), args.repeat)  # noqa: B023
        _, t_md = best(lambda: to_markdown(build_page(t, g, (), svg), "review"), args.repeat)  # noqa: B023
        print(f"{n + 1:>6} {t_check:>6.2f}s {t_diagram:>7.2f}s {t_matrix:>6.2f}s {t_html:>6.2f}s {t_md:>6.2f}s "
              f"{t_html / t_diagram:>11.2f}x {len(page.text.encode()):>10}")


if __name__ == "__main__":
    main()
