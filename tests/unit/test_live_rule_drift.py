"""The words status adds to a drifted rules load: which rules of the lab's table or chains changed by hand."""

from __future__ import annotations

from topograph.live.rule_drift import rules_drift

LOADED = """table inet topograph-seed {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iifname "v-net-0" accept
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
	}
}
"""


def test_a_rule_deleted_by_hand_is_named_with_its_chain() -> None:
    now = LOADED.replace('\t\tiifname "v-net-0" accept\n', "")
    assert rules_drift(LOADED, now) == ' (missing: iifname "v-net-0" accept (chain input))'


def test_a_rule_added_and_a_policy_changed_are_named() -> None:
    now = LOADED.replace("\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n",
                         "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
                         "\t\ttcp dport 9 accept\n")
    assert rules_drift(LOADED, now) == (
        " (missing: type filter hook forward priority filter; policy drop; (chain forward);"
        " extra: type filter hook forward priority filter; policy accept; (chain forward);"
        " tcp dport 9 accept (chain forward))")


def test_the_same_rule_in_another_chain_counts_on_both_sides() -> None:
    now = LOADED.replace('\t\tiifname "v-net-0" accept\n', "").replace(
        "policy drop;\n\t\tct state established,related accept\n\t}\n}",
        'policy drop;\n\t\tct state established,related accept\n\t\tiifname "v-net-0" accept\n\t}\n}')
    assert rules_drift(LOADED, now) == (' (missing: iifname "v-net-0" accept (chain input);'
                                        ' extra: iifname "v-net-0" accept (chain forward))')


def test_iptables_listings_are_compared_per_family_and_many_are_counted() -> None:
    loaded = "# ipv4\n*filter\n:TG-x-IN\n" + "".join(f"-A TG-x-IN -p tcp --dport {p} -j DROP\n" for p in range(5))
    now = "# ipv4\n*filter\n:TG-x-IN\n"
    assert rules_drift(loaded, now) == (" (missing: -A TG-x-IN -p tcp --dport 0 -j DROP (ipv4 filter);"
                                        " -A TG-x-IN -p tcp --dport 1 -j DROP (ipv4 filter);"
                                        " -A TG-x-IN -p tcp --dport 2 -j DROP (ipv4 filter); and 2 more)")


def test_nothing_known_or_nothing_changed_says_nothing() -> None:
    assert rules_drift(None, LOADED) == "" and rules_drift(LOADED, None) == ""
    assert rules_drift(LOADED, LOADED) == ""
