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
    """Every expectation of every sample as a trace command line, plus the seed's hairpins and bridge netfilter."""
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
    out.append((SEED, ["blue", "host:80"], "bridge-hairpin-blue-to-itself-through-host-80"))
    bnf = ROOT / "tests" / "golden" / "trace" / "regressions" / "bridge-netfilter-per-node.yml"
    out += [(bnf, ["a1", "g1:8080"], "off-a1-to-b1-through-g1-8080"),
            (bnf, ["a2", "g2:8080"], "on-a2-to-b2-through-g2-8080"),
            (bnf, ["b2", "g2:8080"], "on-b2-to-itself-through-g2-8080"),
            (bnf, ["b2", "a2"], "on-b2-to-a2-forward-chain"),
            (bnf, ["a2", "fd00:2::12", "--tcp", "80"], "on-a2-to-b2-ipv6-neighbour-discovery")]
    return out


FLOWS = _flows()


@pytest.mark.parametrize(("sample", "args", "name"), FLOWS, ids=[f"{s.stem}/{n}" for s, _, n in FLOWS])
def test_golden_trace(sample: Path, args: list[str], name: str, golden: Callable[[Path, str], None]) -> None:
    code, out, _ = cli("trace", str(sample.relative_to(ROOT)), *args)
    assert code == (0 if out.splitlines()[-1].startswith("DELIVERED:") else 1)  # for scripts: 1 when it fails
    golden(GOLDEN / sample.stem / f"{name}.txt", out)


def test_trace_ends_with_disposition_and_reason() -> None:
    code, out, _ = cli("trace", str(SEED), "lan", "blue")
    assert code == 1  # the flow fails: exit 1, for scripts
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
    (["blu", "red"], "topograph: source 'blu' is not a node of lab 'seed'\n  hint: did you mean 'blue'?"),
    (["red", "bleu"], "topograph: destination 'bleu' is not a node of lab 'seed'\n  hint: did you mean 'blue'?"),
    (["lan", "host:81"], "topograph: host has no tcp port forward on port 81\n  hint: port forwards of host: host:80 (tcp)"),
    (["lan", "host:80", "--tcp", "8080"],
     "topograph: host:80 is a connection to port 80, and --tcp 8080 names another"
     "\n  hint: drop --tcp: NODE:PORT is already a TCP connection to PORT (or write --tcp 80)"),
])
def test_trace_rejects_unknown_names_clearly(args: list[str], message: str) -> None:
    code, out, err = cli("trace", str(SEED), *args)
    assert code == 2 and out == "" and err.strip() == message


def test_trace_rejects_a_broken_file_like_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("nodes:\n  red: {interfaces: {veth-red: 192.168.15.300/24}}\n")
    code, out, err = cli("trace", str(bad), "red", "red")
    assert code == 2 and out == "" and "bad.yml:2:" in err and "Traceback" not in err


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


def test_trace_exit_status_says_whether_the_flow_is_delivered() -> None:
    assert cli("trace", str(SEED), "red", "blue")[0] == 0
    assert cli("trace", str(SEED), "lan", "blue", "--json")[0] == 1  # --json too
    assert cli("trace", str(SEED), "lan", "host:80", "--tcp", "80")[0] == 0  # --tcp may repeat NODE:PORT's port


# a port with a UDP forward written before its TCP one, and a port with a UDP forward only
BOTH = SEED.read_text().replace(
    "      - {proto: tcp, port: 80, to: 192.168.15.2:80}",
    "      - {proto: udp, port: 80, to: 192.168.15.1:80}\n"
    "      - {proto: tcp, port: 80, to: 192.168.15.2:80}\n"
    "      - {proto: udp, port: 53, to: 192.168.15.1:53}")


def test_trace_node_port_takes_the_tcp_forward_whatever_the_order(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yml"
    lab.write_text(BOTH)
    code, out, err = cli("trace", str(lab), "lan", "host:80")
    assert code == 0, err
    assert "becomes 192.168.1.3:40000 -> 192.168.15.2:80" in out  # blue's web server, not red's udp one
    code, out, err = cli("trace", str(lab), "lan", "host:53")
    assert code == 2 and out == ""
    assert err.startswith("topograph: host has no tcp port forward on port 53 (only udp")


def test_expectation_to_node_port_means_what_trace_means(tmp_path: Path) -> None:
    from topograph.sim.expect import evaluate
    from topograph.sim.network import Network

    lab = tmp_path / "lab.yml"
    lab.write_text(SEED.read_text() + "  - {from: lan, to: host:80}\n  - {from: blue, to: host:80}\n")
    checked = check_file(lab)
    assert checked.topology is not None, [d.render() for d in checked.report]
    *_, through, hairpin = evaluate(Network(checked.topology))
    assert through.expectation.forward and through.holds and not hairpin.holds
    for v, src in ((through, "lan"), (hairpin, "blue")):
        code, out, _ = cli("trace", str(lab), src, "host:80", "--json")
        assert v.result is not None and json.loads(out)["disposition"] == str(v.result.disposition)
        assert code == (0 if v.result.ok else 1)
    code, _, err = cli("check", str(lab))
    assert code == 1
    assert "error[TG410]: expected blue to reach host:80 (192.168.15.5) (tcp/80), but BRIDGE_HAIRPIN" in err
    assert f"hint: see the path with: topograph trace {lab} blue host:80\n" in err


def test_verify_probes_an_expectation_to_node_port_as_trace_resolves_it(tmp_path: Path) -> None:
    from topograph.live.verify import probes

    lab = tmp_path / "lab.yml"
    lab.write_text(SEED.read_text() + "  - {from: lan, to: host:80}\n")
    checked = check_file(lab)
    assert checked.topology is not None
    probe = probes(checked.topology, all_pairs=False)[-1]
    trace = json.loads(cli("trace", str(lab), "lan", "host:80", "--json")[1])
    assert (probe.src, str(probe.dst), str(probe.proto), probe.port) == ("lan", trace["dst"], "tcp", 80)
    assert probe.predicted is True


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
