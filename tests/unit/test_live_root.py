"""Real mode's share of the root namespace: recorded by apply, put back by `destroy --lab NAME` — with the kernel faked.

No test here may change the root namespace: sessions, namespace listings, steps and the root
kernel layer are all replaced by fakes that only record what they were asked to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tests.unit.test_live_iptables import SAVED
from topograph import kernel_names
from topograph.cli import live as live_command
from topograph.cli import main
from topograph.live import engine, execute, root, state
from topograph.live.firewall import lab_lines
from topograph.live.observe import Live, LiveLink, NsState
from topograph.pipeline import check_file
from topograph.plan import Firewall, Operation, Plan, plan
from topograph.plan.firewall import iptables_change, nft_replacement

SEED = ROOT / "samples" / "06-port-forward.yml"


def seed(firewall: Firewall = "nftables", prefix: str | None = None) -> Plan:
    checked = check_file(SEED)
    assert checked.topology is not None
    return plan(checked.topology, sandbox_prefix=prefix, firewall=firewall)  # real mode: never applied here


@dataclass
class FakeKernel:
    """A root namespace that has the lab's table and chains; it writes down every change asked of it."""

    nat: dict[int, str] = field(default_factory=lambda: {4: SAVED, 6: ""})
    tables: set[str] = field(default_factory=lambda: {"topograph-seed"})
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def write_sysctl(self, proc_path: str, value: str) -> bool:
        self.calls.append(("sysctl", proc_path, value))
        return True

    def nft_listing(self, table: str) -> str | None:
        return f"table inet {table} {{\n}}\n" if table in self.tables else None

    def nft_load(self, text: str) -> None:
        gone = [t for t in self.tables if text == nft_replacement(t, "")]
        self.calls.append(("nft delete", *gone) if gone else ("nft -f", text))
        self.tables.difference_update(gone)

    def iptables_save(self, family: int) -> str:
        return self.nat.get(family, "")

    def iptables_restore(self, family: int, text: str) -> None:
        self.calls.append((f"ipv{family} restore", text))
        self.nat[family] = ""


@dataclass
class FakeNamespaces:
    deleted: list[str] = field(default_factory=list)

    def delete(self, name: str) -> bool:
        self.deleted.append(name)
        return True

    @contextmanager
    def inside(self, name: str | None) -> Iterator[None]:
        assert name is None  # destroy acts in namespaces only by deleting them
        yield


class FakeSockets:
    def forget(self, netns: str) -> None:
        pass


@pytest.fixture
def faked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[FakeKernel, FakeNamespaces]:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(live_command, "privilege_problem", lambda: None)
    kernel, namespaces = FakeKernel(), FakeNamespaces()

    @contextmanager
    def fake_session() -> Iterator[tuple[FakeNamespaces, FakeSockets]]:
        yield namespaces, FakeSockets()

    monkeypatch.setattr(engine, "session", fake_session)
    monkeypatch.setattr(engine, "list_netns", lambda: {"red", "someone-elses"})
    monkeypatch.setattr(execute, "System", lambda: kernel)  # the runner's default tools
    return kernel, namespaces


def saved_sysctls(tmp_path: Path) -> Path:
    path = tmp_path / "seed.sysctl"
    path.write_text("net.ipv4.ip_forward = 0\nnet/ipv4/conf/eth0.100/rp_filter = 2\n")
    return path


def test_the_share_of_a_plan_is_its_saved_sysctls_and_root_rules() -> None:
    assert root.RootShare.of_ops(seed().operations) == root.RootShare(
        ("/run/topograph/seed.sysctl",), ("topograph-seed",), ())
    assert root.RootShare.of_ops(seed("iptables").operations).iptables_chains == ("TG-seed-PRE", "TG-seed-POST")
    assert root.RootShare.of_ops(seed(prefix="t1-").operations) == root.RootShare()  # a sandbox has none


def test_apply_records_the_root_share_before_any_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    p = seed("iptables")
    seen: list[state.Record | None] = []

    class Runner:  # records what the record said when the steps would have begun; changes nothing
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.nft: dict[str, str] = {}
            self.iptables: dict[str, str] = {}
            self.rules: dict[str, str] = {}
            self.services: dict[str, object] = {}

        def execute(self, ops: list[Operation]) -> None:
            seen.append(state.load_record(p.lab, None))

    @contextmanager
    def fake_session() -> Iterator[tuple[None, None]]:
        yield None, None

    uplinks = NsState(links={n: LiveLink(n, "veth") for n in ("lo", "eth0", "wan0")})
    monkeypatch.setattr(engine, "session", fake_session)
    monkeypatch.setattr(engine, "observe", lambda *args: Live(namespaces={None: uplinks}))
    monkeypatch.setattr(engine, "Runner", Runner)
    engine.apply(p)
    first = seen[0]
    assert first is not None and not first.complete
    assert (first.root_sysctls, first.root_chains) == (["/run/topograph/seed.sysctl"], ["TG-seed-POST", "TG-seed-PRE"])
    assert first.root_links == ["v-net-0", "veth-blue-br", "veth-red-br"]


