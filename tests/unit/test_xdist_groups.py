"""Under pytest-xdist's --dist loadgroup (the README's test command), a module whose tests share a module-scoped
fixture runs on one worker: tests/conftest.py puts those tests in an xdist group named after the module."""

from __future__ import annotations

import pytest

MODULE = "tests/unit/test_xdist_groups.py"


@pytest.fixture(scope="module")
def shared() -> list[str]:
    return []


def test_a_test_of_a_module_scoped_fixture_is_grouped_by_its_module(shared: list[str], request: pytest.FixtureRequest) -> None:
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args == (MODULE,)


def test_a_test_without_one_is_in_no_group(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("xdist_group") is None


@pytest.mark.xdist_group("chosen")
def test_a_group_the_test_names_itself_is_kept(shared: list[str], request: pytest.FixtureRequest) -> None:
    assert [m.args for m in request.node.iter_markers("xdist_group")] == [("chosen",)]
