"""The README's Python API section, live: the with-block example prints what it shows, and the pytest example passes."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.live.conftest import Sandbox, namespaces_now
from topograph.live import state

pytestmark = pytest.mark.live
pytest_plugins = ["pytester"]

SECTION = (ROOT / "README.md").read_text().partition("## Python API")[2]
PYTHON = re.findall(r"```python\n(.*?)```", SECTION, re.S)
TEXT = re.findall(r"```text\n(.*?)```", SECTION, re.S)


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "state"))


def test_the_with_block_example_prints_what_the_readme_shows(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    code, shown = PYTHON[1], TEXT[1]
    assert 'sandbox="py1-"' in code
    import topograph

    sandbox.claim_plan(topograph.load(ROOT / "samples/06-port-forward.yml").plan(sandbox=sandbox.prefix))
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("py1-", sandbox.prefix), "README.md", "exec"), {})
    assert out.getvalue() == shown.replace("py1-", sandbox.prefix)
    assert sandbox.left() == []


def test_the_pytest_example_passes(pytester: pytest.Pytester, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_seed_web=PYTHON[2])
    (pytester.path / "samples").mkdir()
    shutil.copy(ROOT / "samples/06-port-forward.yml", pytester.path / "samples")
    made = pytester.path / "made.txt"
    pytester.makeconftest(RECORD.replace("MADE", str(made)))
    result = pytester.runpytest_inprocess("-p", "topograph.pytest_plugin", "-p", "no:cacheprovider", "-q")
    names = made.read_text().split()
    left = sorted(set(names) & namespaces_now())
    for name in left:  # the inner run's own (its unique prefixes): removed by exact name, then the test fails
        subprocess.run(["ip", "netns", "del", name], check=False)
    assert left == [] and len(names) == 10  # two seed labs of five nodes
    result.assert_outcomes(passed=2)
    assert "2 passed" in TEXT[2]


RECORD = '''
import pytest

@pytest.fixture(autouse=True)
def record(topograph_lab):
    yield
    with open("MADE", "a") as f:  # before the plugin destroys them: the namespaces of this test's labs
        f.write("".join(n + "\\n" for live in topograph_lab.labs for n in live.plan.namespaces))
'''