def test_destroy_by_name_puts_the_root_namespace_back(faked: tuple[FakeKernel, FakeNamespaces], tmp_path: Path) -> None:
    kernel, namespaces = faked
    saved = saved_sysctls(tmp_path)
    state.save(state.Record(lab="seed", prefix=None, namespaces=["blue", "red"], root_sysctls=[str(saved)],
                            root_tables=["topograph-seed"], root_chains=["TG-seed-POST", "TG-seed-PRE"], complete=True))
    done = CliRunner().invoke(main, ["destroy", "--lab", "seed"])
    assert done.exit_code == 0, done.output
    assert done.output == "lab seed: removed 4 objects\n"  # red, the table, the ipv4 chains, the sysctls
    assert namespaces.deleted == ["red"]  # blue is gone already; someone-elses is not the lab's
    now = lab_lines(SAVED, ("TG-seed-POST", "TG-seed-PRE"))
    assert kernel.calls == [
        ("nft delete", "topograph-seed"),
        ("ipv4 restore", iptables_change(now, None)),
        ("sysctl", "/proc/sys/net/ipv4/ip_forward", "0"),
        ("sysctl", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter", "2"),
    ]
    assert not saved.exists() and state.load_record("seed", None) is None
    kernel.calls.clear()
    again = CliRunner().invoke(main, ["destroy", "--lab", "seed"])
    assert again.exit_code == 0 and "nothing removed" in again.output and kernel.calls == []


def test_a_half_built_lab_restores_only_what_is_there(faked: tuple[FakeKernel, FakeNamespaces]) -> None:
    kernel, _ = faked
    kernel.tables.clear()
    kernel.nat = {}
    state.save(state.Record(lab="seed", prefix=None, root_sysctls=["/nonexistent/seed.sysctl"],
                            root_tables=["topograph-seed"], root_chains=["TG-seed-POST", "TG-seed-PRE"]))
    done = CliRunner().invoke(main, ["destroy", "--lab", "seed"])
    assert done.exit_code == 0 and "nothing removed" in done.output
    assert kernel.calls == []  # looked, found nothing: no delete, no restore, no sysctl


def test_a_record_of_an_older_topograph_is_completed_by_the_file(faked: tuple[FakeKernel, FakeNamespaces]) -> None:
    kernel, _ = faked
    state.save(state.Record.from_json('{"lab": "seed", "prefix": null, "namespaces": []}'))
    done = CliRunner().invoke(main, ["destroy", str(SEED)])
    assert done.exit_code == 0, done.output
    assert kernel.calls == [("nft delete", "topograph-seed")]  # the file's table; its sysctls were never saved


def test_a_sandbox_record_never_reaches_the_root_namespace(faked: tuple[FakeKernel, FakeNamespaces],
                                                           tmp_path: Path) -> None:
    kernel, _ = faked
    state.save(state.Record(lab="seed", prefix="t1-", root_sysctls=[str(saved_sysctls(tmp_path))],
                            root_tables=["topograph-seed"]))
    done = CliRunner().invoke(main, ["destroy", "--lab", "seed", "--sandbox", "t1-"])
    assert done.exit_code == 0 and kernel.calls == []


def test_destroy_touches_only_the_root_objects_named_after_the_lab(faked: tuple[FakeKernel, FakeNamespaces],
                                                                  tmp_path: Path) -> None:
    """A record is a file: one naming another path, table or chain never makes destroy read, delete or flush it."""
    kernel, _ = faked
    outside = tmp_path / "outside"
    outside.mkdir()
    decoys = [outside / "seed.sysctl", outside / "passwd"]
    for decoy in decoys:
        decoy.write_text("net.ipv4.ip_forward = 1\n")
    state.save(state.Record(lab="seed", prefix=None, root_sysctls=[str(d) for d in decoys],
                            root_tables=["filter", "topograph-other"], root_chains=["INPUT", "TG-other-PRE"]))
    done = CliRunner().invoke(main, ["destroy", "--lab", "seed"])
    assert done.exit_code == 0, done.output
    assert kernel.calls == [] and all(d.read_text() == "net.ipv4.ip_forward = 1\n" for d in decoys)


def test_destroy_runs_the_reverse_of_what_the_record_says_as_plan_operations() -> None:
    from topograph.plan import DeleteIptables, DeleteLink, DeleteNetns, DeleteNftables, RestoreSysctls

    sysctls = str(state.state_dir() / "seed.sysctl")
    rec = state.Record(lab="seed", prefix=None, namespaces=["blue", "red", "gone"], root_links=["v-net-0", "veth-red-br"],
                       root_sysctls=[sysctls], root_tables=["topograph-seed"], root_chains=["TG-seed-POST", "TG-seed-PRE"])
    mark = kernel_names.mark("seed")
    assert engine.undo_record(rec, None, {"red", "blue", "someone-elses"}) == [
        DeleteNetns("red", "red"), DeleteNetns("blue", "blue"),  # last made first; "gone" is not there
        DeleteLink("host", None, "veth-red-br", mark=mark), DeleteLink("host", None, "v-net-0", mark=mark),
        DeleteNftables("host", None, "topograph-seed"),
        DeleteIptables("host", None, "TG-seed-PRE", "TG-seed-POST", (4, 6), ("TG-seed-IN", "TG-seed-FWD", "TG-seed-OUT")),
        RestoreSysctls("host", None, sysctls)]
    sandbox = state.Record(lab="seed", prefix="t1-", namespaces=["t1-red"], root_tables=["topograph-seed"])
    assert engine.undo_record(sandbox, seed(prefix="t1-"), {"t1-red"}) == [DeleteNetns("red", "t1-red")]
