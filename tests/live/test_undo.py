"""Undo is complete: converge resets what the file no longer says, a failed converge undoes every step,
and a namespace file left unmounted by a killed run is named by status and repaired by apply and destroy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.live.conftest import Sandbox
from tests.live.test_apply_samples import lab_plan, lab_up, tg
from topograph.live.kernel import netns_path

pytestmark = pytest.mark.live

SEED = ROOT / "samples" / "06-port-forward.yml"

LAB = """\
lab: undo
nodes:
  gw:
    forwarding: true
    interfaces:
      eth0: {address: 10.9.0.1/24, mtu: 1400}
      up0: 203.0.113.2/24
    nat:
      - {masquerade: 10.9.0.0/24, out: up0}
    port_forwards:
      - {proto: tcp, port: 80, to: 10.9.0.2:80}
  inside:
    interfaces:
      eth0: {address: 10.9.0.2/24, mtu: 1400, mac: "02:00:00:00:09:02"}
    routes: [{to: default, via: 10.9.0.1}]
  out:
    interfaces: {eth0: 203.0.113.1/24}
links:
  - [gw:eth0, inside:eth0]
  - [gw:up0, out:eth0]
"""
PORT_FORWARDS = "    port_forwards:\n      - {proto: tcp, port: 80, to: 10.9.0.2:80}\n"
NAT = "    nat:\n      - {masquerade: 10.9.0.0/24, out: up0}\n"


def _lab(sb: Sandbox, tmp_path: Path, *options: str) -> tuple[Path, tuple[str, ...]]:
    """LAB applied in `sb`: its file (for the test to rewrite) and the arguments that name it."""
    path = tmp_path / "undo.yml"
    path.write_text(LAB)
    sb.claim_plan(lab_plan(path, sb.prefix))
    args = ("--sandbox", sb.prefix, str(path))
    done = tg(tmp_path, "apply", *options, *args)
    assert done.returncode == 0, done.stderr
    assert tg(tmp_path, "status", *args).returncode == 0
    return path, args


def _nat_rules(sb: Sandbox, firewall: str) -> str:
    netns = sb.prefix + "gw"
    argv = ["nft", "list", "ruleset"] if firewall == "nftables" else ["iptables-save", "-t", "nat"]
    return sb.exec(netns, *argv).stdout


def _converge(tmp_path: Path, args: tuple[str, ...], state: str, words: str) -> None:
    """status names the change, apply makes it, and the lab is up to date after."""
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2 and f"{state} " in status.stdout and words in status.stdout, status.stdout
    done = tg(tmp_path, "apply", *args)
    assert done.returncode == 0, done.stderr
    after = tg(tmp_path, "status", *args)
    assert after.returncode == 0, after.stdout


@pytest.mark.parametrize("firewall", ["nftables", "iptables"])
@pytest.mark.parametrize("removed", ["port forwards", "NAT and port forwards"])
def test_rules_the_file_no_longer_has_are_removed(sandbox: Sandbox, tmp_path: Path, firewall: str,
                                                  removed: str) -> None:
    path, args = _lab(sandbox, tmp_path, "--firewall", firewall)
    assert "10.9.0.2:80" in _nat_rules(sandbox, firewall)
    text = LAB.replace(PORT_FORWARDS, "")
    if removed == "NAT and port forwards":
        text = text.replace(NAT, "")
    path.write_text(text)
    _converge(tmp_path, args, "drifted" if removed == "port forwards" else "extra",
              "load" if removed == "port forwards" else "the file has no NAT, port forward or filter here any more")
    rules = _nat_rules(sandbox, firewall)
    assert "10.9.0.2:80" not in rules
    assert ("10.9.0.0/24" in rules) == (removed == "port forwards")
    assert tg(tmp_path, "destroy", *args).returncode == 0
    assert sandbox.left() == []


def _link(sb: Sandbox, node: str) -> str:
    return sb.exec(sb.prefix + node, "ip", "-o", "link", "show", "dev", "eth0").stdout


def test_an_mtu_the_file_no_longer_sets_is_reset_to_the_kernels(sandbox: Sandbox, tmp_path: Path) -> None:
    path, args = _lab(sandbox, tmp_path)
    assert " mtu 1400 " in _link(sandbox, "inside") and " mtu 1400 " in _link(sandbox, "gw")
    path.write_text(LAB.replace(", mtu: 1400", ""))
    _converge(tmp_path, args, "drifted", "eth0 has MTU 1400; the file sets none: the kernel's 1500")
    assert " mtu 1500 " in _link(sandbox, "inside") and " mtu 1500 " in _link(sandbox, "gw")
    assert tg(tmp_path, "verify", *args).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_a_mac_the_file_no_longer_sets_goes_with_the_pair_made_again(sandbox: Sandbox, tmp_path: Path) -> None:
    path, args = _lab(sandbox, tmp_path)
    assert "02:00:00:00:09:02" in _link(sandbox, "inside")
    path.write_text(LAB.replace(', mac: "02:00:00:00:09:02"', ""))
    _converge(tmp_path, args, "drifted", "eth0 keeps the MAC an earlier apply set")
    assert "02:00:00:00:09:02" not in _link(sandbox, "inside")
    inside = sandbox.prefix + "inside"
    assert sandbox.ping(inside, "10.9.0.1")  # the address came back with the pair, and its route
    assert "default via 10.9.0.1 dev eth0" in sandbox.exec(inside, "ip", "route").stdout
    assert tg(tmp_path, "destroy", *args).returncode == 0


@pytest.mark.parametrize("fail_at", [1, 3])
def test_a_failed_converge_makes_the_pair_it_deleted_again(sandbox: Sandbox, tmp_path: Path, fail_at: int) -> None:
    # the pair is deleted before the steps (to take a MAC of the kernel's) and the run fails at step 1 (nothing
    # made yet) or 3 (the new pair made): rollback makes the old pair again as it was, both ends, in two namespaces
    path, args = _lab(sandbox, tmp_path)
    path.write_text(LAB.replace(', mac: "02:00:00:00:09:02"', ""))
    status = tg(tmp_path, "status", *args).stdout
    assert "eth0 keeps the MAC an earlier apply set" in status, status
    inside = sandbox.prefix + "inside"
    routes = sandbox.exec(inside, "ip", "route").stdout
    failed = tg(tmp_path, "apply", *args, extra_env={"TOPOGRAPH_FAIL_AT": str(fail_at)})
    assert failed.returncode == 1 and f"failed at step {fail_at} of" in failed.stderr, failed.stderr
    assert "problems" not in failed.stderr, failed.stderr
    assert "02:00:00:00:09:02" in _link(sandbox, "inside") and " mtu 1400 " in _link(sandbox, "gw")
    assert sandbox.exec(inside, "ip", "route").stdout == routes
    assert tg(tmp_path, "status", *args).stdout == status  # everything as before the failed run
    assert sandbox.ping(inside, "10.9.0.1")  # (the sandbox fixture removes the lab)


def test_up_false_sets_a_link_down_and_its_removal_sets_it_up(sandbox: Sandbox, tmp_path: Path) -> None:
    path, args = _lab(sandbox, tmp_path)
    down = LAB.replace("address: 10.9.0.2/24, mtu: 1400", "address: 10.9.0.2/24, mtu: 1400, up: false")
    path.write_text(down.replace("    routes: [{to: default, via: 10.9.0.1}]\n", ""))  # no route over a down link
    _converge(tmp_path, args, "drifted", "eth0 is up; the file says up: false")
    assert ",UP" not in _link(sandbox, "inside")
    path.write_text(LAB)
    _converge(tmp_path, args, "drifted", "set eth0 up")
    assert ",UP" in _link(sandbox, "inside")
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_a_failed_converge_puts_back_what_it_changed_in_place(sandbox: Sandbox, tmp_path: Path) -> None:
    _, args = _lab(sandbox, tmp_path)
    inside = sandbox.prefix + "inside"
    # by hand: another MTU and MAC, and the link down (so its route went too)
    for change in (["mtu", "1300"], ["address", "02:00:00:00:09:99"], ["down"]):
        assert sandbox.exec(inside, "ip", "link", "set", "eth0", *change).returncode == 0
    broken = _link(sandbox, "inside")
    status = tg(tmp_path, "status", *args).stdout
    steps = 4  # MAC, MTU, up, the route
    assert f"missing 1, drifted {steps - 1}" in status, status
    failed = tg(tmp_path, "apply", *args, extra_env={"TOPOGRAPH_FAIL_AT": str(steps + 1)})
    assert failed.returncode == 1 and f"after step {steps} of {steps}" in failed.stderr, failed.stderr
    assert "problems" not in failed.stderr
    assert _link(sandbox, "inside") == broken
    assert tg(tmp_path, "status", *args).stdout == status
    assert tg(tmp_path, "apply", *args).returncode == 0
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0


def test_a_failed_repair_of_a_downed_seed_link_leaves_it_down(sandbox: Sandbox, tmp_path: Path) -> None:
    _, args = lab_up(sandbox, tmp_path, SEED)
    blue = sandbox.prefix + "blue"
    assert sandbox.exec(blue, "ip", "link", "set", "veth-blue", "down").returncode == 0
    status = tg(tmp_path, "status", *args).stdout
    failed = tg(tmp_path, "apply", *args, extra_env={"TOPOGRAPH_FAIL_AT": "4"})
    assert failed.returncode == 1 and "this run's changes are undone" in failed.stderr, failed.stderr
    assert ",UP" not in sandbox.exec(blue, "ip", "-o", "link", "show", "dev", "veth-blue").stdout
    assert tg(tmp_path, "status", *args).stdout == status
    assert tg(tmp_path, "destroy", *args).returncode == 0


def _unmount(netns: str) -> None:
    """What a run killed between unmounting and unlinking a namespace leaves: the bare file."""
    assert subprocess.run(["umount", str(netns_path(netns))], check=False).returncode == 0
    assert netns_path(netns).is_file() and not os.path.ismount(netns_path(netns))


def test_a_namespace_file_left_unmounted_is_named_by_status_and_repaired(sandbox: Sandbox, tmp_path: Path) -> None:
    _, args = lab_up(sandbox, tmp_path, SEED)
    red = sandbox.prefix + "red"
    _unmount(red)
    status = tg(tmp_path, "status", *args)
    assert status.returncode == 2, status.stderr
    assert "Errno" not in status.stderr
    said = f"namespace file {netns_path(red)} is left from a killed run; destroy or apply repairs it"
    assert said in status.stdout
    inside = tg(tmp_path, "exec", *args, "red", "--", "true")
    assert inside.returncode == 1 and inside.stderr == f"topograph: {said}\n"
    done = tg(tmp_path, "apply", *args)
    assert done.returncode == 0, done.stderr
    assert os.path.ismount(netns_path(red))
    assert tg(tmp_path, "status", *args).returncode == 0
    assert tg(tmp_path, "verify", *args).returncode == 0
    _unmount(red)
    gone = tg(tmp_path, "destroy", *args)
    assert gone.returncode == 0, gone.stderr
    assert sandbox.left() == []


def test_a_bare_namespace_file_of_no_record_is_not_ours(sandbox: Sandbox, tmp_path: Path) -> None:
    _, args = lab_up(sandbox, tmp_path, SEED)
    assert tg(tmp_path, "destroy", *args).returncode == 0
    theirs = netns_path(sandbox.prefix + "blue")
    theirs.touch()  # in no record: apply must not take it
    try:
        done = tg(tmp_path, "apply", *args)
        assert done.returncode == 1 and "is neither in lab seed's record nor marked as its own (a bare file" in done.stderr
        assert theirs.is_file() and sandbox.left() == [sandbox.prefix + "blue"]
    finally:
        theirs.unlink()


def test_the_dry_run_s_commands_do_what_apply_would(sandbox: Sandbox, tmp_path: Path) -> None:
    """apply --dry-run --commands prints the shell form of the operations apply would run, removals
    included: run by bash instead, they bring the lab where apply would (status finds nothing to do)."""
    path, args = _lab(sandbox, tmp_path)
    gw, inside = sandbox.prefix + "gw", sandbox.prefix + "inside"
    assert sandbox.exec(inside, "ip", "link", "add", "extra0", "type", "bridge").returncode == 0
    assert sandbox.exec(inside, "ip", "addr", "add", "10.9.0.9/24", "dev", "eth0").returncode == 0
    assert sandbox.exec(gw, "iptables", "-A", "FORWARD", "-j", "DROP").returncode == 0
    changed = LAB.replace("address: 10.9.0.1/24, mtu: 1400", "address: 10.9.0.1/24")  # the kernel's MTU again
    path.write_text(changed.replace("    routes: [{to: default, via: 10.9.0.1}]\n", ""))
    assert tg(tmp_path, "apply", "--commands", *args).returncode == 1  # only with --dry-run
    dry = tg(tmp_path, "apply", "--dry-run", "--commands", *args)
    assert dry.returncode == 0, dry.stderr
    head = "# the 5 operations apply would run, in its order, as shell commands (apply itself uses netlink):\n"
    assert head in dry.stdout, dry.stdout
    script = dry.stdout.split(head, 1)[1]
    assert script.splitlines() == [
        f"ip -n {gw} link set dev eth0 mtu 1500",
        f"if ip -n {inside} link show dev extra0 >/dev/null 2>&1; then ip -n {inside} link del dev extra0; fi",
        f"ip -n {inside} addr del 10.9.0.9/24 dev eth0",
        f"ip -n {inside} route del default via 10.9.0.1 dev eth0 metric 0",
        f"ip netns exec {gw} iptables-restore --noflush <<'TOPOGRAPH_EOF'", "*filter", "-D FORWARD -j DROP", "COMMIT",
        "TOPOGRAPH_EOF"]
    assert status_of(tmp_path, args) == 2
    done = sandbox.script(script)
    assert done.returncode == 0, done.stderr
    assert status_of(tmp_path, args) == 0
    assert tg(tmp_path, "destroy", *args).returncode == 0


def status_of(tmp_path: Path, args: tuple[str, ...]) -> int:
    return tg(tmp_path, "status", *args).returncode
