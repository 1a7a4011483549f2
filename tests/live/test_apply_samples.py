"""`topograph apply` for real, in sandboxes: every sample comes up, verifies, converges, repairs drift, goes away."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLES
from tests.live.conftest import Sandbox
from topograph.compile import render_setup, render_teardown
from topograph.live.execute import FAIL_AT_ENV
from topograph.pipeline import check_file
from topograph.plan import AddAddress, AddRoute, Plan, SetSysctls, plan
from topograph.plan.build import uses_ipv6

pytestmark = pytest.mark.live

SEED = Path(__file__).resolve().parents[2] / "samples" / "06-port-forward.yml"


def lab_plan(sample: Path, prefix: str) -> Plan:
    checked = check_file(sample)
    assert checked.ok and checked.topology is not None
    return plan(checked.topology, sandbox_prefix=prefix)


def tg(state: Path, *args: str, extra_env: dict[str, str] | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the topograph CLI with this test's own state directory (records and locks); a failure is
    injected only when `extra_env` asks for one, never inherited from the caller's environment."""
    env = {k: v for k, v in os.environ.items() if k != FAIL_AT_ENV}
    env |= {"TOPOGRAPH_STATE_DIR": str(state), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "topograph", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def drift(sb: Sandbox, p: Plan) -> str:
    """Break the lab by hand like a user would: delete a route (or else an address); return what broke."""
    route = next((op for op in p.operations if isinstance(op, AddRoute)), None)
    if route is not None:
        assert route.netns is not None
        to = "default" if route.to.prefixlen == 0 else str(route.to)
        done = sb.exec(route.netns, "ip", "-" + str(route.family), "route", "del", to)
        assert done.returncode == 0, done.stderr
        return f"add route {route.to}"
    addr = next(op for op in p.operations if isinstance(op, AddAddress))
    assert addr.netns is not None
    done = sb.exec(addr.netns, "ip", "addr", "del", str(addr.address), "dev", addr.ifname)
    assert done.returncode == 0, done.stderr
    return f"add address {addr.address}"


def lab_up(sb: Sandbox, state: Path, sample: Path, *options: str) -> tuple[Plan, tuple[str, ...]]:
    """`sample` applied in `sb` (with apply's `options`, e.g. --firewall iptables): its plan, claimed for
    cleanup, and the arguments that name the lab to the other commands."""
    p = lab_plan(sample, sb.prefix)
    sb.claim_plan(p)
    args = ("--sandbox", sb.prefix, str(sample))
    done = tg(state, "apply", *options, *args)
    assert done.returncode == 0, done.stderr
    return p, args


def seed_up_with_iptables(sb: Sandbox, state: Path) -> tuple[Plan, tuple[str, ...], str, str]:
    """The seed applied in `sb` with the iptables back end: its plan, the CLI arguments, the host's
    namespace and its `iptables -t nat -S` as applied."""
    p, args = lab_up(sb, state, SEED, "--firewall", "iptables")
    host = sb.prefix + "host"
    return p, args, host, sb.exec(host, "iptables", "-t", "nat", "-S").stdout


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_lifecycle(sandbox: Sandbox, tmp_path: Path, sample: Path) -> None:
    p = lab_plan(sample, sandbox.prefix)
    sandbox.claim_plan(p)
    args = ("--sandbox", sandbox.prefix, str(sample))
    up = tg(tmp_path, "apply", *args)
    assert up.returncode == 0, up.stderr
    assert set(p.namespaces) == set(sandbox.left())
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert sorted(record["namespaces"]) == sorted(p.namespaces) and record["complete"]

    checked = tg(tmp_path, "verify", *args)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "DIFFERS" not in checked.stdout
    assert len(list(tmp_path.glob("verify/*.json"))) == 1  # its prediction, remembered for the next verify

    status = tg(tmp_path, "status", *args)
    assert status.returncode == 0, status.stdout
    again = tg(tmp_path, "apply", *args)
    assert again.returncode == 0 and "nothing changed" in again.stdout

    broke = drift(sandbox, p)
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2 and "missing" in status.stdout and broke in status.stdout, status.stdout
    fixed = tg(tmp_path, "apply", *args)
    assert fixed.returncode == 0 and "1 step applied" in fixed.stdout, fixed.stdout + fixed.stderr
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "verify", *args).returncode == 0

    gone = tg(tmp_path, "destroy", *args)
    assert gone.returncode == 0, gone.stderr
    assert sandbox.left() == []
    assert not list(tmp_path.glob("*.json")) and not list(tmp_path.glob("verify/*"))
    twice = tg(tmp_path, "destroy", *args)
    assert twice.returncode == 0 and "nothing removed" in twice.stdout


