"""`topograph check`: exit status, stderr/stdout discipline, --json shape, --strict, and every sample passing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from tests.conftest import ROOT, SAMPLES
from topograph.cli import main
from topograph.cli.common import load_or_exit
from topograph.front.codes import CODES

CLEAN = "nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.2/24}}\nlinks: [[a:e, b:e]]\n"
WARNS = "nodes:\n  a: {interfaces: {e: {address: 10.0.0.1/24, mtu: 1400}}}\n" \
        "  b: {interfaces: {e: {address: 10.0.0.2/24, mtu: 1500}}}\nlinks: [[a:e, b:e]]\n"
BROKEN = "nodes:\n  a: {interfaces: {e: 10.0.0.1/24}}\n  b: {interfaces: {e: 10.0.0.1/24}}\nlinks: [[a:e, b:e]]\n" \
         "expect: [{from: a, to: c}]\n"


def check(tmp_path: Path, text: str | None, *args: str, name: str = "lab.yml") -> Result:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    return CliRunner().invoke(main, ["check", *args, str(path)])


def test_clean_file_exits_0_and_says_so_on_stderr(tmp_path: Path) -> None:
    result = check(tmp_path, CLEAN)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"{tmp_path / 'lab.yml'}: lab 'lab' is valid: 2 nodes, 1 link, 0 expectations\n"


def test_errors_exit_1_with_diagnostics_on_stderr_only(tmp_path: Path) -> None:
    result = check(tmp_path, BROKEN)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'lab.yml'}:5:") and "error[TG101]" in lines[0]
    assert lines[1].startswith("  hint: ")
    assert lines[-1] == "1 error, 0 warnings"
    assert "valid" not in result.stderr


def test_warnings_exit_0_but_are_shown(tmp_path: Path) -> None:
    result = check(tmp_path, WARNS)
    assert result.exit_code == 0 and result.stdout == ""
    assert "warning[TG505]" in result.stderr and "0 errors, 1 warning\n" in result.stderr
    assert "is valid" in result.stderr


def test_strict_turns_warnings_into_failure(tmp_path: Path) -> None:
    result = check(tmp_path, WARNS, "--strict")
    assert result.exit_code == 1 and result.stdout == ""
    assert "warning[TG505]" in result.stderr and "fails --strict" in result.stderr and "is valid" not in result.stderr


def test_a_shared_address_and_subnet_pass_check_but_fail_strict(tmp_path: Path) -> None:
    text = ("nodes:\n  r: {interfaces: {x: 10.0.0.1/24, y: 10.0.0.3/24}}\n  a: {interfaces: {e: 10.0.0.2/24}}\n"
            "  b: {interfaces: {e: 10.0.0.2/24}}\nlinks: [[r:x, a:e], [r:y, b:e]]\n")
    plain = check(tmp_path, text)
    assert plain.exit_code == 0 and "warning[TG202]" in plain.stderr and "warning[TG203]" in plain.stderr
    strict = check(tmp_path, text, "--strict")
    assert strict.exit_code == 1 and "fails --strict" in strict.stderr


def test_the_same_ipv6_subnet_on_two_segments_passes_check_but_fails_strict(tmp_path: Path) -> None:
    text = ("nodes:\n  r: {interfaces: {x: 'fd00::1/64', y: 'fd00::3/64'}}\n  a: {interfaces: {e: 'fd00::2/64'}}\n"
            "  b: {interfaces: {e: 'fd00::4/64'}}\nlinks: [[r:x, a:e], [r:y, b:e]]\n")
    plain = check(tmp_path, text)
    assert plain.exit_code == 0 and "warning[TG212]" in plain.stderr
    strict = check(tmp_path, text, "--strict")
    assert strict.exit_code == 1 and "fails --strict" in strict.stderr


def test_strict_on_a_clean_file(tmp_path: Path) -> None:
    assert check(tmp_path, CLEAN, "--strict").exit_code == 0


def test_json_output_shape(tmp_path: Path) -> None:
    result = check(tmp_path, BROKEN, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"ok", "errors", "warnings", "diagnostics"}
    assert data["ok"] is False and data["errors"] == 1 and data["warnings"] == 0
    (d,) = data["diagnostics"]
    assert set(d) == {"severity", "code", "message", "pos", "hint", "path"}
    assert d["severity"] == "error" and d["code"] == "TG101" and d["code"] in CODES
    assert d["pos"] == {"file": str(tmp_path / "lab.yml"), "line": 5, "col": 24}
    assert result.stderr == ""  # JSON is the whole answer: nothing else to parse around


def test_json_on_a_clean_file(tmp_path: Path) -> None:
    result = check(tmp_path, CLEAN, "--json")
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout) == {"ok": True, "errors": 0, "warnings": 0, "diagnostics": []}


def test_json_with_strict_reports_not_ok_on_warnings(tmp_path: Path) -> None:
    plain = json.loads(check(tmp_path, WARNS, "--json").stdout)
    strict = check(tmp_path, WARNS, "--json", "--strict")
    assert plain["ok"] is True
    assert strict.exit_code == 1 and json.loads(strict.stdout)["ok"] is False


def test_shape_errors_carry_their_document_path_in_json(tmp_path: Path) -> None:
    data = json.loads(check(tmp_path, "nodes: {a: {kind: router}}\n", "--json").stdout)
    assert [(d["code"], d["path"]) for d in data["diagnostics"]] == [("TG011", "nodes.a.kind")]


def test_semantic_diagnostics_carry_the_path_written_at_their_place(tmp_path: Path) -> None:
    text = ("nodes:\n  a:\n    interfaces: {e: 10.0.0.1/24}\n    routes:\n      - to: default\n        via: 10.9.9.9\n"
            "  b: {interfaces: {e: 10.0.0.1/24}}\nlinks: [[a:e, b:e]]\n")
    data = json.loads(check(tmp_path, text, "--json").stdout)
    assert [(d["code"], d["path"]) for d in data["diagnostics"]] == [
        ("TG300", "nodes.a.routes[0]"), ("TG211", "nodes.b.interfaces.e")]


def test_missing_file_is_a_diagnostic_not_a_traceback(tmp_path: Path) -> None:
    result = check(tmp_path, None, name="nope.yml")
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit))
    assert result.stderr.startswith(f"{tmp_path / 'nope.yml'}:1:1: error[TG000]: cannot read the file")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_missing_file_in_json(tmp_path: Path) -> None:
    result = check(tmp_path, None, "--json", name="nope.yml")
    assert result.exit_code == 1
    assert [d["code"] for d in json.loads(result.stdout)["diagnostics"]] == ["TG000"]


def test_directory_is_a_diagnostic(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1 and "error[TG000]" in result.stderr and "directory" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert CliRunner().invoke(main, ["check"]).exit_code == 2
    assert CliRunner().invoke(main, ["check", "--bogus", "x.yml"]).exit_code == 2


def test_a_real_process_has_no_traceback_and_right_streams(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_bytes(b"nodes:\n  r\xff: {}\n")
    proc = subprocess.run([sys.executable, "-m", "topograph", "check", str(bad)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "error[TG000]" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_every_sample_checks_clean_even_strict(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "samples")
    # samples/README.md: "`topograph check` passes on every one of them" — without warnings too
    result = CliRunner().invoke(main, ["check", "--strict", "--json", sample.name])
    data = json.loads(result.stdout)
    assert result.exit_code == 0, result.stdout
    assert data["ok"] is True and data["errors"] == data["warnings"] == 0, data["diagnostics"]


# -- load_or_exit: the gate every other command uses ------------------------------------------

def _probe(file: str) -> None:
    checked = load_or_exit(file)
    assert checked.topology is not None
    click.echo(f"loaded {checked.topology.name}")


PROBE = click.Command("probe", callback=_probe, params=[click.Argument(["file"])])


def test_load_or_exit_stops_before_the_command_runs(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text(BROKEN)
    result = CliRunner().invoke(PROBE, [str(tmp_path / "lab.yml")])
    assert result.exit_code == 1 and result.stdout == "" and "error[TG101]" in result.stderr


def test_load_or_exit_passes_a_sound_file_through_with_its_warnings(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text(WARNS)
    result = CliRunner().invoke(PROBE, [str(tmp_path / "lab.yml")])
    assert result.exit_code == 0 and result.stdout == "loaded lab\n" and "warning[TG505]" in result.stderr


# -- `-` is standard input ----------------------------------------------------------------------
def test_check_dash_reads_stdin_and_names_it() -> None:
    result = CliRunner().invoke(main, ["check", "-"], input=CLEAN)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "<stdin>: lab 'stdin' is valid: 2 nodes, 1 link, 0 expectations\n"
    result = CliRunner().invoke(main, ["check", "-"], input=BROKEN)
    assert result.exit_code == 1
    assert result.stderr.startswith("<stdin>:5:") and "error[TG101]" in result.stderr
    result = CliRunner().invoke(main, ["check", "--json", "-"], input=BROKEN)
    assert json.loads(result.stdout)["diagnostics"][0]["pos"]["file"] == "<stdin>"


def test_check_dash_rejects_bytes_that_are_not_utf8() -> None:
    result = CliRunner().invoke(main, ["check", "-"], input=b"nodes:\n  r\xe9d: {}\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("<stdin>:2:4: error[TG000]: standard input is not valid UTF-8 text (byte 0xe9)")


def test_check_dash_is_bounded_like_a_file() -> None:
    """A pipe that gives more than a file may hold is TG004 as soon as it has (it never reads /dev/zero dry)."""
    from topograph.front.reader import MAX_BYTES

    result = CliRunner().invoke(main, ["check", "-"], input=b"#" * (MAX_BYTES + 1))
    assert result.exit_code == 1
    assert result.stderr.startswith("<stdin>:1:1: error[TG004]:"), result.stderr
    assert CliRunner().invoke(main, ["check", "-"], input=CLEAN + "#" * (MAX_BYTES - len(CLEAN) - 1)).exit_code == 0


@pytest.mark.parametrize("args", [["compile"], ["render", "--dot"], ["reach"], ["trace", "-", "a", "b"]],
                         ids=["compile", "render", "reach", "trace"])
def test_commands_that_read_a_topology_read_dash_as_stdin(args: list[str], tmp_path: Path) -> None:
    command = args if args[0] == "trace" else [*args, "-"]
    lab = tmp_path / "lab.yml"
    lab.write_text("lab: stdin\n" + CLEAN)  # the same lab name both ways
    from_file = CliRunner().invoke(main, [str(lab) if a == "-" else a for a in command])
    from_stdin = CliRunner().invoke(main, command, input=lab.read_text())
    assert from_stdin.exit_code == from_file.exit_code and from_file.exit_code in (0, 1), from_stdin.stderr
    # the same output, but for the file's name (a compiled script's header names it)
    assert from_stdin.stdout == from_file.stdout.replace("from lab.yml.", "from '<stdin>'.") \
        .replace("--teardown lab.yml", "--teardown -")
    broken = CliRunner().invoke(main, command, input=BROKEN)
    assert broken.exit_code == (2 if args[0] == "trace" else 1) and broken.stdout == ""
    assert broken.stderr.startswith("<stdin>:5:")


def test_live_commands_want_a_file_not_dash() -> None:
    result = CliRunner().invoke(main, ["exec", "-", "a", "--", "true"], input=CLEAN)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("topograph: this command needs the topology as a file")


BROKEN_EXPECTATION = ROOT / "tests" / "golden" / "errors" / "TG410-expectation-violated.yml"


def test_compile_stops_on_a_broken_expectation_as_check_does() -> None:
    """The same TG410 diagnostics as `check`, nothing on stdout; --ignore-expectations goes on; a teardown never waits."""
    checked = CliRunner().invoke(main, ["check", str(BROKEN_EXPECTATION)])
    assert checked.exit_code == 1 and "error[TG410]" in checked.stderr
    stopped = CliRunner().invoke(main, ["compile", str(BROKEN_EXPECTATION)])
    assert stopped.exit_code == 1 and stopped.stdout == ""
    assert [ln for ln in stopped.stderr.splitlines() if "TG410" in ln] == \
        [ln for ln in checked.stderr.splitlines() if "TG410" in ln]
    built = CliRunner().invoke(main, ["compile", "--ignore-expectations", str(BROKEN_EXPECTATION)])
    assert built.exit_code == 0 and built.stdout.startswith("#!")
    assert CliRunner().invoke(main, ["compile", "--teardown", str(BROKEN_EXPECTATION)]).exit_code == 0


def test_apply_stops_on_a_broken_expectation_before_it_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from topograph.cli import live

    monkeypatch.setattr(live, "privilege_problem", lambda: "stop here: the file passed")
    stopped = CliRunner().invoke(main, ["apply", "--sandbox", "zz-", str(BROKEN_EXPECTATION)])
    assert stopped.exit_code == 1 and "error[TG410]" in stopped.stderr and "stop here" not in stopped.stderr
    went_on = CliRunner().invoke(main, ["apply", "--ignore-expectations", "--sandbox", "zz-", str(BROKEN_EXPECTATION)])
    assert went_on.exit_code == 1 and "stop here: the file passed" in went_on.stderr


def test_trace_and_reach_still_take_a_lab_whose_expectations_are_broken() -> None:
    assert CliRunner().invoke(main, ["reach", str(BROKEN_EXPECTATION)]).exit_code == 0
