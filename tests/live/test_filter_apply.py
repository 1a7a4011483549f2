"""Filter chains live (sandbox mode, both back ends): apply loads them into the node's own table or chains,
status names rules changed by hand, a re-apply repairs them, a failed repair puts back what was there,
a filter the file drops goes, destroy leaves nothing; and a drop rule really drops."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.live.conftest import Sandbox
from tests.live.test_apply_samples import lab_plan, lab_up, tg

pytestmark = pytest.mark.live

SEED_FIREWALL = ROOT / "tests" / "golden" / "compile" / "seed-firewall" / "seed-firewall.yml"
FIREWALLS = ["nftables", "iptables"]
TABLE = "topograph-seed"


def _need(firewall: str) -> None:
    tools = ["nft"] if firewall == "nftables" else ["iptables", "ip6tables", "iptables-restore", "ip6tables-restore"]
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"the {firewall} back end needs {', '.join(missing)}")


def _filter_rules(sb: Sandbox, netns: str, firewall: str) -> str:
    """The node's filter rules as the tools list them (nft: the lab's table; iptables: both families' filter table)."""
    if firewall == "nftables":
        done = sb.exec(netns, "nft", "list", "table", "inet", TABLE)
        return done.stdout if done.returncode == 0 else ""
    return sb.exec(netns, "iptables", "-S").stdout + sb.exec(netns, "ip6tables", "-S").stdout


def _delete_one_rule(sb: Sandbox, netns: str, firewall: str) -> None:
    """Delete the input chain's `in v-net-0` accept by hand, as someone at the shell would."""
    if firewall == "nftables":
        listing = sb.exec(netns, "nft", "-a", "list", "chain", "inet", TABLE, "input").stdout
        handle = re.search(r'iifname "v-net-0" accept # handle (\d+)', listing)
        assert handle is not None, listing
        done = sb.exec(netns, "nft", "delete", "rule", "inet", TABLE, "input", "handle", handle[1])
    else:
        done = sb.exec(netns, "iptables", "-D", "TG-seed-IN", "-i", "v-net-0", "-j", "ACCEPT")
    assert done.returncode == 0, done.stderr


def _add_one_rule(sb: Sandbox, netns: str, firewall: str) -> None:
    """An extra rule in the lab's own forward chain, by hand."""
    if firewall == "nftables":
        done = sb.exec(netns, "nft", "add", "rule", "inet", TABLE, "forward", "tcp", "dport", "9", "accept")
    else:
        done = sb.exec(netns, "iptables", "-I", "TG-seed-FWD", "1", "-p", "tcp", "--dport", "9", "-j", "ACCEPT")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("by_hand", ["rule deleted", "rule added"])
@pytest.mark.parametrize("firewall", FIREWALLS)
def test_filter_rules_are_applied_drift_is_seen_and_repaired_and_destroy_leaves_nothing(
        sandbox: Sandbox, tmp_path: Path, firewall: str, by_hand: str) -> None:
    _need(firewall)
    _, args = lab_up(sandbox, tmp_path, SEED_FIREWALL, "--firewall", firewall)
    host = sandbox.prefix + "host"
    good = _filter_rules(sandbox, host, firewall)
    if firewall == "nftables":
        assert "type filter hook input priority filter; policy drop;" in good, good
        assert 'iifname "v-net-0" accept' in good and "ip daddr 192.168.15.2 tcp dport 80 accept" in good, good
    else:
        assert "-A INPUT -j TG-seed-IN" in good and "-A TG-seed-IN -i v-net-0 -j ACCEPT" in good, good
        assert "-A TG-seed-IN -p udp -m udp --dport 1000:2000 -j REJECT --reject-with icmp6-port-unreachable" in good
        assert "-P INPUT ACCEPT" in good  # the built-in chain's policy is never changed
    assert tg(tmp_path, "status", *args).returncode == 0
    (_delete_one_rule if by_hand == "rule deleted" else _add_one_rule)(sandbox, host, firewall)
    assert _filter_rules(sandbox, host, firewall) != good
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2, status.stdout
    what = "load nftables table inet topograph-seed" if firewall == "nftables" else "load iptables chains"
    assert f"~ drifted  host ({host}): {what}" in status.stdout, status.stdout
    named = {("nftables", "rule deleted"): 'missing: iifname "v-net-0" accept (chain input)',
             ("nftables", "rule added"): "extra: tcp dport 9 accept (chain forward)",
             ("iptables", "rule deleted"): "missing: -A TG-seed-IN -i v-net-0 -j ACCEPT (ipv4 filter)",
             ("iptables", "rule added"): "extra: -A TG-seed-FWD -p tcp -m tcp --dport 9 -j ACCEPT (ipv4 filter)"}
    assert named[(firewall, by_hand)] in status.stdout, status.stdout
    fixed = tg(tmp_path, "apply", *args)
    assert fixed.returncode == 0 and "1 step applied" in fixed.stdout, fixed.stdout + fixed.stderr
    assert _filter_rules(sandbox, host, firewall) == good  # exactly: no rule or hook twice
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == []


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_a_repair_that_fails_puts_the_rules_back_as_they_were(sandbox: Sandbox, tmp_path: Path, firewall: str) -> None:
    _need(firewall)
    p, args = lab_up(sandbox, tmp_path, SEED_FIREWALL, "--firewall", firewall)
    host = sandbox.prefix + "host"
    good = _filter_rules(sandbox, host, firewall)
    _delete_one_rule(sandbox, host, firewall)
    # a route too, so that the repair is [route, rules load]; it fails once both are done
    assert sandbox.exec(sandbox.prefix + "red", "ip", "route", "del", "default").returncode == 0
    broken_rules = _filter_rules(sandbox, host, firewall)
    broken = tg(tmp_path, "status", *args).stdout
    assert "add route" in broken and "drifted  host" in broken, broken
    failed = tg(tmp_path, "apply", *args, extra_env={"TOPOGRAPH_FAIL_AT": "3"})
    assert failed.returncode == 1, failed.stderr
    assert "after step 2 of 2: injected failure" in failed.stderr and "rolled back" in failed.stderr, failed.stderr
    assert _filter_rules(sandbox, host, firewall) == broken_rules
    assert tg(tmp_path, "status", *args).stdout == broken
    assert tg(tmp_path, "apply", *args).returncode == 0
    assert _filter_rules(sandbox, host, firewall) == good
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == [] and p.namespaces