# -- one plan, two back ends: the same live state ----------------------------------------------

def dump(sb: Sandbox, netns: str) -> dict[str, object]:
    """`ip -j` links, addresses and routes of `netns`, without what differs by chance (indexes, MACs, timers)."""
    def j(*argv: str) -> list[dict[str, Any]]:  # `ip -j` JSON: nested values of any JSON type
        out = sb.exec(netns, "ip", "-d", "-j", *argv)
        assert out.returncode == 0, out.stderr
        rows: list[dict[str, Any]] = json.loads(out.stdout or "[]")
        return rows

    links = sorted((str(ln["ifname"]), str(ln.get("linkinfo", {}).get("info_kind", "")),
                    int(ln["mtu"]), str(ln.get("master", "")), "UP" in ln["flags"])
                   for ln in j("link", "show"))
    addrs = sorted((str(a["ifname"]), str(i["local"]), int(i["prefixlen"]))
                   for a in j("addr", "show") for i in a["addr_info"]
                   if i.get("scope") != "link")
    routes = sorted(tuple(str(r.get(k, "")) for k in ("dst", "gateway", "dev", "protocol", "scope", "metric", "type"))
                    for fam in ("-4", "-6") for r in j(fam, "route", "show", "table", "main"))
    return {"links": links, "addresses": addrs, "routes": routes}


def sysctl_values(sb: Sandbox, netns: str, p: Plan) -> list[str]:
    keys = [s.key for op in p.operations if isinstance(op, SetSysctls) and op.netns == netns for s in op.values]
    return sorted(sb.exec(netns, "sysctl", "-e", *keys).stdout.splitlines())


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_apply_and_the_compiled_script_build_the_same_lab(sandbox: Sandbox, tmp_path: Path, sample: Path) -> None:
    topology = check_file(sample).topology
    assert topology is not None
    mine = lab_plan(sample, sandbox.prefix + "a")
    theirs = lab_plan(sample, sandbox.prefix + "s")
    sandbox.claim_plan(mine)
    sandbox.claim_plan(theirs)
    assert tg(tmp_path, "apply", "--sandbox", sandbox.prefix + "a", str(sample)).returncode == 0
    script = sandbox.script(render_setup(theirs))
    assert script.returncode == 0, script.stderr
    for a, s in zip(mine.namespaces, theirs.namespaces, strict=True):
        assert dump(sandbox, a) == dump(sandbox, s), f"{a} differs from {s}"
        assert sysctl_values(sandbox, a, mine) == sysctl_values(sandbox, s, theirs)
        node = next(n for n in topology.nodes if a == sandbox.prefix + "a" + n.name)
        for ns in (a, s):  # a quiet lab: no automatic link-local address (and so no chatter) without IPv6
            auto = sandbox.exec(ns, "ip", "-6", "-o", "addr", "show", "scope", "link").stdout
            assert bool(auto.strip()) == uses_ipv6(node), f"{ns} link-local addresses:\n{auto}"
    host = next((ns for ns in mine.namespaces if ns.endswith("host")), None)
    if host is not None:
        twin = theirs.namespaces[mine.namespaces.index(host)]
        rules = [sandbox.exec(ns, "nft", "list", "ruleset").stdout for ns in (host, twin)]
        assert rules[0] == rules[1]
    assert sandbox.script(render_teardown(theirs)).returncode == 0
    assert tg(tmp_path, "destroy", "--sandbox", sandbox.prefix + "a", str(sample)).returncode == 0
    assert sandbox.left() == []




