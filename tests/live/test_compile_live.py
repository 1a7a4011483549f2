"""The compiled sandbox scripts, run for real: every sample's expectations hold with real traffic."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SAMPLES
from tests.live.conftest import Sandbox, without_services
from tests.live.test_apply_samples import tg
from topograph import kernel_names
from topograph.compile import render_setup, render_teardown
from topograph.model import Expectation, IPAddress, Proto, Topology
from topograph.pipeline import check_file
from topograph.plan import SECTIONS, AddRoute, Plan, SetSysctls, plan

pytestmark = pytest.mark.live

SEED = ROOT / "samples" / "06-port-forward.yml"


def load(path: Path) -> Topology:
    checked = check_file(path)
    assert checked.ok and checked.topology is not None
    return checked.topology


def destination(t: Topology, e: Expectation) -> IPAddress | None:
    """`to: NODE` means the node's first address outside loopback, in file order (None: it has none)."""
    if e.dst_address is not None:
        return e.dst_address
    assert e.dst_node is not None
    return t.node(e.dst_node).primary_address


def listener_for(t: Topology, e: Expectation, dst: IPAddress) -> tuple[str, IPAddress, int] | None:
    """Where a TCP expectation's server listens: the port forward's target, or the destination itself."""
    assert e.port is not None
    owner = t.owner_of(dst)
    if owner is None:
        return None
    forwards = [f for f in t.node(owner.node).port_forwards if f.proto is e.proto and f.port == e.port
                and f.to_address.version == dst.version]
    # the forward that catches dst; else one bound to another address: its target listens, so that a connection
    # the kernel wrongly forwarded would be seen
    for fwd in sorted(forwards, key=lambda f: f.address not in (None, dst)):
        target = t.owner_of(fwd.to_address)
        return (target.node, fwd.to_address, fwd.to_port) if target is not None else None
    return owner.node, dst, e.port


def up(sb: Sandbox, t: Topology, *, firewall: str = "nftables") -> Plan:
    # the test's own listeners answer for the lab's, services' ports included (check_expectation)
    p = without_services(plan(t, sandbox_prefix=sb.prefix, firewall=firewall))  # type: ignore[arg-type]
    sb.claim_plan(p)
    done = sb.script(render_setup(p))
    assert done.returncode == 0, f"setup failed:\n{done.stderr}"
    assert set(p.namespaces) <= set(sb.left())
    return p


def down(sb: Sandbox, p: Plan) -> None:
    done = sb.script(render_teardown(p))
    assert done.returncode == 0, f"teardown failed:\n{done.stderr}"
    assert sb.left() == [], "teardown left namespaces behind"


_LISTENING: set[tuple[str, str, IPAddress, int]] = set()  # (prefix, node, address, port): prefixes are per run


def check_expectation(sb: Sandbox, t: Topology, e: Expectation, prefix: str | None = None) -> str | None:
    """None when the kernel agrees with the expectation, else what happened (node X lives in PREFIX+X)."""
    prefix = sb.prefix if prefix is None else prefix
    src = prefix + e.src
    dst = destination(t, e)
    if dst is None:  # a node without an address cannot be reached by anything
        return f"{e}: {e.dst_node} has no address to reach" if e.reach else None
    if e.proto is Proto.ICMP:
        got = sb.ping(src, dst, tries=3 if e.reach else 1)
    else:
        assert e.port is not None
        where = listener_for(t, e, dst)
        if where is not None and (prefix, *where) not in _LISTENING:
            node, address, port = where
            sb.listen_tcp(prefix + node, address, port, banner=f"{node}:{port}")
            _LISTENING.add((prefix, *where))  # a second expectation through the same forward: already listening
        banner = sb.tcp_connect(src, dst, e.port, tries=2 if e.reach else 1)
        got = banner is not None
        if got and where is not None and banner != f"{where[0]}:{where[2]}":
            return f"{e}: reached {banner!r} instead of {where[0]}:{where[2]}"
    if got != e.reach:
        return f"{e}: {'reached' if got else 'did not reach'} {dst}" + (f" ({e.note})" if e.note else "")
    return None


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_expectations_hold_in_the_sandbox(sandbox: Sandbox, sample: Path) -> None:
    t = load(sample)
    p = up(sandbox, t)
    failures = [f for e in t.expectations if (f := check_expectation(sandbox, t, e)) is not None]
    assert not failures, "\n".join(failures)
    down(sandbox, p)


