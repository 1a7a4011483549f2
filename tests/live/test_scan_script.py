"""`topograph scan` of a lab that topograph did not make: tests/live/scan_lab.sh builds it with `ip` and `nft`
(foreign tables, a bridge, masquerade, a stateful forward chain, policy routing the format cannot say); the
scanned file checks clean, its notes say what it left out, and the kernel confirms its every prediction
(`topograph verify --all` with the same sandbox)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.conftest import Sandbox, unique_prefix
from tests.live.test_apply_samples import tg
from topograph.pipeline import check_file

pytestmark = pytest.mark.live

SCRIPT = Path(__file__).with_name("scan_lab.sh")


@pytest.fixture(scope="module")
def sandbox(netns_available: None) -> Iterator[Sandbox]:
    """The hand-built lab, once for the module, in namespaces of its own prefix; removed by exact name."""
    box = Sandbox(prefix=unique_prefix())
    box.claim(box.prefix + n for n in "abrs")
    try:
        built = box.script(f"bash {SCRIPT} {box.prefix}\n", timeout=60)
        assert built.returncode == 0, built.stderr
        yield box
    finally:
        problems = box.cleanup()
        left = box.left()
        assert not problems and not left, f"cleanup: {problems} {left}"


def test_hand_built_lab_scans_into_a_file_the_kernel_confirms(sandbox: Sandbox, tmp_path: Path) -> None:
    done = tg(tmp_path, "scan", "--sandbox", sandbox.prefix, "-o", str(tmp_path / "lab.yml"))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "lab.yml").read_text()
    warnings = done.stderr.splitlines()
    assert warnings == [
        "warning: b: route 0.0.0.0/0 via 10.1.0.1 dev eth0 in table 100: only the main table is written",
        "warning: b: ip -4 rule: priority 100 from 10.1.0.3/32 lookup 100: policy routing is not said in the file",
        'warning: r: chain fw_input: [{"counter":null}] in inet myfw: not said in the file (no verdict: it only '
        "counts or logs, and decides nothing)"]
    for w in warnings:  # the same as comments in the file, under the node
        assert f"# scan: {w.split(': ', 2)[2]}" in text
    assert "{masquerade: 10.1.0.0/24, out: up0}" in text and "{in: up0, proto: icmp, action: drop}" in text
    checked = check_file(tmp_path / "lab.yml")
    assert checked.ok and not checked.report.items, [d.message for d in checked.report.items]
    verified = tg(tmp_path, "verify", "--all", "--json", "--sandbox", sandbox.prefix, str(tmp_path / "lab.yml"))
    result = json.loads(verified.stdout)
    assert verified.returncode == 0 and result["as_predicted"], verified.stdout
    assert result["totals"]["flows"] == 12 and result["totals"]["untried"] == 0
    seen = {p["flow"]: p["observed"] for p in result["probes"]}
    assert seen["a -> s"] == "reach" and seen["s -> a"] == "no reach" and seen["r -> s"] == "silence"


def test_a_process_names_its_namespace(sandbox: Sandbox, tmp_path: Path) -> None:
    """--pid PID scans the namespace a process is in (a container's, say): here a's, next to r."""
    pid = sandbox.start(sandbox.prefix + "a", "sleep", "60").pid
    done = tg(tmp_path, "scan", "--netns", sandbox.prefix + "r", "--pid", str(pid))
    assert done.returncode == 0, done.stderr
    node = f"pid{pid}"
    assert f"  {node}:\n    interfaces: {{eth0: 10.1.0.2/24}}\n" in done.stdout
    assert f"  - [{node}:eth0, br0:a-port]\n" in done.stdout  # matched to r's bridge port
    assert f"  - [outside:{sandbox.prefix}r-b-po, br0:b-port]\n" in done.stdout  # b's end: the made-up outside
    assert check_file_text(done.stdout)
    again = tg(tmp_path, "scan", "--sandbox", sandbox.prefix, "--pid", str(pid))  # a is scanned already
    assert again.returncode == 0 and node not in again.stdout


def check_file_text(text: str) -> bool:
    from topograph.pipeline import check_text

    return check_text(text, "scanned.yml").ok
