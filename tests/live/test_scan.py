"""`topograph scan` for real: every sample and a few random labs, each applied in a sandbox of its own, scan back
into a file that checks clean and predicts the same reachability matrix (names and all); scanning changes
nothing in the kernel.

One module-scoped set of labs (every sample applied once, all applies running at the same time); each test
reads it. The hand-built lab (an `ip`/`nft` script) is tests/live/test_scan_script.py's.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.live.conftest import NO_NETEM, Sandbox, kernel_has_netem, unique_prefix
from tests.live.test_apply_samples import lab_plan, tg
from topograph import api
from topograph.pipeline import check_file
from topograph.sim.labgen import generate

pytestmark = pytest.mark.live


#: random labs (topograph.sim.labgen, with filters and the route forms) scanned besides the samples; 1005 has a
#: bridge port without carrier (STP state disabled), which is no note
SEEDS = (1000, 1003, 1005)


@dataclass
class Labs:
    sandbox: Sandbox
    state: Path
    prefixes: dict[str, str]  # lab file stem -> its sandbox prefix
    files: dict[str, Path]  # lab file stem -> the file


@pytest.fixture(scope="module")
def labs(netns_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labs]:
    """Every sample applied in a sandbox of its own (PREFIX: the module's prefix + the sample's number), in this
    process: one interpreter for all of them."""
    from topograph.live import engine

    box = Sandbox(prefix=unique_prefix())
    state = tmp_path_factory.mktemp("scan-state")
    files = {s.stem: s for s in SAMPLES if kernel_has_netem() or "netem:" not in s.read_text()}
    for seed in SEEDS:
        files[f"gen{seed}"] = state / f"gen{seed}.yml"
        files[f"gen{seed}"].write_text(generate(seed, filters=1.0, forms=True))
    prefixes = {stem: f"{box.prefix}{stem[:2] if stem[0].isdigit() else stem[-2:] + 'r'}-" for stem in files}
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TOPOGRAPH_STATE_DIR", str(state))
            for stem, path in files.items():
                p = lab_plan(path, prefixes[stem])
                box.claim(p.namespaces)
                engine.apply(p, source=str(path))
        yield Labs(box, state, prefixes, files)
    finally:
        problems = box.cleanup()
        left = box.left()
        assert not problems and not left, f"cleanup: {problems} {left}"


def scan_text(prefix: str) -> tuple[str, list[str]]:
    """What `topograph scan --sandbox PREFIX` writes, and its warnings (in this process)."""
    from topograph.live.kernel import Namespaces
    from topograph.scan.build import build_document
    from topograph.scan.read import scan
    from topograph.scan.targets import choose
    from topograph.scan.write import write

    ns = Namespaces()
    try:
        chosen = choose(ns, prefix=prefix)
        built = build_document(scan(chosen.targets, ns))
    finally:
        ns.close()
    return write(built), [*chosen.notes, *built.warnings]


def _cells(path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    reach = api.load(path).reach(every_address=True)
    return {(src, t.name): (str(v.disposition), v.node) for src, t, v in reach.cells()}


#: a bridge's and its ports' running timers (gc_timer, hold_timer, ...), which count down between two listings
_TIMERS = re.compile(r"\b(\w+_timer)\s+[\d.]+")


#: everything scan reads, as `ip`, `nft` and `sysctl` print it: one shell per namespace
_LISTING = ("ip -d link; ip addr; ip -4 route show table all; ip -6 route show table all; ip rule; "
            "nft list ruleset; sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.rp_filter")


def kernel_state(sb: Sandbox, netns: list[str]) -> dict[str, str]:
    """Everything scan reads, per namespace (bridge timers left out)."""
    return {name: _TIMERS.sub(r"\1", sb.exec(name, "sh", "-c", _LISTING).stdout) for name in netns}


@pytest.mark.parametrize("stem", [*(s.stem for s in SAMPLES), *(f"gen{seed}" for seed in SEEDS)])
def test_lab_scans_back(labs: Labs, stem: str, tmp_path: Path) -> None:
    if stem not in labs.files:
        pytest.skip(f"{stem}.yml: {NO_NETEM}")
    sample = labs.files[stem]
    text, warnings = scan_text(labs.prefixes[stem])
    assert warnings == []  # every lab of topograph's is said in the file's words: nothing to warn about
    scanned = tmp_path / f"{stem}.yml"
    scanned.write_text(text)
    checked = check_file(scanned)
    assert checked.ok, [d.message for d in checked.report.items]
    original = check_file(sample)  # the scanned file warns of nothing the sample does not warn of itself
    assert {d.code for d in checked.report.items} <= {d.code for d in original.report.items}, text
    assert _cells(scanned) == _cells(sample), text


def test_scanning_changes_nothing(labs: Labs) -> None:
    prefix = labs.prefixes["06-port-forward"]
    netns = sorted(n for n in labs.sandbox.owned if n.startswith(prefix))
    before = kernel_state(labs.sandbox, netns)
    host = before[prefix + "host"]
    assert "table inet topograph-seed" in host and "bridge_slave" in host and "net.ipv4.ip_forward = 1" in host
    done = tg(labs.state, "scan", "--sandbox", prefix)  # the command line, once
    assert done.returncode == 0, done.stderr
    header = f"# written by topograph scan --sandbox {prefix}\n"
    assert done.stdout == header + scan_text(prefix)[0]
    after = kernel_state(labs.sandbox, netns)
    assert after == before, "\n".join(line for n in netns for line in difflib.unified_diff(
        before[n].splitlines(), after[n].splitlines(), n, n, lineterm=""))


def test_a_sandbox_under_a_longer_prefix_is_left_out(labs: Labs, tmp_path: Path) -> None:
    """Prefixes P and P+'r' both match the namespace P+'rx': scanning P leaves out what the lab of P+'r' marked
    as its own (sample 01's nodes are red and blue; this lab's x and y would have come back as nodes rx and ry)."""
    from topograph.live import engine

    prefix = labs.prefixes["01-veth-pair"]
    other = tmp_path / "other.yml"
    other.write_text("lab: other\nnodes:\n  x: {interfaces: {eth0: 10.99.0.1/24}}\n"
                     "  y: {interfaces: {eth0: 10.99.0.2/24}}\nlinks: [[x:eth0, y:eth0]]\n")
    p = lab_plan(other, prefix + "r")
    labs.sandbox.claim(p.namespaces)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOPOGRAPH_STATE_DIR", str(labs.state))
        engine.apply(p, source=str(other))
        try:
            text, warnings = scan_text(prefix)
            done = tg(labs.state, "scan", "--sandbox", prefix)
        finally:
            engine.destroy(p.lab, p.prefix, p)
    nodes = sorted(re.findall(r"^  (\w[\w-]*):", text, re.M))
    assert nodes == ["blue", "red"], text
    assert warnings == [f"left out {prefix}rx: it is sandbox {prefix}r's (topograph's mark on its loopback)",
                        f"left out {prefix}ry: it is sandbox {prefix}r's (topograph's mark on its loopback)"]
    assert done.returncode == 0 and f"warning: left out {prefix}rx" in done.stderr, done.stderr