def test_seed_with_the_iptables_back_end(sandbox: Sandbox) -> None:
    t = load(SEED)
    p = up(sandbox, t, firewall="iptables")
    rules = sandbox.exec(sandbox.prefix + "host", "iptables", "-t", "nat", "-S").stdout
    assert "-A PREROUTING -j TG-seed-PRE" in rules and "-j MASQUERADE" in rules
    failures = [f for e in t.expectations if (f := check_expectation(sandbox, t, e)) is not None]
    assert not failures, "\n".join(failures)
    down(sandbox, p)


@pytest.mark.parametrize("firewall", ["nftables", "iptables"])
def test_nat_forms_with_either_back_end(sandbox: Sandbox, firewall: str) -> None:
    """Sample 12 (forwards bound to an address, a forward for the node's own traffic, SNAT next to MASQUERADE,
    IPv4 and IPv6): its expectations hold with real traffic whichever back end loads the rules, and a local
    forward without an address leaves the node's connections to 127.0.0.1 alone."""
    t = load(ROOT / "samples" / "12-nat-forms.yml")
    p = up(sandbox, t, firewall=firewall)
    host = sandbox.prefix + "host"
    if firewall == "iptables":
        rules = sandbox.exec(host, "iptables", "-t", "nat", "-S").stdout
        assert "-A OUTPUT -j TG-natforms-LOCAL" in rules and "-j SNAT --to-source 203.0.113.3" in rules, rules
        assert "-A TG-natforms-PRE -d 203.0.113.2/32 -p tcp -m tcp --dport 80" in rules, rules
    failures = [f for e in t.expectations if (f := check_expectation(sandbox, t, e)) is not None]
    assert not failures, "\n".join(failures)
    down(sandbox, p)


SHORT_NAMES = """\
lab: short
nodes:
  x:
    interfaces: {m: {address: 10.0.0.1/24, mtu: 1400}}
  y:
    interfaces: {a: 10.0.0.2/24}
  sw:
    bridges: {d: []}
links:
  - [x:m, d:n]
  - [y:a, d:mt]
expect:
  - {from: x, to: y}
"""


def test_interface_names_that_are_ip_keywords_abbreviated(sandbox: Sandbox, tmp_path: Path) -> None:
    """`ip` takes an abbreviation of its keywords wherever one may stand: `ip link set m master d` reads `m` as
    `mtu`, `ip link add a type bridge` reads `a` as `address`. The script names every device after `dev` or
    `name`, so interfaces called m, a, d, n and mt are made, enslaved, given an MTU, pinged over and deleted."""
    lab = tmp_path / "short.yml"
    lab.write_text(SHORT_NAMES)
    t = load(lab)
    p = up(sandbox, t)
    failures = [f for e in t.expectations if (f := check_expectation(sandbox, t, e)) is not None]
    assert not failures, "\n".join(failures)
    assert "mtu 1400" in sandbox.exec(sandbox.prefix + "x", "ip", "link", "show", "dev", "m").stdout
    down(sandbox, p)


def test_rerunning_setup_stops_before_changing_anything(sandbox: Sandbox) -> None:
    t = load(SEED)
    p = up(sandbox, t)
    host = sandbox.prefix + "host"
    before = sandbox.exec(host, "nft", "list", "ruleset").stdout
    again = sandbox.script(render_setup(p))
    assert again.returncode == 1
    assert "exists already" in again.stderr and "nothing was changed" in again.stderr
    assert "failed at line" not in again.stderr
    assert sandbox.exec(host, "nft", "list", "ruleset").stdout == before
    assert sandbox.ping(sandbox.prefix + "red", ipaddress.ip_address("192.168.15.2"))
    down(sandbox, p)


