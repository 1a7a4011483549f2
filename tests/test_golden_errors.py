"""Golden error cases: each tests/golden/errors/NAME.yml is checked, its stderr must equal NAME.log exactly."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from topograph.cli import main
from topograph.front.codes import CODES
from topograph.front.reader import MAX_BYTES

ERRORS = Path(__file__).resolve().parent / "golden" / "errors"


def _too_large(path: Path) -> None:
    with path.open("wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: no disk space, and refused before a byte is read


# Cases made by the test instead of committed (only their .log is): NAME.yml -> how to make it.
MADE: dict[str, Callable[[Path], None]] = {"TG004-too-large.yml": _too_large}
# NAME.yml is usually a file; TG000-directory.yml is a directory on purpose (an unreadable "file")
CASES = sorted([*ERRORS.glob("*.yml"), *(ERRORS / name for name in MADE)])
_CODE = re.compile(r"\b(?:error|warning)\[(TG\d{3})\]")


def run_check(case: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """`topograph check NAME.yml` from inside the golden folder, so the logs hold stable relative paths."""
    monkeypatch.chdir(case.parent)
    result = CliRunner().invoke(main, ["check", *args, case.name])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_error_case(case: Path, golden: Callable[[Path, str], None], monkeypatch: pytest.MonkeyPatch,
                    tmp_path: Path) -> None:
    if case.name in MADE:  # made under the same name in a folder of its own
        MADE[case.name](tmp_path / case.name)
        code, out, err = run_check(tmp_path / case.name, monkeypatch)
    else:
        code, out, err = run_check(case, monkeypatch)
    golden(case.with_suffix(".log"), err)
    assert "Traceback" not in err
    has_errors = re.search(r"\berror\[TG", err) is not None
    assert code == (1 if has_errors else 0), f"exit status {code} does not match the diagnostics:\n{err}"
    assert out == "", "check writes nothing on stdout without --json"


def _logged_codes() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for log in sorted(ERRORS.glob("*.log")):
        for code in _CODE.findall(log.read_text()):
            found.setdefault(code, []).append(log.stem)
    return found


def test_every_code_has_a_golden_case() -> None:
    found = _logged_codes()
    missing = sorted(set(CODES) - set(found))
    assert not missing, f"codes without a golden case whose log shows them: {missing}"


def test_every_logged_code_is_known() -> None:
    unknown = sorted(set(_logged_codes()) - set(CODES))
    assert not unknown, f"logs show codes that topograph/front/codes.py does not define: {unknown}"


def test_every_case_has_a_log_and_every_log_a_case() -> None:
    logs = {p.stem for p in ERRORS.glob("*.log")}
    cases = {p.stem for p in CASES}
    assert cases, "no golden error cases found"
    assert logs == cases, f"unpaired: logs without case {sorted(logs - cases)}, cases without log {sorted(cases - logs)}"


def test_case_names_start_with_their_code() -> None:
    # TG203-overlap.yml must really show TG203: a renamed code or a drifting check shows up here
    for case in CASES:
        m = re.match(r"(TG\d{3})-", case.name)
        if m:
            log = case.with_suffix(".log")
            assert log.exists() and f"[{m[1]}]" in log.read_text(), f"{case.name} does not produce {m[1]}"