def test_verify_all_pairs_and_a_broken_lab_differs(sandbox: Sandbox, tmp_path: Path) -> None:
    _, args = lab_up(sandbox, tmp_path, SEED)
    every = tg(tmp_path, "verify", "--all", *args)
    assert every.returncode == 0, every.stdout
    lines = every.stdout.splitlines()
    assert any(ln.startswith("lan -> ") and "tcp/80" in ln for ln in lines), every.stdout  # forwards are probed too
    assert len(lines) > 20 and "all as predicted" in every.stdout
    assert sandbox.exec(sandbox.prefix + "host", "nft", "delete", "table", "inet", "topograph-seed").returncode == 0
    broken = tg(tmp_path, "verify", *args)
    assert broken.returncode == 1
    line = next(ln for ln in broken.stdout.splitlines() if "tcp/80" in ln)
    assert "reach      refused    DIFFERS  (tcp reset)" in line  # no forward: blue:80 is not asked, the host resets
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2 and "load nftables table inet topograph-seed" in status.stdout
    assert tg(tmp_path, "apply", *args).returncode == 0
    assert tg(tmp_path, "verify", *args).returncode == 0
    # from the remembered prediction (--all's and the expectations'), the same table, and a break still shows
    assert len(list(tmp_path.glob("verify/*.json"))) == 2
    again = tg(tmp_path, "verify", "--all", *args)
    assert (again.returncode, again.stdout) == (0, every.stdout)
    assert sandbox.exec(sandbox.prefix + "host", "nft", "delete", "table", "inet", "topograph-seed").returncode == 0
    remembered = tg(tmp_path, "verify", "--all", *args)
    assert remembered.returncode == 1
    assert "reach      refused    DIFFERS  (tcp reset)" in next(ln for ln in remembered.stdout.splitlines()
                                                              if ln.startswith("lan -> ") and "tcp/80" in ln)
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert not list(tmp_path.glob("verify/*"))  # destroy forgets the lab's predictions


def test_verify_does_not_count_a_connection_to_another_listener(sandbox: Sandbox) -> None:
    """A TCP probe reaches only when *its* listener accepts, so a forward that lands elsewhere is caught."""
    from topograph.live.kernel import Namespaces
    from topograph.live.probe import Job, Listen, Prober

    netns = sandbox.prefix + "x"
    sandbox.claim([netns])
    assert subprocess.run(["ip", "netns", "add", netns], check=False).returncode == 0
    assert sandbox.exec(netns, "ip", "link", "set", "lo", "up").returncode == 0
    sandbox.listen_tcp(netns, "127.0.0.1", 8080, "someone else")  # where the connection lands
    expected = Listen("x", netns, ipaddress.ip_address("127.0.0.2"), 8080)  # where the probe's own listener waits
    prober = Prober(Namespaces())
    try:
        got = prober.run_round([(0, Job(netns, ipaddress.ip_address("127.0.0.1"), 8080, expected))])[0]
    finally:
        prober.close()
        prober.ns.close()
    assert (got.reached, got.detail) == (False, "connected, but not to the expected listener")


SEED_FORWARD = "lan -> 192.168.1.2 tcp/80"


