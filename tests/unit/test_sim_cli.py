"""`topograph trace`, `topograph reach` and `check`'s expectation verdicts: output, exit codes, golden traces."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SAMPLES
from topograph.cli import main
from topograph.pipeline import check_file

SEED = ROOT / "samples" / "06-port-forward.yml"
GOLDEN = ROOT / "tests" / "golden" / "trace"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _flows() -> list[tuple[Path, list[str], str]]:
    """Every expectation of every sample as a trace command line, plus the seed's hairpin."""
    out = []
    for sample in SAMPLES:
        checked = check_file(sample)
        assert checked.topology is not None
        for i, e in enumerate(checked.topology.expectations):
            if e.dst_node is not None and checked.topology.node(e.dst_node).primary_address is None:
                continue  # nothing to trace to (check warns, TG506)
            args = [e.src, e.dst] + (["--tcp", str(e.port)] if e.port else [])
            out.append((sample, args, f"{i:02d}-{e.src}-to-{re.sub(r'[^A-Za-z0-9.-]', '_', e.dst)}"))
    out.append((SEED, ["red", "host:80"], "hairpin-red-to-host-80"))
    return out


FLOWS = _flows()


@pytest.mark.parametrize(("sample", "args", "name"), FLOWS, ids=[f"{s.stem}/{n}" for s, _, n in FLOWS])
def test_golden_trace(sample: Path, args: list[str], name: str, golden: Callable[[Path, str], None]) -> None:
    code, out, _ = cli("trace", str(sample.relative_to(ROOT)), *args)
    assert code == 0
    golden(GOLDEN / sample.stem / f"{name}.txt", out)


def test_trace_ends_with_disposition_and_reason() -> None:
    code, out, _ = cli("trace", str(SEED), "lan", "blue")
    assert code == 0
    assert out.splitlines()[-1] == "NO_ROUTE: lan has no route to 192.168.15.0/24 — add a route via 192.168.1.2"


def test_trace_through_a_port_forward_shows_nat_both_ways() -> None:
    code, out, _ = cli("trace", str(SEED), "lan", "host:80")
    assert code == 0
    assert "dnat: port forward tcp/80: 192.168.1.3:40000 -> 192.168.1.2:80 becomes 192.168.1.3:40000 -> 192.168.15.2:80" in out
    assert "unnat: conntrack: source 192.168.15.2:80 -> 192.168.1.3:40000 becomes 192.168.1.2:80" in out
    assert out.splitlines()[-1].startswith("DELIVERED:")


def test_trace_json() -> None:
    code, out, _ = cli("trace", str(SEED), "blue", "198.51.100.8", "--json")
    data = json.loads(out)
    assert code == 0 and data["disposition"] == "DELIVERED"
    assert [h["node"] for h in data["request"]["hops"]] == ["blue", "host", "internet"]
    assert [h["node"] for h in data["reply"]["hops"]] == ["internet", "host", "blue"]


@pytest.mark.parametrize(("args", "message"), [
    (["blu", "red"], "error: source 'blu' is not a node of lab 'seed'\n  hint: did you mean 'blue'?"),
    (["red", "bleu"], "error: destination 'bleu' is not a node of lab 'seed'\n  hint: did you mean 'blue'?"),
    (["lan", "host:81"], "error: host has no port forward on port 81\n  hint: port forwards of host: host:80"),
])
def test_trace_rejects_unknown_names_clearly(args: list[str], message: str) -> None:
    code, out, err = cli("trace", str(SEED), *args)
    assert code == 2 and out == "" and err.strip() == message


def test_trace_rejects_a_broken_file_like_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("nodes:\n  red: {interfaces: {veth-red: 192.168.15.300/24}}\n")
    code, out, err = cli("trace", str(bad), "red", "red")
    assert code == 1 and out == "" and "bad.yml:2:" in err and "Traceback" not in err


def test_reach_table_and_json() -> None:
    code, out, _ = cli("reach", str(SEED))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[3:8] == ["red", "blue", "host", "lan", "internet"]
    assert lines[0].split()[-1] == "host:80"
    assert re.match(r"lan\s+no-route\s+no-route\s+no-route\s+ok\s+no-route\s+ok$", lines[4])
    code, out, _ = cli("reach", str(SEED), "--json")
    data = json.loads(out)
    assert data["matrix"]["blue"]["lan"] == {"disposition": "DELIVERED", "node": "lan"}
    assert data["matrix"]["lan"]["blue"] == {"disposition": "NO_ROUTE", "node": "lan"}


def test_check_reports_a_violated_expectation_with_file_and_line(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yml"
    lab.write_text(SEED.read_text().replace("{from: lan, to: blue, reach: false,", "{from: lan, to: blue,"))
    code, out, err = cli("check", str(lab))
    line = next(i for i, t in enumerate(lab.read_text().splitlines(), 1) if "from: lan, to: blue" in t)
    assert code == 1
    assert f"lab.yml:{line}:5: error[TG410]: expected lan to reach blue (192.168.15.2) (icmp), but NO_ROUTE: " in err
    code, out, _ = cli("check", str(lab), "--json")
    assert code == 1 and json.loads(out)["diagnostics"][0]["code"] == "TG410"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_check_passes_every_sample(sample: Path) -> None:
    code, _, err = cli("check", str(sample))
    assert code == 0, err


def test_check_matrix_option() -> None:
    code, out, _ = cli("check", str(SEED), "--matrix")
    assert code == 0 and out.startswith("from \\ to")


def test_check_matrix_option_on_a_lab_without_expectations(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yml"
    lab.write_text("nodes:\n  a: {interfaces: {eth0: 10.0.1.2/24}}\n  b: {interfaces: {eth0: 10.0.1.3/24}}\n"
                   "links: [[a:eth0, b:eth0]]\n")
    code, out, err = cli("check", str(lab), "--matrix")
    assert code == 0 and "0 expectations" in err
    assert out.splitlines()[:3] == ["from \\ to  a   b", "a          ok  ok", "b          ok  ok"]


@pytest.mark.parametrize(("dst", "word", "fix"), [
    ("fe80::1%eth0", "zone id", "write fe80::1"), ("[fd00::2%veth-red]", "zone id", "write fd00::2"),
    ("::ffff:192.168.15.2", "IPv4-mapped", "instead: 192.168.15.2"),
])
def test_trace_refuses_a_zone_id_or_a_mapped_destination(dst: str, word: str, fix: str) -> None:
    code, out, err = cli("trace", str(SEED), "red", dst)
    assert (code, out) == (2, "")
    assert word in err and fix in err and "Traceback" not in err


@pytest.mark.parametrize("dst", ["0.0.0.0", "::"])
def test_trace_to_the_unspecified_address_stays_in_the_node(dst: str) -> None:
    code, out, _ = cli("trace", str(SEED), "lan", dst)
    assert code == 0
    assert out.splitlines()[-1].startswith(f"DELIVERED: lan reaches itself at {dst}")
