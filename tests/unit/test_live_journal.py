"""Rollback's journal is a list of plan operations, run backwards by the same Runner.run (fake kernel, no root)."""

from __future__ import annotations

import ipaddress

import pytest

from tests.unit.test_live_indexes import FakeKernel, runner
from topograph.cli.report import print_commands
from topograph.live import netlink as nl
from topograph.live.changes import Change, Diff
from topograph.plan import (
    AddAddress,
    AddRoute,
    CreateBridge,
    DeleteAddress,
    DeleteLink,
    DeleteRoute,
    LoadNftables,
    MasqueradeRule,
)


def test_a_rollback_runs_the_journal_backwards_as_plan_operations() -> None:
    kernel = FakeKernel()
    r = runner(kernel)  # no namespace of its own run: every change is journalled
    r.run(CreateBridge(node="host", netns=None, ifname="br0"))
    address = AddAddress("host", None, "br0", ipaddress.ip_interface("192.0.2.1/24"))
    route = AddRoute("host", None, ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_address("192.0.2.2"), "br0")
    r.run(address)
    r.run(route)
    assert r.journal == [DeleteLink("host", None, "br0"), DeleteAddress("host", None, "br0", address.address),
                         DeleteRoute("host", None, route.to, route.via, "br0")]
    root = kernel(None)
    added_route = next(body for kind, body in root.sent if kind == nl.RTM_NEWROUTE)
    root.sent.clear()
    done, problems = r.rollback()
    assert problems == [] and r.journal == []
    assert [kind for kind, _ in root.sent] == [nl.RTM_DELROUTE, nl.RTM_DELADDR, nl.RTM_DELLINK]
    assert root.sent[0][1] == added_route  # the route as it was added, by the same builder
    assert root.sent[2][1] == nl.link_named("br0")
    assert done == ["put back: host (root namespace): delete route 198.51.100.0/24 via 192.0.2.2 dev br0",
                    "put back: host (root namespace): delete address 192.0.2.1/24 from br0",
                    "deleted interface br0 in root namespace"]


def test_what_rollback_runs_journals_nothing() -> None:
    kernel = FakeKernel()
    r = runner(kernel)
    r.run(CreateBridge(node="host", netns=None, ifname="br0"))
    r.undoing = True
    r.run(AddAddress("host", None, "br0", ipaddress.ip_interface("192.0.2.1/24")))
    assert r.journal == [DeleteLink("host", None, "br0")]


def test_a_dry_run_prints_a_reload_of_rules_as_delete_then_load(capsys: pytest.CaptureFixture[str]) -> None:
    """apply replaces a NAT table in one transaction; the script's load only adds: so the printed commands delete first."""
    load = LoadNftables("gw", "t1-gw", "tg_undo", (MasqueradeRule(ipaddress.ip_network("10.9.0.0/24"), "up0"),), ())
    d = Diff(changes=[Change("drifted", "gw: reload", op=load),
                      Change("extra", "gw: address", removal=DeleteAddress("gw", "t1-gw", "eth0",
                                                                            ipaddress.ip_interface("10.9.0.9/24")))])
    assert d.operations == [load, d.after[0]]
    print_commands(d)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# the 2 operations apply would run")
    assert out[1:4] == ["if ip netns exec t1-gw nft list table inet tg_undo >/dev/null 2>&1; then",
                        "    ip netns exec t1-gw nft delete table inet tg_undo", "fi"]
    assert out[4].startswith("# gw: masquerade 10.9.0.0/24") and out[5] == "ip netns exec t1-gw nft -f - <<'TOPOGRAPH_EOF'"
    assert out[-1] == "ip -n t1-gw addr del 10.9.0.9/24 dev eth0"
