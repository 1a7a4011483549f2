"""`topograph scan` for real: every sample applied in a sandbox of its own scans back into a file that checks
clean and predicts the same reachability matrix (names and all); scanning changes nothing in the kernel.

One module-scoped set of labs (every sample applied once, all applies running at the same time); each test
reads it. The hand-built lab (an `ip`/`nft` script) is tests/live/test_scan_script.py's.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.live.conftest import Sandbox, unique_prefix
from tests.live.test_apply_samples import lab_plan, tg
from topograph import api
from topograph.pipeline import check_file

pytestmark = pytest.mark.live


@dataclass
class Labs:
    sandbox: Sandbox
    state: Path
    prefixes: dict[str, str]  # sample stem -> its sandbox prefix


@pytest.fixture(scope="module")
def labs(netns_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labs]:
    """Every sample applied in a sandbox of its own, PREFIX = the module's prefix + the sample's number."""
    box = Sandbox(prefix=unique_prefix())
    state = tmp_path_factory.mktemp("scan-state")
    prefixes = {s.stem: f"{box.prefix}{s.stem[:2]}-" for s in SAMPLES}
    try:
        for sample in SAMPLES:
            box.claim(lab_plan(sample, prefixes[sample.stem]).namespaces)
        running = [(s, subprocess.Popen(["python3", "-m", "topograph", "apply", "--sandbox", prefixes[s.stem], str(s)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=_env(state))) for s in SAMPLES]
        for sample, proc in running:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{sample.name}: {err}"
        yield Labs(box, state, prefixes)
    finally:
        problems = box.cleanup()
        left = box.left()
        assert not problems and not left, f"cleanup: {problems} {left}"


def _env(state: Path) -> dict[str, str]:
    import os

    return {**{k: v for k, v in os.environ.items() if not k.startswith("TOPOGRAPH_")}, "TOPOGRAPH_STATE_DIR": str(state)}


def _cells(path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    reach = api.load(path).reach(every_address=True)
    return {(src, t.name): (str(v.disposition), v.node) for src, t, v in reach.cells()}


def kernel_state(sb: Sandbox, netns: list[str]) -> dict[str, str]:
    """Everything scan reads, as `ip` and `nft` print it, per namespace."""
    out = {}
    for name in netns:
        parts = [sb.exec(name, *argv).stdout for argv in (
            ["ip", "-d", "link"], ["ip", "addr"], ["ip", "-4", "route", "show", "table", "all"],
            ["ip", "-6", "route", "show", "table", "all"], ["ip", "rule"], ["nft", "list", "ruleset"],
            ["sysctl", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.conf.all.rp_filter"])]
        out[name] = "\n".join(parts)
    return out


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_scans_back(labs: Labs, sample: Path, tmp_path: Path) -> None:
    prefix = labs.prefixes[sample.stem]
    done = tg(labs.state, "scan", "--sandbox", prefix)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # every sample is said in the file's words: nothing to warn about
    scanned = tmp_path / f"{sample.stem}.yml"
    scanned.write_text(done.stdout)
    checked = check_file(scanned)
    assert checked.ok, [d.message for d in checked.report.items]
    original = check_file(sample)  # the scanned file warns of nothing the sample does not warn of itself
    assert {d.code for d in checked.report.items} <= {d.code for d in original.report.items}, done.stdout
    assert _cells(scanned) == _cells(sample), done.stdout


def test_scanning_changes_nothing(labs: Labs) -> None:
    prefix = labs.prefixes["06-port-forward"]
    netns = sorted(n for n in labs.sandbox.owned if n.startswith(prefix))
    before = kernel_state(labs.sandbox, netns)
    done = tg(labs.state, "scan", "--sandbox", prefix)
    assert done.returncode == 0, done.stderr
    assert kernel_state(labs.sandbox, netns) == before
