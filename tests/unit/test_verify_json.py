"""`verify --json` and `verify --junit FILE`, with the kernel and the probes faked: the shape, the exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from topograph.cli import live as live_command
from topograph.cli import main
from topograph.live import kernel, state
from topograph.live import verify as live_verify
from topograph.live.probe import Outcome
from topograph.live.verify import Observed, Probe

SEED = str(ROOT / "samples" / "06-port-forward.yml")


@pytest.fixture
def fake_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[Probe]]:
    """Every namespace is there and verify.run answers without traffic: each flow as predicted, except the
    red -> blue ping (silence: no reply) and lan -> blue (not tried). Returns the probes run was given."""
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.setattr(live_command, "privilege_problem", lambda: None)
    monkeypatch.setattr(kernel, "list_netns", lambda: {f"t1-{n}" for n in ("red", "blue", "host", "lan", "internet")})
    given: list[list[Probe]] = []

    def run(prepared: live_verify.Prepared, **kw: Any) -> list[Observed]:
        ps = list(prepared.probes)
        given.append(ps)
        out = []
        for p in ps:
            if (p.src, p.label) == ("red", "blue"):
                out.append(Observed(p, Outcome.SILENCE, "no reply"))
            elif (p.src, p.label) == ("lan", "blue"):
                out.append(Observed(p, None, "source is outside the lab (real mode)"))
            else:
                out.append(Observed(p, p.expected, "as predicted", "a remark" if p.port else ""))
        return out

    monkeypatch.setattr(live_verify, "run", run)
    return given


def test_json_has_one_entry_per_probe_and_totals(fake_lab: list[list[Probe]]) -> None:
    result = CliRunner().invoke(main, ["verify", "--json", "--sandbox", "t1-", SEED])
    assert result.exit_code == 1, result.output  # a flow differs: exit 1 as without --json
    data = json.loads(result.stdout)
    assert (data["ok"], data["lab"], data["mode"], data["prefix"], data["as_predicted"]) == \
        (True, "seed", "sandbox", "t1-", False)
    assert data["totals"] == {"flows": 5, "agree": 4, "differ": 1, "untried": 1}
    by_flow = {p["flow"]: p for p in data["probes"]}
    assert len(by_flow) == 5
    assert by_flow["red -> blue"] == {"flow": "red -> blue", "src": "red", "dst": "192.168.15.2", "to": "blue",
                                      "proto": "icmp", "port": None, "predicted": "reach", "observed": "silence",
                                      "agrees": False, "detail": "no reply", "remark": ""}
    fwd = by_flow["lan -> 192.168.1.2 tcp/80"]
    assert (fwd["proto"], fwd["port"], fwd["observed"], fwd["agrees"], fwd["remark"]) == \
        ("tcp", 80, "reach", True, "a remark")
    assert by_flow["lan -> blue"]["observed"] is None and by_flow["lan -> blue"]["agrees"] is True
    assert by_flow["lan -> blue"]["predicted"] == "no reach"
    assert "flow" not in result.stdout.splitlines()[0]  # no table around the JSON


def test_json_all_as_predicted_exits_0(fake_lab: list[list[Probe]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_verify, "run", lambda prepared, **kw: [Observed(p, p.expected) for p in prepared.probes])
    result = CliRunner().invoke(main, ["verify", "--json", "--sandbox", "t1-", SEED])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["as_predicted"] is True and data["totals"]["differ"] == 0


def test_json_error_when_the_lab_is_not_up(fake_lab: list[list[Probe]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "list_netns", set)
    result = CliRunner().invoke(main, ["verify", "--json", "--sandbox", "t1-", SEED])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["exit"] == 1 and "is not up" in data["error"]
    assert fake_lab == []  # nothing was probed


def test_junit_has_a_testcase_per_flow_and_a_failure_per_difference(fake_lab: list[list[Probe]],
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "verify.xml"
    result = CliRunner().invoke(main, ["verify", "--junit", str(out), "--sandbox", "t1-", SEED])
    assert result.exit_code == 1, result.output
    assert "red -> blue" in result.stdout and "DIFFERS" in result.stdout  # the table is still printed
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "5" and root.get("failures") == "1"
    (suite,) = root
    assert suite.get("name") == "topograph verify seed (sandbox t1-)" and suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert len(cases) == 5 and {c.get("classname") for c in cases.values()} == {"verify.seed"}
    failure = cases["red -> blue"].find("failure")
    assert failure is not None and failure.get("type") == "DIFFERS"
    assert failure.get("message") == "predicted reach, observed silence (no reply)"
    skipped = cases["lan -> blue"].find("skipped")
    assert skipped is not None and "outside the lab" in (skipped.get("message") or "")
    fine = cases["lan -> 192.168.1.2 tcp/80"]
    assert fine.find("failure") is None and fine.find("skipped") is None


def test_junit_to_a_path_that_cannot_be_written(fake_lab: list[list[Probe]], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", "--junit", str(tmp_path / "no" / "such" / "dir.xml"),
                                       "--sandbox", "t1-", SEED])
    assert result.exit_code == 1 and "cannot write" in result.output and "Traceback" not in result.output


def test_both_are_in_the_help() -> None:
    out = CliRunner().invoke(main, ["verify", "--help"]).output
    assert "--json prints one object" in out and '"totals"' in out and "--junit FILE" in out


def test_a_kernel_error_while_probing_is_one_line(fake_lab: list[list[Probe]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A namespace deleted while verify ran (entering it fails) ends verify with one line, not a traceback."""
    import errno

    def gone(*args: Any, **kw: Any) -> list[Observed]:
        raise kernel.KernelError(errno.ENOENT, "enter namespace t1-blue: No such file or directory")

    monkeypatch.setattr(live_verify, "run", gone)
    result = CliRunner().invoke(main, ["verify", "--sandbox", "t1-", SEED])
    assert result.exit_code == 1
    assert result.stderr == "topograph: verify stopped: enter namespace t1-blue: No such file or directory\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)
