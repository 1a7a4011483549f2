"""Whose namespace is it: topograph's mark on a namespace's loopback against the prefix a scan was given."""

from __future__ import annotations

import pytest

from topograph.kernel_names import mark
from topograph.scan.targets import other_sandbox


@pytest.mark.parametrize(("lab", "theirs", "prefix", "expected"), [
    ("seed", "t1-", "t1-", None),  # this sandbox's own
    ("seed", "t1-r", "t1-", "t1-r"),  # a longer prefix's: t1-rred is not node rred of t1-
    ("seed", "t1-", "t1-r", "t1-"),  # a shorter one's: t1-red is not node ed of t1-r
    ("seed", None, "t1-", None),  # a lab in real mode: no prefix in its mark
    ("a@b", "t1-", "t1-", None),  # the prefix is what follows the last '@' (a prefix has none)
])
def test_other_sandbox(lab: str, theirs: str | None, prefix: str, expected: str | None) -> None:
    assert other_sandbox(mark(lab, theirs), prefix) == expected


@pytest.mark.parametrize("alias", ["", "my own alias", "topograph", "topograph-x:lab@t1-r"])
def test_no_mark_of_topographs_is_nobody_elses(alias: str) -> None:
    assert other_sandbox(alias, "t1-") is None
