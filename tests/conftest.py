"""Shared pytest set-up: the --update-golden option, the `golden` fixture, and one worker per module that
shares a fixture (under pytest-xdist's `--dist loadgroup`, the README's test command)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.yml"))


#: Fixture scopes wider than a test but narrower than the session: a module sharing one (an applied lab, a browser)
#: runs all its tests on one xdist worker, so it is set up once rather than once per worker.
_SHARED_SCOPES = frozenset({"module", "class"})


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns xdist_group marks into the node ids' @group
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put every test that uses a module- or class-scoped fixture in an xdist group named after its module
    (unless it names a group itself). Without xdist, or with another --dist, the marks change nothing."""
    for item in items:
        if not isinstance(item, pytest.Function) or item.get_closest_marker("xdist_group") is not None:
            continue
        defs = item._fixtureinfo.name2fixturedefs.values()
        if any(d.scope in _SHARED_SCOPES for chain in defs for d in chain):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite golden files with the current output instead of comparing")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[Path, str], None]:
    """golden(path, actual): compare with the file at `path` (unified diff on failure), or rewrite it."""
    update = bool(request.config.getoption("--update-golden"))

    def check(path: Path, actual: str) -> None:
        if update or not path.exists():
            if not update:
                pytest.fail(f"golden file {path.relative_to(ROOT)} is missing; run pytest --update-golden to create it")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual)
            return
        expected = path.read_text()
        if expected != actual:
            diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                                f"{path.name} (golden)", f"{path.name} (actual)"))
            pytest.fail(f"output differs from {path.relative_to(ROOT)}; if the change is intended, "
                        f"run pytest --update-golden\n{diff}", pytrace=False)

    return check
