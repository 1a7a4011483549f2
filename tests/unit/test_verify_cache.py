"""verify's remembered prediction (topograph.live.verify_cache): read back whole or not at all, missed on any change
of what the prediction depends on, pruned, forgotten by destroy, and a verify from it loads none of the libraries."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import topograph
from tests.conftest import ROOT
from topograph.live import state, verify, verify_cache
from topograph.live.outcome import Job, Listen
from topograph.live.verify_cache import Cached
from topograph.model import Proto
from topograph.pipeline import check_file
from topograph.placement import place
from topograph.sim.trace import Disposition

SAMPLES = ROOT / "samples"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "state"))
    return tmp_path / "state"


def prepared_for(path: Path, prefix: str | None, *, all_pairs: bool) -> Cached:
    topology = check_file(path).topology
    assert topology is not None
    placement = place(topology, prefix)
    return Cached(topology.name, "", verify.prepare(topology, placement, verify.probes(topology, all_pairs=all_pairs)))


@pytest.mark.parametrize("sample", ["06-port-forward.yml", "09-seed-firewall.yml", "15-seed-web.yml",
                                    "12-nat-forms.yml"])
@pytest.mark.parametrize("all_pairs", [True, False])
@pytest.mark.parametrize("prefix", ["t1-", None])
def test_a_prepared_verify_reads_back_equal(sample: str, all_pairs: bool, prefix: str | None) -> None:
    cached = prepared_for(SAMPLES / sample, prefix, all_pairs=all_pairs)
    assert cached.prepared.probes  # something to compare
    digest = verify_cache.key(str(SAMPLES / sample), prefix, all_pairs)
    assert digest is not None
    verify_cache.save(digest, cached, prefix)
    assert verify_cache.load(digest) == cached


def test_the_simulators_dispositions_are_seen_by_value() -> None:
    """verify names dispositions by value, to import no simulator: every name it uses is one of the simulator's."""
    assert set(verify.SEEN) <= {d.value for d in Disposition}
    assert verify.expected(Disposition.FILTER_DROPPED) is verify.expected("FILTER_DROPPED")


