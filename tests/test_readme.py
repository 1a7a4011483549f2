"""The README shows what the tools really print and what CI really runs."""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from topograph.cli import main

README = (ROOT / "README.md").read_text()


def _block_after(marker: str) -> str:
    tail = README[README.index(marker):]
    match = re.search(r"```\w*\n(.*?)```", tail, re.S)
    assert match, f"no code block after {marker!r}"
    return match.group(1)


def test_script_excerpt_is_from_the_golden_script() -> None:
    excerpt = _block_after("An excerpt of the seed lab's script")
    golden = (ROOT / "tests/golden/compile/06-port-forward/setup.sh").read_text()
    assert excerpt in golden


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci/run").read_text()
    command = re.search(r"`(python3 -m pytest [^`]+)`", README)
    assert command, "the README names its test command"
    assert command.group(1) in ci.splitlines()


def test_seed_lab_in_readme_is_the_sample_with_comments() -> None:
    shown = _block_after("## The seed lab in the format")
    sample = (ROOT / "samples/06-port-forward.yml").read_text()

    def bare(text: str) -> list[str]:
        return [line.split("#")[0].rstrip() for line in text.splitlines() if line.split("#")[0].strip()]

    assert bare(shown) == bare(sample)


def _console_examples() -> list[tuple[str, str]]:
    """Every `$ topograph ...` in the README's console blocks, with the output shown under it."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", README, re.S):
        for part in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, shown = part.partition("\n")
            out.append((command, shown.removesuffix("\n\n") + ("\n" if shown.endswith("\n\n") else "")))
    return out


EXAMPLES = _console_examples()


def test_the_readme_has_console_examples() -> None:
    assert len(EXAMPLES) >= 4 and all(c.startswith("topograph ") for c, _ in EXAMPLES)


@pytest.mark.parametrize(("command", "shown"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_console_example_prints_what_the_readme_shows(command: str, shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # run from the repository's root, on files the repository has; what it prints on stdout and stderr
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, shlex.split(command)[1:])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout + result.stderr == shown


def test_the_documented_limits_are_the_loader_s() -> None:
    from topograph.front.loader import MAX_DEPTH
    from topograph.front.reader import MAX_BYTES

    assert f"Values nest at most {MAX_DEPTH}\nlevels deep" in README
    assert f"of at most {MAX_BYTES // 2**20} MiB:" in README and MAX_BYTES % 2**20 == 0
