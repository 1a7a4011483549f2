"""Filter chains in the compiled scripts: one golden case per match and action for both back ends, the seed
host as a stateful firewall (whole scripts), and every rule form checked by the real tools where they exist."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from topograph.cli import main
from topograph.pipeline import check_text
from topograph.plan import LoadIptables, LoadNftables, iptables_restore, nft_ruleset, plan

GOLDEN = ROOT / "tests" / "golden" / "compile" / "filters"
SEED_FIREWALL = ROOT / "tests" / "golden" / "compile" / "seed-firewall" / "seed-firewall.yml"

#: (case name, hook, policy, rule as the file writes it (None: no rule))
CASES: list[tuple[str, str, str, str | None]] = [
    ("policy-drop", "input", "drop", None),
    ("from-ipv4", "input", "accept", "{from: 192.168.1.0/24, action: drop}"),
    ("from-ipv6", "input", "accept", "{from: '2001:db8::/64', action: drop}"),
    ("to-address", "forward", "accept", "{to: 192.168.15.2, action: drop}"),
    ("to-ipv6", "output", "accept", "{to: '2001:db8::1', action: drop}"),
    ("proto-icmp", "input", "accept", "{proto: icmp, action: drop}"),
    ("proto-icmpv6", "input", "accept", "{proto: icmpv6, action: drop}"),
    ("proto-icmp-from", "input", "accept", "{proto: icmp, from: 192.168.1.0/24, action: drop}"),
    ("proto-tcp", "input", "accept", "{proto: tcp, action: drop}"),
    ("proto-udp", "input", "accept", "{proto: udp, action: drop}"),
    ("dport", "input", "accept", "{proto: tcp, dport: 22, action: drop}"),
    ("dport-range", "input", "accept", "{proto: udp, dport: 1000-2000, action: drop}"),
    ("sport", "output", "accept", "{proto: udp, sport: 53, action: drop}"),
    ("sport-range", "output", "accept", "{proto: tcp, sport: 1000-2000, action: drop}"),
    ("in-interface", "forward", "accept", "{in: eth0, action: drop}"),
    ("out-interface", "forward", "accept", "{out: eth1, action: drop}"),
    ("state", "forward", "drop", "{state: [established, related], action: accept}"),
    ("state-new-invalid", "input", "accept", "{state: [new, invalid], action: drop}"),
    ("accept", "input", "drop", "{proto: tcp, dport: 22, action: accept}"),
    ("drop", "input", "accept", "{action: drop}"),
    ("reject", "input", "accept", "{action: reject}"),
    ("reject-ipv4", "input", "accept", "{from: 192.168.1.0/24, proto: udp, action: reject}"),
    ("reset", "input", "accept", "{proto: tcp, action: reset}"),
    ("reset-dport", "input", "accept", "{proto: tcp, dport: 80, from: '2001:db8::/64', action: reset}"),
    ("everything", "forward", "drop", "{state: [new], in: eth0, out: eth1, from: 192.168.1.0/24, "
                                      "to: 192.168.2.0/24, proto: tcp, sport: 1024-65535, dport: 443, action: accept}"),
]
FIREWALLS = ["nftables", "iptables"]


def lab_text(hook: str, policy: str, rule: str | None) -> str:
    rules = f"\n        rules:\n          - {rule}" if rule else ""
    return f"""lab: fw
nodes:
  gw:
    forwarding: true
    interfaces: {{eth0: [192.168.1.1/24, '2001:db8::2/64'], eth1: 192.168.2.1/24}}
    filter:
      {hook}:
        policy: {policy}{rules}
  a: {{interfaces: {{eth0: 192.168.1.2/24}}}}
  b: {{interfaces: {{eth0: 192.168.2.2/24}}}}
links:
  - [gw:eth0, a:eth0]
  - [gw:eth1, b:eth0]
