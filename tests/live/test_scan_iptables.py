"""`topograph scan` of labs applied with the iptables back end: the rules are read from iptables-save (iptables-nft's
tables are not mapped again from nft's JSON, where they show as `xt` expressions), and the scanned file checks
clean and predicts the same reachability matrix as the original (names and all).

One module-scoped set of labs (samples 09 and 12: filter chains, masquerade, SNAT with dst, port forwards, local
forwards, IPv6), applied once.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.live.conftest import Sandbox, unique_prefix
from tests.live.test_scan import _cells, scan_text
from topograph.pipeline import check_file
from topograph.plan import plan

pytestmark = pytest.mark.live

STEMS = ("09-seed-firewall", "12-nat-forms")


@pytest.fixture(scope="module")
def applied(netns_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each sample applied with `--firewall iptables` in a sandbox of its own: stem -> its prefix."""
    missing = [t for t in ("iptables-save", "ip6tables-save", "iptables-restore", "ip6tables-restore")
               if shutil.which(t) is None]
    if missing:
        pytest.skip(f"the iptables back end needs {', '.join(missing)}")
    from topograph.live import engine

    box = Sandbox(prefix=unique_prefix())
    state = tmp_path_factory.mktemp("scan-ipt-state")
    prefixes = {stem: f"{box.prefix}{stem[:2]}-" for stem in STEMS}
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TOPOGRAPH_STATE_DIR", str(state))
            for stem, prefix in prefixes.items():
                checked = check_file(ROOT / "samples" / f"{stem}.yml")
                assert checked.ok and checked.topology is not None
                p = plan(checked.topology, sandbox_prefix=prefix, firewall="iptables")
                box.claim(p.namespaces)
                engine.apply(p, source=f"{stem}.yml")
        yield prefixes
    finally:
        problems = box.cleanup()
        left = box.left()
        assert not problems and not left, f"cleanup: {problems} {left}"


@pytest.mark.parametrize("stem", STEMS)
def test_iptables_lab_scans_back(applied: dict[str, str], stem: str, tmp_path: Path) -> None:
    sample = ROOT / "samples" / f"{stem}.yml"
    text, warnings = scan_text(applied[stem])
    assert warnings == [], text  # topograph's own chains are said in the file's words: nothing to warn about
    assert "TG-" not in text and "xt" not in text
    scanned = tmp_path / f"{stem}.yml"
    scanned.write_text(text)
    checked = check_file(scanned)
    assert checked.ok, [d.message for d in checked.report.items]
    original = check_file(sample)
    assert {d.code for d in checked.report.items} <= {d.code for d in original.report.items}, text
    assert _cells(scanned) == _cells(sample), text