def test_the_key_changes_with_everything_the_prediction_depends_on(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yml"
    lab.write_bytes((SAMPLES / "06-port-forward.yml").read_bytes())
    base = verify_cache.key(str(lab), "t1-", True)
    assert base is not None and base == verify_cache.key(str(lab), "t1-", True)
    others = {
        "prefix": verify_cache.key(str(lab), "t2-", True),
        "real mode": verify_cache.key(str(lab), None, True),
        "expectations": verify_cache.key(str(lab), "t1-", False),
        "name": verify_cache.key(f"{tmp_path}/./lab.yml", "t1-", True),  # warnings name the file as given
    }
    lab.write_bytes(lab.read_bytes() + b"\n# one more line\n")
    others["bytes"] = verify_cache.key(str(lab), "t1-", True)
    lab.write_bytes((SAMPLES / "06-port-forward.yml").read_bytes())
    assert verify_cache.key(str(lab), "t1-", True) == base
    assert len({base, *others.values()}) == len(others) + 1, others


def test_an_edited_module_of_topograph_changes_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any module, __init__.py (the version) too; the key is of the package verify_cache is part of."""
    assert Path(topograph.__file__).resolve().parent == verify_cache._CODE
    code = tmp_path / "code"
    (code / "sim").mkdir(parents=True)
    module = code / "sim" / "forward.py"
    module.write_text("x = 1\n")
    monkeypatch.setattr(verify_cache, "_CODE", code)
    before = verify_cache.key(str(SAMPLES / "01-veth-pair.yml"), None, True)
    module.write_text("x = 22\n")  # another size
    assert verify_cache.key(str(SAMPLES / "01-veth-pair.yml"), None, True) != before
    st_ = module.stat()
    os.utime(module, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))  # same size, touched
    assert verify_cache.key(str(SAMPLES / "01-veth-pair.yml"), None, True) not in (before, None)


def test_an_upgraded_library_changes_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"networkx", "pydantic", "yaml"} <= set(verify_cache.LIBRARIES)
    lib = tmp_path / "tg_fake_lib"
    lib.mkdir()
    (lib / "__init__.py").write_text("__version__ = '1.0'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(verify_cache, "LIBRARIES", ("tg_fake_lib",))
    before = verify_cache.key(str(SAMPLES / "01-veth-pair.yml"), None, True)
    (lib / "__init__.py").write_text("__version__ = '1.10'\n")
    assert verify_cache.key(str(SAMPLES / "01-veth-pair.yml"), None, True) not in (before, None)
    assert "tg_fake_lib" not in sys.modules  # found, never imported


def test_no_key_for_a_file_check_would_refuse(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert verify_cache.key(str(fifo), None, True) is None  # never opened: that would block
    assert verify_cache.key(str(tmp_path / "missing.yml"), None, True) is None
    assert verify_cache.key(str(tmp_path), None, True) is None


@pytest.mark.parametrize("damage", ["not json", "[]", '{"format": 0}', "truncated", "order", "proto", "address"])
def test_an_entry_not_read_back_whole_is_a_miss(damage: str, state_dir: Path) -> None:
    cached = prepared_for(SAMPLES / "06-port-forward.yml", "t1-", all_pairs=True)
    verify_cache.save("ab" * 32, cached, "t1-")
    (entry,) = (state_dir / "verify").iterdir()
    text = entry.read_text()
    data = json.loads(text)
    if damage == "truncated":
        text = text[: len(text) // 2]
    elif damage == "order":
        data["order"] = data["order"][:-1]
        text = json.dumps(data)
    elif damage == "proto":
        data["probes"][0][3] = "sctp"
        text = json.dumps(data)
    elif damage == "address":
        data["jobs"][0][2] = "10.0.0.300"
        text = json.dumps(data)
    else:
        text = damage
    entry.write_text(text)
    assert verify_cache.load("ab" * 32) is None


def test_the_newest_entries_are_kept(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_cache, "LIMIT", 3)
    cached = prepared_for(SAMPLES / "01-veth-pair.yml", "t1-", all_pairs=True)
    digests = [f"{n:064x}" for n in range(5)]
    for n, digest in enumerate(digests):
        verify_cache.save(digest, cached, "t1-")
        path = next((state_dir / "verify").glob(f"{digest}.*"))
        os.utime(path, ns=(n * 10**9, n * 10**9))  # the order they were made in, whatever the clock's grain
    assert verify_cache.load(digests[2]) is not None  # used: now the newest
    verify_cache.save(f"{9:064x}", cached, "t1-")
    kept = sorted(p.name.split(".")[0] for p in (state_dir / "verify").iterdir())
    assert kept == sorted([digests[2], digests[4], f"{9:064x}"])


def test_forget_removes_only_that_labs_entries_in_that_mode(state_dir: Path) -> None:
    cached = prepared_for(SAMPLES / "01-veth-pair.yml", "t1-", all_pairs=True)
    names = [("veth", "t1-"), ("veth", "t1-r"), ("veth", None), ("a.veth", "t1-"), ("veth2", "t1-")]
    for n, (lab, prefix) in enumerate(names):
        verify_cache.save(f"{n:064x}", Cached(lab, "", cached.prepared), prefix)
    verify_cache.forget("veth", "t1-")
    left = sorted(p.name.split(".", 1)[1] for p in (state_dir / "verify").iterdir())
    assert left == sorted(["veth@t1-r.json", "veth@.json", "a.veth@t1-.json", "veth2@t1-.json"])


def test_a_state_directory_that_cannot_be_written_is_only_a_miss(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(state.STATE_DIR_ENV, str(blocker))  # a file where the directory should be
    cached = prepared_for(SAMPLES / "01-veth-pair.yml", "t1-", all_pairs=True)
    verify_cache.save("ab" * 32, cached, "t1-")
    assert verify_cache.load("ab" * 32) is None


addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(lambda a: ipaddress.ip_address(str(a)))
texts = st.text(max_size=12)
protos = st.sampled_from(list(Proto))


@st.composite
def prepared(draw: st.DrawFn) -> verify.Prepared:
    probes = draw(st.lists(st.builds(verify.Probe, texts, addresses, texts, protos,
                                     st.none() | st.integers(1, 65535), st.none() | st.booleans(), texts,
                                     st.none() | st.sampled_from([d.value for d in Disposition])),
                           min_size=1, max_size=8))
    chosen = draw(st.lists(st.integers(0, len(probes) - 1), unique=True))
    listens = st.none() | st.builds(Listen, texts, st.none() | texts, addresses, st.integers(1, 65535), protos, texts)
    jobs = {i: draw(st.builds(Job, st.none() | texts, addresses, st.none() | st.integers(1, 65535), listens, protos))
            for i in chosen}
    pairs = {i: (tuple(draw(st.lists(texts, max_size=3))),
                 tuple(draw(st.lists(st.tuples(texts, texts, addresses), max_size=3)))) for i in chosen[:2]}
    return verify.Prepared(tuple(probes), jobs, pairs, tuple(draw(st.permutations(chosen))),
                           tuple(draw(st.lists(texts, max_size=3))))


@given(prepared(), texts)
def test_any_prepared_verify_survives_the_round_trip(p: verify.Prepared, warnings: str) -> None:
    cached = Cached("lab", warnings, p)
    assert verify_cache.decode(json.loads(json.dumps(verify_cache.encode(cached)))) == cached


def test_a_verify_from_its_remembered_prediction_loads_no_library(tmp_path: Path, state_dir: Path) -> None:
    """The point of remembering: no pydantic, networkx or PyYAML, no pipeline; check's warnings are said again.

    The lab is not up (and this may run without root), so the command stops before probing, after its prediction:
    the imports it made by then are all a verify from a remembered prediction makes before it probes."""
    lab = tmp_path / "lab.yml"
    lab.write_bytes((SAMPLES / "06-port-forward.yml").read_bytes())
    env = {**os.environ, state.STATE_DIR_ENV: str(state_dir), "PYTHONPATH": str(Path(topograph.__file__).parent.parent)}

    def imports() -> tuple[set[str], subprocess.CompletedProcess[str]]:
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "topograph", "verify", "--all",
                               "--sandbox", "tgnone-", str(lab)], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120, check=False)
        assert done.returncode != 0  # not up (or no root): a one-line error, never a traceback
        assert "Traceback" not in done.stderr
        return {ln.split("|")[-1].strip() for ln in done.stderr.splitlines() if ln.startswith("import time:")}, done

    heavy = {"networkx", "pydantic", "yaml", "topograph.pipeline", "topograph.sim"}
    cold, _ = imports()
    assert heavy <= cold  # the control: working the prediction out loads them
    cached = prepared_for(lab, "tgnone-", all_pairs=True)
    digest = verify_cache.key(str(lab), "tgnone-", True)
    assert digest is not None
    verify_cache.save(digest, Cached(cached.lab, "lab.yml:1:1: warning TG999: a remembered warning\n", cached.prepared),
                      "tgnone-")
    warm, done = imports()
    assert not heavy & warm, heavy & warm
    assert "a remembered warning" in done.stderr


def test_without_privileges_nothing_is_remembered(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from topograph.cli import live as live_command
    from topograph.cli import main

    monkeypatch.setattr(live_command, "privilege_problem", lambda: "topograph needs root privileges; try sudo")
    result = CliRunner().invoke(main, ["verify", "--all", "--sandbox", "t1-", str(SAMPLES / "06-port-forward.yml")])
    assert result.exit_code == 1 and result.output == "topograph: topograph needs root privileges; try sudo\n"
    assert not (state_dir / "verify").exists()


def test_forget_never_fails_destroy(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = prepared_for(SAMPLES / "01-veth-pair.yml", "t1-", all_pairs=True)
    verify_cache.save("ab" * 32, cached, "t1-")

    def refused(path: object) -> None:
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(os, "unlink", refused)
    verify_cache.forget(cached.lab, "t1-")  # no exception: the entry stays
    assert len(list((state_dir / "verify").iterdir())) == 1


def test_a_large_verify_is_not_remembered(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state directory is in RAM: past MAX_FLOWS flows (or MAX_BYTES) an entry is not written."""
    cached = prepared_for(SAMPLES / "06-port-forward.yml", "t1-", all_pairs=True)
    flows = len(cached.prepared.probes)
    monkeypatch.setattr(verify_cache, "MAX_FLOWS", flows - 1)
    verify_cache.save("ab" * 32, cached, "t1-")
    assert verify_cache.load("ab" * 32) is None
    monkeypatch.setattr(verify_cache, "MAX_FLOWS", flows)
    monkeypatch.setattr(verify_cache, "MAX_BYTES", 1000)
    verify_cache.save("ab" * 32, cached, "t1-")
    assert verify_cache.load("ab" * 32) is None and not (state_dir / "verify").exists()
    monkeypatch.setattr(verify_cache, "MAX_BYTES", 1 << 20)
    verify_cache.save("ab" * 32, cached, "t1-")
    assert verify_cache.load("ab" * 32) == cached