def test_verify_probes_a_forward_through_a_listener_that_is_there_already(sandbox: Sandbox, tmp_path: Path) -> None:
    """The README's own scenario, a web server on blue:80: verify may not crash (it did: errno 98); the
    connection is accepted by that server, and the line says so."""
    _, args = lab_up(sandbox, tmp_path, SEED)
    sandbox.listen_tcp(sandbox.prefix + "blue", "0.0.0.0", 80, "web server")
    done = tg(tmp_path, "verify", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(SEED_FORWARD))
    assert line.split()[4:7] == ["reach", "reach", "ok"], line
    assert "accepted by the listener already on blue:80, not verify's own" in line
    assert "5 flows, all as predicted" in done.stdout
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_verify_of_a_half_built_lab_says_what_is_missing(sandbox: Sandbox, tmp_path: Path) -> None:
    """A forward's target address missing (it crashed: errno 99) is no reach, with the reason."""
    _, args = lab_up(sandbox, tmp_path, SEED)
    blue = sandbox.prefix + "blue"
    assert sandbox.exec(blue, "ip", "addr", "del", "192.168.15.2/24", "dev", "veth-blue").returncode == 0
    done = tg(tmp_path, "verify", *args)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(SEED_FORWARD))
    assert line.split()[4:8] == ["reach", "no", "reach", "DIFFERS"], line
    assert "(192.168.15.2 is not on blue, nothing can listen there)" in line
    assert "red -> blue " in done.stdout and done.stdout.splitlines()[-1] == "5 flows, 4 differ"
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_verify_all_pairs_of_a_star_concurrently_is_as_predicted(sandbox: Sandbox, tmp_path: Path) -> None:
    """Many probes in flight at once keep every result right: a 10-namespace star, all 110 pairs, twice."""
    from benchmarks.labs import star

    lab = tmp_path / "star.yml"
    lab.write_text(star(10))
    _, args = lab_up(sandbox, tmp_path, lab)
    for _ in range(2):
        done = tg(tmp_path, "verify", "--all", *args)
        assert done.returncode == 0, done.stdout
        lines = done.stdout.splitlines()
        assert lines[-1] == "110 flows, all as predicted" and len(lines) == 112
        assert all(ln.split()[-3:] == ["reach", "reach", "ok"] for ln in lines[1:-1]), done.stdout
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_verify_all_pairs_of_a_star_with_a_broken_link_differs(sandbox: Sandbox, tmp_path: Path) -> None:
    """A link taken down by hand: every flow to and from that namespace is reported, the others are not."""
    from benchmarks.labs import star

    lab = tmp_path / "star.yml"
    lab.write_text(star(10))
    _, args = lab_up(sandbox, tmp_path, lab)
    assert sandbox.exec(sandbox.prefix + "host", "ip", "link", "set", "p3", "down").returncode == 0
    done = tg(tmp_path, "verify", "--all", *args)
    assert done.returncode == 1, done.stdout
    rows = [ln.split() for ln in done.stdout.splitlines()[1:-1]]
    differ = sorted((r[0], r[2]) for r in rows if r[-1] == "DIFFERS" or "DIFFERS" in r)
    expected = sorted([("ns3", n) for n in ["host", *(f"ns{i}" for i in range(10) if i != 3)]]
                      + [(n, "ns3") for n in ["host", *(f"ns{i}" for i in range(10) if i != 3)]])
    assert differ == expected, done.stdout
    assert done.stdout.splitlines()[-1] == "110 flows, 20 differ"
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_exec_runs_inside_the_node(sandbox: Sandbox, tmp_path: Path) -> None:
    lab_up(sandbox, tmp_path, SEED)
    done = tg(tmp_path, "exec", str(SEED), "red", "--sandbox", sandbox.prefix, "--", "ip", "-br", "addr")
    assert done.returncode == 0 and "192.168.15.1/24" in done.stdout
    # an empty command reached `ip netns exec`, which said 'exec of "" failed' without topograph's prefix
    empty = tg(tmp_path, "exec", str(SEED), "red", "--sandbox", sandbox.prefix, "--", "")
    assert (empty.returncode, empty.stderr.splitlines()[0]) == (2, "topograph: the command to run is empty ('')")
    assert tg(tmp_path, "destroy", "--sandbox", sandbox.prefix, str(SEED)).returncode == 0
    gone = tg(tmp_path, "exec", str(SEED), "red", "--sandbox", sandbox.prefix, "--", "true")
    assert gone.returncode == 1 and "is the lab up?" in gone.stderr


def test_the_iptables_back_end_applies_verifies_and_is_remembered(sandbox: Sandbox, tmp_path: Path) -> None:
    _, args = lab_up(sandbox, tmp_path, SEED, "--firewall", "iptables")
    rules = sandbox.exec(sandbox.prefix + "host", "iptables", "-t", "nat", "-S").stdout
    assert "-A PREROUTING -j TG-seed-PRE" in rules and "-j MASQUERADE" in rules
    assert tg(tmp_path, "verify", *args).returncode == 0
    # without --firewall, status and apply use the back end the lab was applied with
    assert tg(tmp_path, "status", *args).returncode == 0
    assert "nothing changed" in tg(tmp_path, "apply", *args).stdout
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == []


