"""A document with shape errors is still checked without its broken parts (topograph.gaps): every
problem of the rest is reported in the same run, and nothing that only follows from a dropped part."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, SAMPLES
from topograph.pipeline import check_text

Breakage = tuple[str, Callable[[Any], None]]
SEMANTIC = ROOT / "tests/golden/errors/multi-seed-semantics.yml"


def _said(data: Any) -> set[tuple[str, str]]:
    """What checking `data` reports, as (code, message): positions move when the text is re-written."""
    return {(d.code, d.message) for d in check_text(yaml.safe_dump(data, sort_keys=False), "lab.yml").report}


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Any], None]:
    def apply(data: Any) -> None:
        for step in path[:-1]:
            data = data[step]
        data[path[-1]] = value
    return apply


def breakages(data: dict[str, Any]) -> Iterator[Breakage]:
    """One shape error at a time, at every kind of place a lab has one."""
    for name, node in data["nodes"].items():
        yield f"node {name} not a mapping", _set(("nodes", name), ["broken"])
        yield f"node {name} kind misspelt", _set(("nodes", name, "kind"), "hots")
        yield f"node {name} forwarding quoted", _set(("nodes", name, "forwarding"), "yes")
        for field in ("interfaces", "bridges"):
            for ifname in node.get(field) or {}:
                yield f"{field} {name}:{ifname} not an address", _set(("nodes", name, field, ifname), 5)
        for field, key in (("routes", "to"), ("nat", "out"), ("port_forwards", "to")):
            for i, _ in enumerate(node.get(field) or []):
                yield f"{name} {field}[{i}] {key} a number", _set(("nodes", name, field, i, key), 5)
    for i, _ in enumerate(data.get("links") or []):
        yield f"links[{i}] one string", _set(("links", i), "a b")
    if "links" in data:
        yield "links misspelt", lambda d: d.__setitem__("link", d.pop("links"))
    for i, _ in enumerate(data.get("expect") or []):
        yield f"expect[{i}] with a guessed unknown key", _set(("expect", i, "prot"), 80)


def _cases() -> list[tuple[Path, str, Callable[[Any], None]]]:
    out = []
    for path in [*SAMPLES, SEMANTIC]:
        for what, apply in breakages(yaml.safe_load(path.read_text())):
            out.append((path, what, apply))
    return out


CASES = _cases()


@pytest.mark.parametrize(("path", "what", "apply"), CASES, ids=[f"{p.stem}: {w}" for p, w, _ in CASES])
def test_one_shape_error_adds_nothing_but_itself(path: Path, what: str, apply: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text())
    before = _said(data)
    broken = copy.deepcopy(data)
    apply(broken)
    new = _said(broken) - before
    assert len(new) == 1 and next(iter(new))[0] in ("TG010", "TG011"), f"{what}: {sorted(new)}"


def test_the_rest_is_still_checked() -> None:
    # the semantic errors of multi-seed-semantics stay reported beside a meaningless key and a guessed one
    data = yaml.safe_load(SEMANTIC.read_text())
    before = _said(data)
    data["nodes"]["red"]["colour"] = "red"
    data["nodes"]["blue"]["forwardng"] = True
    after = _said(data)
    assert before <= after
    assert sorted(code for code, _ in after - before) == ["TG010", "TG010"]
