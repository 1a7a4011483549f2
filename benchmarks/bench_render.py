"""Render time and drawing size for stars of 100 / 300 / 1000 namespaces: `python benchmarks/bench_render.py`.

Reports, per size: checking the file, building DOT, and graphviz drawing SVG and PNG, with the drawing's size
in points. For comparison it also lays out the same DOT without the leaf grid (one column of leaves) and
with sfdp instead of dot, to show why `render` packs big segments into a grid and keeps the dot engine.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.labs import star
from topograph.pipeline import check_text
from topograph.render import Options, to_dot
from topograph.render.output import draw

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def svg_size(svg: bytes) -> tuple[float, float]:
    m = re.search(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 300, 1000])
    parser.add_argument("--no-compare", action="store_true", help="skip the no-grid and sfdp comparisons")
    args = parser.parse_args()
    print(f"{'nodes':>6} {'check':>7} {'dot-src':>7} {'svg':>7} {'png':>7} {'svg total':>9}  {'drawing (pt)':>14}  png bytes")
    totals: dict[int, float] = {}
    for n in args.sizes:
        text = star(n)
        checked, t_check = timed(partial(check_text, text, f"star{n}.yml"))
        assert checked.ok and checked.topology is not None
        source, t_dot = timed(partial(to_dot, checked.topology, checked.graph))
        svg, t_svg = timed(partial(draw, source, "svg"))
        png, t_png = timed(partial(draw, source, "png"))
        w, h = svg_size(svg)
        totals[n] = t_check + t_dot + t_svg
        print(f"{n:>6} {t_check:>6.2f}s {t_dot:>6.2f}s {t_svg:>6.2f}s {t_png:>6.2f}s {totals[n]:>8.2f}s"
              f"  {w:>6.0f}x{h:<7.0f}  {len(png):,}")
        if not args.no_compare:
            flat = to_dot(checked.topology, checked.graph, Options(grid_min=10**9))
            flat_svg, t_flat = timed(partial(draw, flat, "svg"))
            fw, fh = svg_size(flat_svg)
            sfdp_svg, t_sfdp = timed(partial(draw, flat, "svg", engine="sfdp"))
            sw, sh = svg_size(sfdp_svg)
            print(f"{'':>6}   without grid (dot): svg {t_flat:.2f}s, {fw:.0f}x{fh:.0f} pt (aspect 1:{fh / max(fw, 1):.0f});"
                  f" sfdp: svg {t_sfdp:.2f}s, {sw:.0f}x{sh:.0f} pt")
    sizes = sorted(totals)
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        print(f"ratio total {hi}/{lo}: {totals[hi] / totals[lo]:.1f}x for {hi / lo:.0f}x the nodes; "
              f"{hi} nodes in {totals[hi]:.2f}s (target: well under 60s)")


if __name__ == "__main__":
    main()