def test_a_link_deleted_by_hand_is_rebuilt_with_everything_on_it(sandbox: Sandbox, tmp_path: Path) -> None:
    chain = Path(__file__).resolve().parents[2] / "samples" / "08-chain-static-routes.yml"
    _, args = lab_up(sandbox, tmp_path, chain)
    # deleting r1's end deletes left's too, with left's address and default route; r1's route via eth1 stays
    assert sandbox.exec(sandbox.prefix + "r1", "ip", "link", "del", "eth0").returncode == 0
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2 and "create veth eth0" in status.stdout
    fixed = tg(tmp_path, "apply", *args)
    assert fixed.returncode == 0, fixed.stderr
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "verify", *args).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_sysctls_and_extra_addresses_changed_by_hand_are_put_right(sandbox: Sandbox, tmp_path: Path) -> None:
    _, args = lab_up(sandbox, tmp_path, SEED)
    host, blue = sandbox.prefix + "host", sandbox.prefix + "blue"
    assert sandbox.exec(host, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0").returncode == 0
    assert sandbox.exec(blue, "ip", "addr", "add", "10.9.9.9/24", "dev", "veth-blue").returncode == 0
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2
    assert "~ drifted  host" in status.stdout and "net.ipv4.ip_forward=1" in status.stdout
    assert f"- extra    {blue}: address 10.9.9.9/24 on veth-blue" in status.stdout
    fixed = tg(tmp_path, "apply", *args)
    assert fixed.returncode == 0 and "1 extra object removed" in fixed.stdout, fixed.stdout
    assert sandbox.exec(host, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert "10.9.9.9" not in sandbox.exec(blue, "ip", "addr").stdout
    assert tg(tmp_path, "verify", *args).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0


IPTABLES_BY_HAND = {
    "rule deleted": (["-D", "TG-seed-POST", "1"], "~ drifted"),
    "rule changed": (["-R", "TG-seed-POST", "1", "-s", "10.9.9.0/24", "-o", "eth0", "-j", "MASQUERADE"], "~ drifted"),
    "hook deleted": (["-D", "PREROUTING", "-j", "TG-seed-PRE"], "~ drifted"),
    "chains gone": (["-F"], "+ missing"),  # every nat chain emptied (so the hooks went), then ours deleted below
}


@pytest.mark.parametrize("by_hand", sorted(IPTABLES_BY_HAND))
def test_iptables_chains_changed_by_hand_are_reported_and_repaired(sandbox: Sandbox, tmp_path: Path,
                                                                   by_hand: str) -> None:
    _, args, host, good = seed_up_with_iptables(sandbox, tmp_path)
    argv, shown = IPTABLES_BY_HAND[by_hand]
    assert sandbox.exec(host, "iptables", "-t", "nat", *argv).returncode == 0
    if by_hand == "chains gone":
        assert sandbox.exec(host, "iptables", "-t", "nat", "-X").returncode == 0
    assert sandbox.exec(host, "iptables", "-t", "nat", "-S").stdout != good
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2, status.stdout
    assert f"  {shown}  host ({host}): load iptables chains TG-seed-PRE, TG-seed-POST" in status.stdout, status.stdout
    fixed = tg(tmp_path, "apply", *args)
    assert fixed.returncode == 0 and "1 step applied" in fixed.stdout, fixed.stdout + fixed.stderr
    assert sandbox.exec(host, "iptables", "-t", "nat", "-S").stdout == good  # exactly: no hook twice
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "verify", *args).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == []


def test_an_unexpected_reach_is_measured_again_after_the_neighbours_are_forgotten(sandbox: Sandbox,
                                                                                   tmp_path: Path) -> None:
    """A flow that reaches although predicted not to is probed again alone after a neighbour flush of the lab's
    namespaces (another flow may have taught the neighbour); a real reach stays a difference."""
    from topograph.live import verify
    from topograph.placement import place

    lab_up(sandbox, tmp_path, SEED)
    topology = check_file(SEED).topology
    assert topology is not None
    blue = ipaddress.ip_address("192.168.15.2")
    wrong = verify.Probe("red", blue, "blue", predicted=False)
    right = verify.Probe("blue", ipaddress.ip_address("192.168.15.1"), "red", predicted=True)
    got = verify.run_probes(topology, place(topology, sandbox.prefix), [wrong, right])
    assert [(o.reached, o.agrees) for o in got] == [(True, False), (True, True)]
    red_neighbours = sandbox.exec(sandbox.prefix + "red", "ip", "neigh", "show").stdout
    assert "192.168.15.2 " not in red_neighbours, red_neighbours  # the pair's entries were forgotten afterwards
    assert tg(tmp_path, "destroy", "--sandbox", sandbox.prefix, str(SEED)).returncode == 0