@pytest.mark.parametrize("cut", ["namespaces", "links", "addresses", "routes"])
def test_teardown_of_a_half_built_lab(sandbox: Sandbox, cut: str) -> None:
    full = plan(load(SEED), sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(full)
    last = max(i for i, op in enumerate(full.operations) if SECTIONS.index(op.SECTION) <= SECTIONS.index(cut))
    # half of the namespaces section when cut there: a setup that stopped in its first steps
    stop = last + 1 if cut != "namespaces" else 3
    half = replace(full, operations=full.operations[:stop])
    assert sandbox.script(render_setup(half)).returncode == 0
    assert sandbox.left()
    down(sandbox, full)


def test_teardown_of_an_absent_lab_and_twice(sandbox: Sandbox) -> None:
    p = plan(load(SEED), sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(p)
    down(sandbox, p)  # nothing there yet
    up(sandbox, load(SEED))
    down(sandbox, p)
    down(sandbox, p)


def test_teardown_leaves_alone_a_namespace_its_setup_did_not_make(sandbox: Sandbox) -> None:
    """A namespace of the lab's name made by someone else stops the setup, and the teardown then keeps it."""
    t = load(SEED)
    p = plan(t, sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(p)
    theirs = sandbox.prefix + "red"
    made = subprocess.run(["ip", "netns", "add", theirs], capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    stopped = sandbox.script(render_setup(p))
    assert stopped.returncode == 1 and f"namespace {theirs} exists already" in stopped.stderr
    done = sandbox.script(render_teardown(p))
    assert done.returncode == 0, done.stderr
    assert f"topograph: left alone: namespace {theirs} (not made by this lab's setup)" in done.stderr.splitlines()
    assert sandbox.left() == [theirs], "the teardown deleted a namespace it never made"
    gone = subprocess.run(["ip", "netns", "del", theirs], capture_output=True, text=True, check=False)
    assert gone.returncode == 0, gone.stderr
    up(sandbox, t)  # the normal case: the teardown removes everything, and says nothing was left alone
    done = sandbox.script(render_teardown(p))
    assert done.returncode == 0 and "left alone" not in done.stderr, done.stderr
    assert sandbox.left() == []


def test_a_lab_made_by_the_script_is_the_live_commands_own(sandbox: Sandbox, tmp_path: Path) -> None:
    """The script's mark makes its lab recognisable: status says up to date, apply records it, destroy removes it."""
    t = load(SEED)
    args = ["--sandbox", sandbox.prefix, str(SEED)]
    up(sandbox, t)
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "up to date: 49 objects, nothing differs" in status.stdout and "blocked" not in status.stdout
    done = tg(tmp_path, "destroy", *args)  # no record: the marked namespaces are the lab's
    assert done.returncode == 0 and "removed 5 objects" in done.stdout, done.stdout + done.stderr
    assert sandbox.left() == []

    up(sandbox, t)
    adopted = tg(tmp_path, "apply", *args)
    assert adopted.returncode == 0, adopted.stderr
    assert "recorded as its own 5 objects" in adopted.stdout and "up to date (49 objects)" in adopted.stdout
    assert (tmp_path / f"seed@{sandbox.prefix}.json").exists()
    assert sandbox.exec(sandbox.prefix + "red", "ip", "route", "del", "default").returncode == 0
    assert tg(tmp_path, "apply", *args).returncode == 0  # converged like a lab it applied itself
    assert tg(tmp_path, "status", *args).returncode == 0
    by_name = tg(tmp_path, "destroy", "--lab", "seed", "--sandbox", sandbox.prefix)
    assert by_name.returncode == 0 and "removed 5 objects" in by_name.stdout, by_name.stdout + by_name.stderr
    assert sandbox.left() == []


@pytest.mark.parametrize("alias", ["", "topograph:seed@other-"], ids=["unmarked", "another-sandbox"])
def test_a_namespace_without_the_lab_s_mark_stays_someone_elses(sandbox: Sandbox, tmp_path: Path, alias: str) -> None:
    args = ["--sandbox", sandbox.prefix, str(SEED)]
    theirs = sandbox.prefix + "red"
    sandbox.claim([theirs])
    assert subprocess.run(["ip", "netns", "add", theirs], check=False).returncode == 0
    if alias:
        assert sandbox.exec(theirs, "ip", "link", "set", "lo", "alias", alias).returncode == 0
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2 and f"blocked  namespace {theirs} exists already" in status.stdout, status.stdout
    assert tg(tmp_path, "apply", *args).returncode == 1
    done = tg(tmp_path, "destroy", *args)
    assert done.returncode == 0 and "nothing removed" in done.stdout, done.stdout + done.stderr
    assert sandbox.left() == [theirs]


def test_a_failing_step_is_named(sandbox: Sandbox) -> None:
    p = plan(load(SEED), sandbox_prefix=sandbox.prefix)
    sandbox.claim_plan(p)
    bad = AddRoute("red", sandbox.prefix + "red", ipaddress.ip_network("10.99.0.0/16"), ipaddress.ip_address("10.98.0.1"))
    done = sandbox.script(render_setup(replace(p, operations=(*p.operations, bad))))
    assert done.returncode != 0
    assert "failed at line" in done.stderr and f"ip -n {sandbox.prefix}red route add 10.99.0.0/16 via 10.98.0.1" in done.stderr
    assert "teardown script" in done.stderr
    down(sandbox, p)


# -- real mode, proven inside a namespace that plays this machine's root namespace ----------------

def renamed_seed(prefix: str) -> str:
    """The seed lab with every node and the lab renamed PREFIX+name, so real-mode names stay the test's own."""
    data = yaml.safe_load(SEED.read_text())
    names = set(data["nodes"])
    bridges = {br for n in data["nodes"].values() for br in (n.get("bridges") or {})}

    def end(text: str) -> str:
        owner, _, itf = text.partition(":")
        return f"{prefix}{owner}:{itf}" if owner in names else text

    data["lab"] = prefix + data["lab"]
    data["nodes"] = {prefix + k: v for k, v in data["nodes"].items()}
    data["links"] = [[end(a), end(b)] for a, b in data["links"]]
    for e in data["expect"]:
        e["from"] = prefix + e["from"]
        if e["to"] in names:
            e["to"] = prefix + e["to"]
    assert not bridges & names
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.skipif(shutil.which("nsenter") is None, reason="needs nsenter (util-linux)")
def test_real_mode_script_in_a_stand_in_root_namespace(sandbox: Sandbox, tmp_path: Path) -> None:
    """The real-mode scripts, run inside PREFIXhost as if it were the machine: uplinks exist, externals are ours."""
    pre = sandbox.prefix
    lab = tmp_path / "seed.yml"
    lab.write_text(renamed_seed(pre))
    t = load(lab)
    p = plan(t)
    host, lan, internet = pre + "host", pre + "lan", pre + "internet"
    assert p.namespaces == (pre + "red", pre + "blue")
    sandbox.claim([host, lan, internet, *p.namespaces])
    # the machine as it is before topograph: uplinks eth0 and wan0 with their addresses and default route
    steps = [
        ["ip", "netns", "add", host], ["ip", "netns", "add", lan], ["ip", "netns", "add", internet],
        ["ip", "link", "add", "eth0", "netns", host, "type", "veth", "peer", "name", "eth0", "netns", lan],
        ["ip", "link", "add", "wan0", "netns", host, "type", "veth", "peer", "name", "eth0", "netns", internet],
        ["ip", "-n", host, "addr", "add", "192.168.1.2/24", "dev", "eth0"],
        ["ip", "-n", host, "addr", "add", "203.0.113.2/24", "dev", "wan0"],
        ["ip", "-n", lan, "addr", "add", "192.168.1.3/24", "dev", "eth0"],
        ["ip", "-n", internet, "addr", "add", "203.0.113.1/24", "dev", "eth0"],
        ["ip", "-n", internet, "addr", "add", "198.51.100.8/32", "dev", "lo"],
        *[["ip", "-n", ns, "link", "set", dev, "up"] for ns, dev in
          ((host, "lo"), (host, "eth0"), (host, "wan0"), (lan, "lo"), (lan, "eth0"), (internet, "lo"), (internet, "eth0"))],
        ["ip", "-n", host, "route", "add", "default", "via", "203.0.113.1"],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{argv}: {done.stderr}"
    setup, teardown = tmp_path / "setup.sh", tmp_path / "teardown.sh"
    setup.write_text(render_setup(p))
    teardown.write_text(render_teardown(p))
    state = Path(kernel_names.sysctl_state_file(t.name))

    def as_root(script: Path) -> subprocess.CompletedProcess[str]:
        # nsenter switches only the network namespace: `ip netns exec` would also give the script a
        # mount namespace of its own, and the namespaces it creates would vanish with it
        return subprocess.run(["nsenter", f"--net=/var/run/netns/{host}", "bash", str(script)],
                              capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)

    def host_link(*argv: str) -> None:
        done = subprocess.run(["ip", "-n", host, "link", *argv], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr

    try:
        # an interface of the lab's name that the machine has already: the setup stops, the teardown keeps it
        host_link("add", "v-net-0", "type", "bridge")
        stopped = as_root(setup)
        assert stopped.returncode == 1 and "interface v-net-0 exists already" in stopped.stderr
        done = as_root(teardown)
        assert done.returncode == 0, done.stderr
        assert "topograph: left alone: interface v-net-0 (not made by this lab's setup)" in done.stderr.splitlines()
        assert "v-net-0" in sandbox.exec(host, "ip", "-o", "link", "show").stdout
        host_link("del", "v-net-0")

        done = as_root(setup)
        assert done.returncode == 0, done.stderr
        assert state.exists()
        assert sandbox.exec(host, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
        # the lab's own interfaces get no link-local address; the machine's keep theirs, and its default
        with_ll = {line.split()[1] for line in
                   sandbox.exec(host, "ip", "-6", "-o", "addr", "show", "scope", "link").stdout.splitlines()}
        assert with_ll == {"eth0", "wan0"}, with_ll
        assert sandbox.exec(host, "sysctl", "-n", "net.ipv6.conf.default.addr_gen_mode").stdout.strip() == "0"
        failures = [f for e in t.expectations if (f := check_expectation(sandbox, t, e, prefix="")) is not None]
        assert not failures, "\n".join(failures)
        again = as_root(setup)
        assert again.returncode == 1 and "nothing was changed" in again.stderr

        for _ in range(2):  # teardown, and teardown again
            done = as_root(teardown)
            assert done.returncode == 0 and "left alone" not in done.stderr, done.stderr
        assert not set(p.namespaces) & set(sandbox.left())
        links = sandbox.exec(host, "ip", "-o", "link", "show").stdout
        assert "v-net-0" not in links and "veth-red-br" not in links
        assert "eth0" in links and "wan0" in links, "the machine's own uplinks must stay"
        assert sandbox.exec(host, "nft", "list", "tables").stdout.strip() == ""
        assert sandbox.exec(host, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "0", "sysctls restored"
        assert not state.exists()
    finally:
        state.unlink(missing_ok=True)


def test_every_planned_sysctl_holds_in_every_namespace(sandbox: Sandbox) -> None:
    p = up(sandbox, load(SEED))
    wrong = []
    for op in p.operations:
        if isinstance(op, SetSysctls):
            assert op.netns is not None
            for s in op.values:
                got = sandbox.exec(op.netns, "sysctl", "-n", s.key)
                if got.returncode != 0 and s.optional:
                    continue  # br_netfilter not loaded here
                if got.stdout.strip() != str(s.value):
                    wrong.append(f"{op.netns}: {s.key} = {got.stdout.strip() or got.stderr.strip()}, planned {s.value}")
    assert not wrong, "\n".join(wrong)
    down(sandbox, p)


@pytest.mark.skipif(shutil.which("nsenter") is None, reason="needs nsenter (util-linux)")
def test_real_mode_stops_before_any_change_when_an_uplink_is_missing(sandbox: Sandbox, tmp_path: Path) -> None:
    lab = tmp_path / "seed.yml"
    lab.write_text(renamed_seed(sandbox.prefix))
    p = plan(load(lab))
    host = sandbox.prefix + "host"
    sandbox.claim([host, *p.namespaces])
    assert subprocess.run(["ip", "netns", "add", host], check=False).returncode == 0
    script = tmp_path / "setup.sh"
    script.write_text(render_setup(p))
    done = subprocess.run(["nsenter", f"--net=/var/run/netns/{host}", "bash", str(script)],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "no interface eth0" in done.stderr and "nothing was changed" in done.stderr
    assert sandbox.left() == [host], "no namespace may be created before the checks pass"
    assert sandbox.exec(host, "ip", "-o", "link", "show").stdout.count(":") >= 1
    assert sandbox.exec(host, "nft", "list", "tables").stdout.strip() == ""
