"""The pytest plugin's fixtures for real: a lab up for one test, gone after it — passed or failed."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import topograph
from tests.live.conftest import namespaces_now
from topograph.live import state

if TYPE_CHECKING:
    from topograph.api.live import LiveLab
    from topograph.pytest_plugin import LabFactory

pytestmark = pytest.mark.live


def _autoloaded() -> bool:
    """True when pytest loads the plugin by its entry point already (topograph installed with it)."""
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.value == "topograph.pytest_plugin" for ep in entry_points(group="pytest11"))


# the fixtures also when the installed topograph is older than the plugin (a checkout's tests)
pytest_plugins = ["pytester", *([] if _autoloaded() else ["topograph.pytest_plugin"])]

SEED = Path(__file__).resolve().parents[2] / "samples" / "06-port-forward.yml"


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, netns_available: None) -> None:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "state"))


def test_the_factory_brings_the_seed_up_for_this_test(topograph_lab: LabFactory) -> None:
    live = topograph_lab(SEED)
    assert live.prefix.startswith("tg") and live.left() == [live.prefix + n for n in live.lab.nodes]
    assert live.exec("lan", "ping", "-n", "-c1", "-W2", "192.168.1.2").returncode == 0
    assert live.verify().ok


@pytest.mark.parametrize("topograph_live", [topograph.generators.ring(3)], indirect=True)
def test_indirect_parametrisation(topograph_live: LiveLab) -> None:
    assert topograph_live.lab.name == "ring" and topograph_live.verify().ok


INNER = '''
import json, os, pytest, topograph

def record(live):
    with open(os.environ["TG_PREFIXES"], "a") as f:
        f.write(json.dumps([live.prefix, list(live.plan.namespaces)]) + "\\n")

def test_two_labs_at_once(topograph_lab):
    a, b = topograph_lab("seed.yml"), topograph_lab(topograph.generators.chain(2))
    record(a); record(b)
    assert a.prefix != b.prefix and a.exec("red", "ping", "-c1", "-W2", "192.168.15.2").returncode == 0

@pytest.mark.parametrize("topograph_live", ["seed.yml", topograph.generators.star(2)], indirect=True)
def test_each_lab(topograph_live):
    record(topograph_live)
    assert topograph_live.status().clean

def test_that_fails_with_a_lab_up(topograph_lab):
    live = topograph_lab("seed.yml")
    record(live)
    live.popen("blue", "sleep", "600")
    assert False, "the test fails; its lab still goes"

def test_without_a_parameter(topograph_live):
    pass
'''


def test_the_plugin_cleans_up_after_passing_and_failing_tests(pytester: pytest.Pytester, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the plugin once, by -p, installed or not
    prefixes = tmp_path / "prefixes.jsonl"
    monkeypatch.setenv("TG_PREFIXES", str(prefixes))
    pytester.makepyfile(test_inner=textwrap.dedent(INNER))
    (pytester.path / "seed.yml").write_text(SEED.read_text())
    result = pytester.runpytest_inprocess("-p", "topograph.pytest_plugin", "-p", "no:cacheprovider", "-q")
    made = [json.loads(line) for line in prefixes.read_text().splitlines()]
    left = sorted(n for _, names in made for n in names if n in namespaces_now())
    for name in left:  # ours (unique prefixes this run made): removed by exact name, then the test fails
        subprocess.run(["ip", "netns", "del", name], check=False)
    assert left == []
    result.assert_outcomes(passed=3, failed=1, errors=1)
    assert "the test fails; its lab still goes" in result.stdout.str()
    assert "topograph_live needs a lab" in result.stdout.str()
    assert len(made) == 5 and len({p for p, _ in made}) == 5
    assert (tmp_path / "state").is_dir() and not list((tmp_path / "state").glob("*.json"))  # the records went too
