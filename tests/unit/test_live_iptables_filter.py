"""The lab's share of the iptables nat *and* filter tables, and the one transaction per family that loads,
repairs or takes it back (no root needed)."""

from __future__ import annotations

from tests.conftest import ROOT
from topograph.live.firewall import foreign_rules, lab_lines
from topograph.pipeline import check_file
from topograph.plan import DeleteIptables, LoadIptables, iptables_restore, plan, reverse
from topograph.plan.firewall import by_table, iptables_change

SEED_FIREWALL = ROOT / "tests" / "golden" / "compile" / "seed-firewall" / "seed-firewall.yml"


def seed_load() -> LoadIptables:
    checked = check_file(SEED_FIREWALL)
    assert checked.topology is not None
    p = plan(checked.topology, sandbox_prefix="t1-", firewall="iptables")
    return next(op for op in p.operations if isinstance(op, LoadIptables))


# what iptables-save prints with every table: the nat share, then the filter share, and a rule of someone else
SAVED = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:TG-seed-FWD - [0:0]
:TG-seed-IN - [0:0]
-A INPUT -j TG-seed-IN
-A INPUT -p tcp -j DROP
-A FORWARD -j TG-seed-FWD
-A TG-seed-FWD -j DROP
-A TG-seed-IN -i v-net-0 -j ACCEPT
-A TG-seed-IN -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:TG-seed-PRE - [0:0]
:TG-seed-POST - [0:0]
-A PREROUTING -j TG-seed-PRE
-A POSTROUTING -j TG-seed-POST
-A TG-seed-POST -s 192.168.15.0/24 -o eth0 -j MASQUERADE
COMMIT
"""


def test_the_labs_lines_are_the_nat_share_unmarked_then_each_other_table_under_its_name() -> None:
    assert lab_lines(SAVED, seed_load().chains) == [
        ":TG-seed-PRE", ":TG-seed-POST", "-A PREROUTING -j TG-seed-PRE", "-A POSTROUTING -j TG-seed-POST",
        "-A TG-seed-POST -s 192.168.15.0/24 -o eth0 -j MASQUERADE",
        "*filter", ":TG-seed-FWD", ":TG-seed-IN", "-A INPUT -j TG-seed-IN", "-A FORWARD -j TG-seed-FWD",
        "-A TG-seed-FWD -j DROP", "-A TG-seed-IN -i v-net-0 -j ACCEPT", "-A TG-seed-IN -j DROP"]


def test_a_filter_share_alone_is_the_labs_too() -> None:
    only = "*filter\n:TG-seed-OUT - [0:0]\n-A OUTPUT -j TG-seed-OUT\nCOMMIT\n"
    assert lab_lines(only, seed_load().chains) == ["*filter", ":TG-seed-OUT", "-A OUTPUT -j TG-seed-OUT"]
    assert lab_lines(only, ("TG-seed-PRE", "TG-seed-POST")) is None


def test_the_plans_text_round_trips_through_lab_lines_per_table() -> None:
    load = seed_load()
    lines = lab_lines(iptables_restore(load, 4), load.chains)
    assert lines is not None
    tables = by_table(lines)
    assert list(tables) == ["nat", "filter"]
    assert tables["filter"][:4] == [":TG-seed-IN", ":TG-seed-FWD", "-A INPUT -j TG-seed-IN", "-A FORWARD -j TG-seed-FWD"]
    assert tables["filter"][-1] == "-A TG-seed-FWD -j DROP"


def test_a_first_load_is_one_section_per_table() -> None:
    load = seed_load()
    text = iptables_change(None, lab_lines(iptables_restore(load, 4), load.chains))
    assert [line for line in text.splitlines() if line.startswith("*") or line == "COMMIT"] == \
        ["*nat", "COMMIT", "*filter", "COMMIT"]
    assert "-A INPUT -j TG-seed-IN" in text and "-A TG-seed-IN -j DROP" in text


def test_a_repair_takes_the_hooks_out_and_drops_a_chain_the_file_no_longer_has() -> None:
    load = seed_load()  # input and forward only: the output chain someone left is the lab's, and goes
    now = lab_lines(SAVED, load.chains)
    assert now is not None
    now += [":TG-seed-OUT", "-A OUTPUT -j TG-seed-OUT"]  # appended to the filter share
    text = iptables_change(now, lab_lines(iptables_restore(load, 4), load.chains))
    filter_part = text[text.index("*filter"):]
    assert filter_part.splitlines()[:4] == ["*filter", "-D INPUT -j TG-seed-IN", "-D FORWARD -j TG-seed-FWD",
                                            "-D OUTPUT -j TG-seed-OUT"]
    assert "-F TG-seed-OUT\n-X TG-seed-OUT" in filter_part
    assert filter_part.count("-A INPUT -j TG-seed-IN") == 1


def test_taking_everything_back_empties_both_tables() -> None:
    load = seed_load()
    text = iptables_change(lab_lines(SAVED, load.chains), None)
    for chain in ("TG-seed-PRE", "TG-seed-POST", "TG-seed-IN", "TG-seed-FWD"):
        assert f"-F {chain}\n-X {chain}" in text
    assert "-D INPUT -j TG-seed-IN" in text and "-D PREROUTING -j TG-seed-PRE" in text
    assert "-A " not in text


def test_the_hooks_of_the_labs_filter_chains_are_not_foreign_rules() -> None:
    found = foreign_rules(4, SAVED, seed_load().chains)
    assert [r.line for r in found] == ["-A INPUT -p tcp -j DROP"]


def test_a_teardown_deletes_the_filter_chains_only_where_the_node_filters() -> None:
    checked = check_file(SEED_FIREWALL)
    assert checked.topology is not None
    gone = [op for op in reverse(plan(checked.topology, firewall="iptables")).operations
            if isinstance(op, DeleteIptables)]
    assert [op.chains for op in gone] == [("TG-seed-PRE", "TG-seed-POST", "TG-seed-IN", "TG-seed-FWD", "TG-seed-OUT")]
    assert ("filter", "INPUT", "TG-seed-IN") in gone[0].hooks
    nat_only = check_file(ROOT / "samples" / "06-port-forward.yml")
    assert nat_only.topology is not None
    (plain,) = [op for op in reverse(plan(nat_only.topology, firewall="iptables")).operations
                if isinstance(op, DeleteIptables)]
    assert plain.chains == ("TG-seed-PRE", "TG-seed-POST")