LAB = """\
lab: fwlive
nodes:
  a: {interfaces: {eth0: 10.8.0.1/24}}
  b:
    interfaces: {eth0: 10.8.0.2/24}
    filter:
      input:
        policy: accept
        rules:
          - {proto: icmp, from: 10.8.0.1, state: [new], action: drop}
links:
  - [a:eth0, b:eth0]
"""
FILTER = LAB[LAB.index("    filter:"):LAB.index("links:")]


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_a_drop_rule_drops_and_a_filter_the_file_no_longer_has_goes(sandbox: Sandbox, tmp_path: Path,
                                                                    firewall: str) -> None:
    _need(firewall)
    path = tmp_path / "fwlive.yml"
    path.write_text(LAB)
    sandbox.claim_plan(lab_plan(path, sandbox.prefix))
    args = ("--sandbox", sandbox.prefix, str(path))
    done = tg(tmp_path, "apply", "--firewall", firewall, *args)
    assert done.returncode == 0, done.stderr
    a, b = sandbox.prefix + "a", sandbox.prefix + "b"
    assert not sandbox.ping(a, "10.8.0.2", tries=2)  # b drops a's pings
    assert sandbox.ping(b, "10.8.0.1")  # b's own pings go out: their replies are established, not new
    path.write_text(LAB.replace(FILTER, ""))
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2 and "the file has no NAT, port forward or filter here any more" in status.stdout, \
        status.stdout
    assert tg(tmp_path, "apply", *args).returncode == 0
    assert tg(tmp_path, "status", *args).returncode == 0
    assert _filter_rules(sandbox, b, firewall).count("TG-fwlive") == 0
    if firewall == "nftables":
        assert sandbox.exec(b, "nft", "list", "table", "inet", "topograph-fwlive").returncode != 0
    assert sandbox.ping(a, "10.8.0.2")
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == []


def _all_rules(sb: Sandbox, netns: str, firewall: str) -> str:
    if firewall == "nftables":
        return sb.exec(netns, "nft", "list", "ruleset").stdout
    return "".join(sb.exec(netns, tool, "-t", table, "-S").stdout
                   for tool in ("iptables", "ip6tables") for table in ("nat", "filter"))


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_apply_and_the_compiled_script_load_the_same_rules(sandbox: Sandbox, tmp_path: Path, firewall: str) -> None:
    from topograph.compile import render_setup, render_teardown
    from topograph.pipeline import check_file
    from topograph.plan import plan

    _need(firewall)
    topology = check_file(SEED_FIREWALL).topology
    assert topology is not None
    mine = plan(topology, sandbox_prefix=sandbox.prefix + "a", firewall="iptables" if firewall == "iptables" else "nftables")
    theirs = plan(topology, sandbox_prefix=sandbox.prefix + "s", firewall=mine.firewall)
    sandbox.claim_plan(mine)
    sandbox.claim_plan(theirs)
    args = ("--sandbox", sandbox.prefix + "a", str(SEED_FIREWALL))
    assert tg(tmp_path, "apply", "--firewall", firewall, *args).returncode == 0
    script = sandbox.script(render_setup(theirs))
    assert script.returncode == 0, script.stderr
    applied = _all_rules(sandbox, sandbox.prefix + "ahost", firewall)
    assert "TG-seed-IN" in applied or "hook input" in applied, applied
    assert applied == _all_rules(sandbox, sandbox.prefix + "shost", firewall)
    assert sandbox.script(render_teardown(theirs)).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == []
