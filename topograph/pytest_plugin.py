"""A pytest plugin: labs up in a fresh sandbox for one test, removed after it (installed with topograph, on by default).

Two fixtures, for people testing network software (a CNI plugin, a routing daemon, a firewall
script) against a namespace topology:

- `topograph_lab`: a factory; `topograph_lab(path_or_lab)` brings the lab up in namespaces with a
  prefix of its own (`tg3fa1c2-NODE`) and returns the `topograph.LiveLab`::

      def test_blue_serves(topograph_lab):
          live = topograph_lab("lab.yml")          # a path (also relative to the test file), or a Lab
          assert live.exec("red", "ping", "-c1", "-W1", "192.168.15.2").returncode == 0

- `topograph_live`: the same for indirect parametrisation, one lab per parameter::

      @pytest.mark.parametrize("topograph_live", ["a.yml", topograph.generators.chain(3)], indirect=True)
      def test_verify(topograph_live):
          assert topograph_live.verify().ok

After the test — passed, failed or errored — every lab it brought up is destroyed (the processes its
`popen` started are stopped first, by PID), and a namespace with its prefix still there fails the
test. Without root the tests that use them are skipped, with the reason. The plugin's entry point is
`topograph = "topograph.pytest_plugin"` (pyproject.toml, `pytest11`); `-p no:topograph` turns it off.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

if TYPE_CHECKING:
    from topograph.api.lab import Lab
    from topograph.api.live import LiveLab


def unique_prefix() -> str:
    """A fresh sandbox prefix such as 'tg3fa1c2-': short, shell-safe, unique per lab."""
    return f"tg{secrets.token_hex(3)}-"


class LabFactory:
    """`topograph_lab`: call it with a lab (a path or a topograph.Lab) to bring the lab up for this test."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = base  # the test file's folder: relative paths are looked for there too
        self.labs: list[LiveLab] = []

    def lab(self, lab: Lab | str | Path) -> Lab:
        from topograph.api.lab import Lab

        if isinstance(lab, Lab):
            return lab
        path = Path(lab)
        if not path.is_absolute() and not path.exists() and self.base is not None and (self.base / path).exists():
            path = self.base / path
        return Lab.from_file(path)

    def __call__(self, lab: Lab | str | Path, *, sandbox: str | None = None, expectations: bool = True,
                 firewall: Literal["nftables", "iptables"] = "nftables") -> LiveLab:
        """Bring `lab` up in sandbox `sandbox` (default: a fresh unique prefix); it goes when the test ends."""
        live = self.lab(lab).up(sandbox=sandbox or unique_prefix(), firewall=firewall, expectations=expectations)
        live.apply()  # up to date only once it is up: a failed apply leaves nothing to remove
        self.labs.append(live)
        return live

    def close(self) -> list[str]:
        """Destroy every lab, the last one first; return the problems met (namespaces left, errors)."""
        problems: list[str] = []
        while self.labs:
            live = self.labs.pop()
            try:
                left = live.destroy()
            except Exception as exc:  # keep going: the other labs must go too
                problems.append(f"destroy of {live.plan.lab} (sandbox {live.prefix}) failed: {exc}")
                continue
            if left:
                problems.append(f"namespaces left behind by {live.plan.lab}: {', '.join(left)}")
        return problems


def _skip_without_privileges() -> None:
    from topograph.api.live import privilege_problem

    problem = privilege_problem()
    if problem:
        pytest.skip(f"topograph_lab: {problem}")


@pytest.fixture
def topograph_lab(request: pytest.FixtureRequest) -> Iterator[LabFactory]:
    """A factory that brings labs up in fresh sandboxes for this test and removes them after it."""
    _skip_without_privileges()
    factory = LabFactory(Path(request.path).parent)
    try:
        yield factory
    finally:
        problems = factory.close()
        if problems:
            pytest.fail("topograph_lab cleanup: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def topograph_live(request: pytest.FixtureRequest, topograph_lab: LabFactory) -> LiveLab:
    """The lab of the indirect parameter (a path or a topograph.Lab), up in a fresh sandbox for this test."""
    param = getattr(request, "param", None)
    if param is None:
        pytest.fail("topograph_live needs a lab: @pytest.mark.parametrize('topograph_live', ['lab.yml'], indirect=True)",
                    pytrace=False)
    return topograph_lab(param)
