"""`topograph capture` without the kernel: its arguments, tcpdump's command line, and every refusal a clear message."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from topograph.cli import live as live_command
from topograph.cli import main
from topograph.cli.capture import split
from topograph.live import capture, kernel

SEED = str(ROOT / "samples" / "06-port-forward.yml")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_file_is_optional_before_node_ifname_and_the_filter() -> None:
    assert split(("blue:veth-blue",)) == (None, "blue:veth-blue", ())
    assert split(("blue:veth-blue", "tcp", "port", "80")) == (None, "blue:veth-blue", ("tcp", "port", "80"))
    assert split((SEED, "blue:veth-blue", "host", "fd00::1")) == (SEED, "blue:veth-blue", ("host", "fd00::1"))
    with pytest.raises(click.UsageError, match="missing NODE:IFNAME"):
        split(())
    with pytest.raises(click.UsageError, match=r"missing NODE:IFNAME after FILE 'lab.yml'"):
        split(("lab.yml",))
    with pytest.raises(click.UsageError, match=r"expected NODE:IFNAME after FILE 'lab.yml', got 'blue'"):
        split(("lab.yml", "blue", "tcp"))


def test_a_file_whose_name_has_a_colon_is_still_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("lab:1.yml").write_text("lab: x\n")
    assert split(("lab:1.yml", "red:eth0")) == ("lab:1.yml", "red:eth0", ())


def test_tcpdump_command_lines() -> None:
    text = capture.Capture("t1-blue", "veth-blue", expression=("tcp", "port", "80"))
    assert text.argv("/usr/bin/tcpdump") == ["ip", "netns", "exec", "t1-blue", "/usr/bin/tcpdump", "-n",
                                             "--immediate-mode", "-i", "veth-blue", "-l", "--", "tcp", "port", "80"]
    pcap = capture.Capture(None, "v-net-0", pcap=True, count=5)
    assert pcap.argv() == ["tcpdump", "-n", "--immediate-mode", "-i", "v-net-0", "-U", "-w", "-", "-c", "5"]


def test_without_file_and_none_here_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("capture", "blue:veth-blue")
    assert result.exit_code == 2 and "no FILE given" in result.output


def test_unknown_node_and_interface_are_named() -> None:
    node = invoke("capture", "--sandbox", "t1-", SEED, "purple:eth0")
    assert node.exit_code == 1 and "lab seed has no node 'purple'; its nodes: red, blue, host, lan, internet" \
        in node.output
    itf = invoke("capture", "--sandbox", "t1-", SEED, "host:eth9")
    assert itf.exit_code == 1
    assert "node host has no interface 'eth9'" in itf.output and "v-net-0, eth0, wan0, veth-red-br" in itf.output
    assert "Traceback" not in node.output + itf.output


def test_an_external_node_in_real_mode_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPOGRAPH_STATE_DIR", str(tmp_path))
    result = invoke("capture", SEED, "lan:eth0")
    assert result.exit_code == 1 and "lan is an external node" in result.output


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Privileges, the lab's namespaces and blue's interfaces faked; capture.run_capture records what it was asked."""
    monkeypatch.setenv("TOPOGRAPH_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(live_command, "privilege_problem", lambda: None)
    monkeypatch.setattr(kernel, "netns_exists", lambda name: True)
    monkeypatch.setattr(kernel, "netns_mounted", lambda name: True)
    monkeypatch.setattr(capture, "live_interfaces", lambda netns: ["lo", "veth-blue"])
    asked: dict[str, Any] = {"status": 0}

    def run(c: capture.Capture, stdout: int | None = None, tcpdump: str = "tcpdump") -> int:
        asked.update(capture=c, stdout=stdout, tcpdump=tcpdump)
        if stdout is not None:
            os.write(stdout, b"pcap")
        return int(asked["status"])

    monkeypatch.setattr(capture, "run_capture", run)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    return asked


def test_a_capture_to_a_file(root: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "x.pcap"
    result = invoke("capture", "--sandbox", "t1-", SEED, "blue:veth-blue", "-c", "3", "-w", str(out), "tcp", "port", "80")
    assert result.exit_code == 0, result.output
    assert root["capture"] == capture.Capture("t1-blue", "veth-blue", pcap=True, count=3,
                                              expression=("tcp", "port", "80"))
    assert root["tcpdump"] == "/usr/bin/tcpdump" and out.read_bytes() == b"pcap"  # opened here, written by tcpdump


def test_pcap_to_standard_output_but_never_to_a_terminal(root: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    piped = invoke("capture", "--sandbox", "t1-", SEED, "blue:any", "-w", "-")
    assert piped.exit_code == 0 and root["stdout"] is None and root["capture"].pcap  # tcpdump inherits stdout
    monkeypatch.setattr(os, "isatty", lambda fd: True)
    tty = invoke("capture", "--sandbox", "t1-", SEED, "blue:any", "-w", "-")
    assert tty.exit_code == 1 and "not writing pcap to a terminal" in tty.output


def test_what_stops_a_capture_before_it_starts(root: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    gone = invoke("capture", "--sandbox", "t1-", SEED, "red:veth-red")  # red's namespace has only blue's interfaces
    assert gone.exit_code == 1 and "interface veth-red does not exist in namespace t1-red" in gone.output
    assert "topograph status" in gone.output
    unwritable = invoke("capture", "--sandbox", "t1-", SEED, "blue:veth-blue", "-w", str(tmp_path / "no" / "x.pcap"))
    assert unwritable.exit_code == 1 and "cannot write" in unwritable.output
    monkeypatch.setattr(shutil, "which", lambda name: None)
    missing = invoke("capture", "--sandbox", "t1-", SEED, "blue:veth-blue")
    assert missing.exit_code == 1 and "tcpdump is not installed" in missing.output
    assert "apt-get install tcpdump" in missing.output
    monkeypatch.setattr(kernel, "netns_exists", lambda name: False)
    down = invoke("capture", "--sandbox", "t1-", SEED, "blue:veth-blue")
    assert down.exit_code == 1 and "namespace t1-blue does not exist; is the lab up?" in down.output
    assert "capture" not in root  # tcpdump was never run
    for result in (gone, unwritable, missing, down):
        assert "Traceback" not in result.output


def test_tcpdump_failing_is_reported_with_its_status(root: dict[str, Any]) -> None:
    root["status"] = 1
    result = invoke("capture", "--sandbox", "t1-", SEED, "blue:veth-blue", "tcp", "port")
    assert result.exit_code == 1 and "tcpdump on blue:veth-blue ended with status 1" in result.output