"""


def load_of(case: tuple[str, str, str, str | None], firewall: str) -> LoadNftables | LoadIptables:
    _, hook, policy, rule = case
    checked = check_text(lab_text(hook, policy, rule), "fw.yml")
    assert checked.ok and checked.topology is not None, checked.report
    p = plan(checked.topology, sandbox_prefix="sb-", firewall="iptables" if firewall == "iptables" else "nftables")
    loads = [op for op in p.operations if isinstance(op, LoadNftables | LoadIptables)]
    assert len(loads) == 1 and loads[0].node == "gw"
    return loads[0]


def rules_text(load: LoadNftables | LoadIptables) -> str:
    """What the script loads: the nft input, or the iptables-restore input of each family under a header."""
    if isinstance(load, LoadNftables):
        return nft_ruleset(load)
    return "".join(f"# {'iptables' if f == 4 else 'ip6tables'}-restore --noflush\n{iptables_restore(load, f)}"
                   for f in load.families)


@pytest.mark.parametrize("firewall", FIREWALLS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule_golden(case: tuple[str, str, str, str | None], firewall: str,
                     golden: Callable[[Path, str], None]) -> None:
    golden(GOLDEN / firewall / f"{case[0]}.txt", rules_text(load_of(case, firewall)))


def test_family_bound_rules_go_into_their_family_only() -> None:
    v6 = load_of(("", "input", "accept", "{from: '2001:db8::/64', action: drop}"), "iptables")
    assert isinstance(v6, LoadIptables) and v6.families == (6,)
    both = load_of(("", "input", "accept", "{proto: tcp, action: drop}"), "iptables")
    assert isinstance(both, LoadIptables) and both.families == (4, 6)
    assert "-A TG-fw-IN -p tcp -j DROP" in iptables_restore(both, 4)
    assert "-A TG-fw-IN -p tcp -j DROP" in iptables_restore(both, 6)
    policy = load_of(("", "output", "drop", None), "iptables")
    assert isinstance(policy, LoadIptables) and policy.families == (4, 6)
    assert iptables_restore(policy, 6).splitlines()[-3:] == ["-A TG-fw-OUT -j DROP", "-A OUTPUT -j TG-fw-OUT",
                                                             "COMMIT"]


def test_a_filter_only_node_loads_no_nat_chains() -> None:
    load = load_of(("", "input", "drop", None), "iptables")
    assert isinstance(load, LoadIptables) and load.loaded_chains == ("TG-fw-IN",)
    assert "*nat" not in iptables_restore(load, 4)
    nft = load_of(("", "input", "drop", None), "nftables")
    assert isinstance(nft, LoadNftables) and "nat" not in nft_ruleset(nft)


MODES: list[tuple[str, list[str]]] = [
    ("setup.sh", []),
    ("teardown.sh", ["--teardown"]),
    ("sandbox-setup.sh", ["--sandbox", "sb-"]),
    ("sandbox-teardown.sh", ["--teardown", "--sandbox", "sb-"]),
]


@pytest.mark.parametrize("firewall", FIREWALLS)
@pytest.mark.parametrize("mode", MODES, ids=[m[0] for m in MODES])
def test_seed_host_as_a_stateful_firewall(mode: tuple[str, list[str]], firewall: str,
                                          golden: Callable[[Path, str], None],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SEED_FIREWALL.parent)
    result = CliRunner().invoke(main, ["compile", "--firewall", firewall, *mode[1], SEED_FIREWALL.name])
    assert result.exit_code == 0, result.stderr
    golden(SEED_FIREWALL.parent / firewall / mode[0], result.stdout)


# -- the real tools' check mode, in a network namespace of the test's own (unshare: it has no name and
# goes when the tool exits; nothing is loaded anywhere) --------------------------------------------

def _isolated(argv: list[str], text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "--net", *argv], input=text, capture_output=True, text=True, check=False,
                          timeout=60)


def _can_isolate(tool: str) -> str | None:
    """Why the tool's check cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (a network namespace of its own)"
    if shutil.which("unshare") is None or shutil.which(tool) is None:
        return f"needs unshare and {tool}"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False, timeout=30)
    return None if probe.returncode == 0 else "cannot make a network namespace here"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_nft_accepts_every_rule_form(case: tuple[str, str, str, str | None]) -> None:
    why = _can_isolate("nft")
    if why:
        pytest.skip(why)
    text = rules_text(load_of(case, "nftables"))
    done = _isolated(["nft", "-c", "-f", "-"], text)
    assert done.returncode == 0, f"{done.stderr}\n{text}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_iptables_restore_accepts_every_rule_form(case: tuple[str, str, str, str | None]) -> None:
    load = load_of(case, "iptables")
    assert isinstance(load, LoadIptables)
    for family in load.families:
        tool = "iptables-restore" if family == 4 else "ip6tables-restore"
        why = _can_isolate(tool)
        if why:
            pytest.skip(why)
        text = iptables_restore(load, family)
        done = _isolated([tool, "--test", "--noflush"], text)
        assert done.returncode == 0, f"{done.stderr}\n{text}"


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_the_seed_firewall_loads_in_check_mode(firewall: str) -> None:
    checked = check_text(SEED_FIREWALL.read_text(), SEED_FIREWALL.name)
    assert checked.topology is not None
    p = plan(checked.topology, sandbox_prefix="sb-", firewall="iptables" if firewall == "iptables" else "nftables")
    (load,) = [op for op in p.operations if isinstance(op, LoadNftables | LoadIptables)]
    if isinstance(load, LoadNftables):
        why = _can_isolate("nft")
        if why:
            pytest.skip(why)
        done = _isolated(["nft", "-c", "-f", "-"], nft_ruleset(load))
        assert done.returncode == 0, done.stderr
        return
    for family in load.families:
        tool = "iptables-restore" if family == 4 else "ip6tables-restore"
        why = _can_isolate(tool)
        if why:
            pytest.skip(why)
        done = _isolated([tool, "--test", "--noflush"], iptables_restore(load, family))
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", ['x" accept; flush ruleset; "', "eth0 -j ACCEPT", "a\\b", ""])
def test_a_hand_made_rule_with_a_hostile_interface_name_is_refused(name: str) -> None:
    from topograph.model import FilterRule, Hook, RuleAction
    from topograph.plan.filters import FilterChainRules

    chain = FilterChainRules(Hook.INPUT, RuleAction.ACCEPT, (FilterRule(RuleAction.DROP, in_interface=name),))
    if " " not in name or '"' in name:  # nft quotes the name: a space alone cannot escape
        with pytest.raises(ValueError, match="cannot use"):
            chain.nft()
    with pytest.raises(ValueError, match="cannot use"):
        chain.iptables("TG-x-IN", 4)
