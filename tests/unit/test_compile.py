"""`topograph compile`: golden scripts for every sample and mode, the CLI contract, and injection-proof quoting."""

from __future__ import annotations

import ipaddress
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from shlex import quote as shlex_quote
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SAMPLES
from topograph import compile as renderer
from topograph.cli import main
from topograph.model import Proto
from topograph.plan import (
    AddAddress,
    AddRoute,
    CreateBridge,
    CreateNetns,
    CreateVeth,
    DnatRule,
    EnslavePort,
    LinkUp,
    LoadNftables,
    LoopbackUp,
    MarkNetns,
    MasqueradeRule,
    Plan,
    SetMac,
    SetMtu,
    SetSysctls,
    Sysctl,
    VethEnd,
)

GOLDEN = ROOT / "tests" / "golden" / "compile"
HOSTILE = GOLDEN / "hostile"
SEED = ROOT / "samples" / "06-port-forward.yml"
PREFIX = "sb-"

#: (golden file name, extra compile arguments)
MODES: list[tuple[str, list[str]]] = [
    ("setup.sh", []),
    ("teardown.sh", ["--teardown"]),
    ("sandbox-setup.sh", ["--sandbox", PREFIX]),
    ("sandbox-teardown.sh", ["--teardown", "--sandbox", PREFIX]),
]


def compile_cli(monkeypatch: pytest.MonkeyPatch, path: Path, *args: str) -> tuple[int, str, str]:
    """Run `topograph compile` from the file's folder, so messages hold a stable relative path."""
    monkeypatch.chdir(path.parent)
    result = CliRunner().invoke(main, ["compile", *args, path.name])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("mode", MODES, ids=[m[0] for m in MODES])
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_golden_script(sample: Path, mode: tuple[str, list[str]], golden: Callable[[Path, str], None],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    name, args = mode
    code, out, err = compile_cli(monkeypatch, sample, *args)
    assert code == 0, err
    golden(GOLDEN / sample.stem / name, out)


@pytest.mark.parametrize("mode", MODES, ids=[m[0] for m in MODES])
def test_golden_seed_with_iptables(mode: tuple[str, list[str]], golden: Callable[[Path, str], None],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    name, args = mode
    code, out, err = compile_cli(monkeypatch, SEED, "--firewall", "iptables", *args)
    assert code == 0, err
    golden(GOLDEN / "06-port-forward-iptables" / name, out)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("mode", MODES, ids=[m[0] for m in MODES])
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_scripts_are_valid_bash(sample: Path, mode: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = compile_cli(monkeypatch, sample, *mode[1])
    assert code == 0
    done = subprocess.run(["bash", "-n"], input=out, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_same_file_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    first = compile_cli(monkeypatch, SEED, "--sandbox", "x-")
    assert first == compile_cli(monkeypatch, SEED, "--sandbox", "x-")


def test_hostile_names_are_rejected_before_a_byte_is_printed(golden: Callable[[Path, str], None],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = compile_cli(monkeypatch, HOSTILE / "hostile.yml", "--sandbox", "x-")
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    golden(HOSTILE / "hostile.log", err)


@pytest.mark.parametrize("args", [["--teardown"], ["--sandbox", "x-"], []])
def test_invalid_file_prints_nothing_on_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(SEED.read_text().replace("via: 192.168.15.5}]", "via: 10.9.9.9}]", 1))
    code, out, err = compile_cli(monkeypatch, bad, *args)
    assert (code, out) == (1, "")
    assert "bad.yml:" in err and "error[TG300]" in err


def test_missing_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out, err = compile_cli(monkeypatch, tmp_path / "nope.yml")
    assert code == 1 and out == "" and "nope.yml" in err


@pytest.mark.parametrize("prefix", ["", "a b", "x;reboot", "-x", "p" * 17])
def test_bad_sandbox_prefix_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    code, out, err = compile_cli(monkeypatch, SEED, "--sandbox", prefix)
    assert code == 2 and out == ""
    assert "--sandbox" in err


def test_unknown_firewall_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = compile_cli(monkeypatch, SEED, "--firewall", "pf")
    assert code == 2 and out == "" and "nftables" in err


def test_warnings_go_to_stderr_and_the_script_still_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = tmp_path / "warn.yml"
    lab.write_text("nodes:\n  a: {interfaces: {eth0: 10.0.0.1/24}}\n  b: {interfaces: {eth0: 10.0.0.2/24}}\n"
                   "  c: {}\nlinks: [[a:eth0, b:eth0]]\n")
    code, out, err = compile_cli(monkeypatch, lab)
    assert code == 0 and out.startswith("#!/usr/bin/env bash\n")
    assert "warning[TG501]" in err and "warning" not in out


def test_templates_are_found_in_the_repository_for_editable_installs() -> None:
    assert renderer.template_dir() == ROOT / "templates"
    assert (renderer.template_dir() / "ops.sh.j2").is_file()


def test_every_operation_kind_has_a_macro() -> None:
    from topograph.plan import ops

    kinds = {cls.KIND for cls in vars(ops).values() if isinstance(cls, type) and hasattr(cls, "KIND")}
    text = (renderer.template_dir() / "ops.sh.j2").read_text()
    missing = sorted(k for k in kinds if f"macro {k}(op)" not in text)
    assert not missing


# -- injection: a plan built by hand, bypassing validation, still cannot run a command -------------------

EVIL = "x$(touch PWNED)`touch PWNED`;touch PWNED"


def hostile_plan() -> Plan:
    ns = "n'" + EVIL
    table = "t\nTOPOGRAPH_EOF\ntouch PWNED\n"
    ops = (
        CreateNetns("red", ns),
        MarkNetns("red", ns, "topograph:" + EVIL),
        LoopbackUp("red", ns),
        SetSysctls("red", ns, (Sysctl(("net", "ipv4", "conf", EVIL, "rp_filter"), 1),
                               Sysctl(("net", "bridge", "x;touch PWNED"), 0, optional=True))),
        SetSysctls("host", None, (Sysctl(("net", "ipv4", "ip_forward"), 1),), save_to=EVIL + "/s"),
        CreateBridge("red", ns, "br|touch PWNED"),
        CreateVeth(VethEnd("red", ns, "a&touch PWNED"), VethEnd("blue", "b>PWNED", "c<PWNED"), 0),
        SetMac("red", ns, "a&touch PWNED", "02:00:00:00:00:01;touch PWNED"),
        SetMtu("red", ns, "a&touch PWNED", 1400),
        EnslavePort("red", ns, "a&touch PWNED", "br|touch PWNED"),
        AddAddress("red", ns, "a&touch PWNED", ipaddress.ip_interface("fd00::1/64")),
        LinkUp("red", ns, "a&touch PWNED"),
        AddRoute("red", ns, ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_address("10.0.0.1"), dev="\ntouch PWNED"),
        LoadNftables("red", ns, table, (MasqueradeRule(ipaddress.ip_network("10.0.0.0/8"), "eth0"),),
                     (DnatRule(Proto.TCP, 80, ipaddress.ip_address("10.0.0.2"), 8080, in_interface="eth0"),)),
    )
    return Plan(lab="lab$(touch PWNED)", source="x;touch PWNED.yml", prefix="p$(touch PWNED)", firewall="nftables",
                operations=ops, notes=("note\ntouch PWNED",))


def test_hostile_plan_golden(golden: Callable[[Path, str], None]) -> None:
    golden(HOSTILE / "hand-made-plan.sh", renderer.render_setup(hostile_plan()))


def _stub(bin_dir: Path, name: str, log: Path) -> None:
    path = bin_dir / name
    # one record per call: each argument NUL-terminated, then one more NUL
    path.write_text(f'#!/bin/sh\nprintf "%s\\0" {name} "$@" >> "{log}"\nprintf "\\0" >> "{log}"\ncat >/dev/null\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_hostile_plan_runs_no_injected_command(tmp_path: Path) -> None:
    """The script runs against stub tools that only log their arguments: nothing else may happen."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("ip", "sysctl", "nft"):
        _stub(bin_dir, tool, log)
    script = renderer.render_setup(hostile_plan()).replace('if [ "$EUID" -ne 0 ]', "if false")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    (tmp_path / "setup.sh").write_text(script)
    done = subprocess.run(["bash", "setup.sh"], stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp_path,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "PWNED").exists(), "an injected command ran"
    down = renderer.render_teardown(hostile_plan()).replace('if [ "$EUID" -ne 0 ]', "if false")
    assert "topograph:" + EVIL not in down.replace(shlex_quote("topograph:" + EVIL), ""), "the mark is quoted"
    (tmp_path / "teardown.sh").write_text(down)
    done = subprocess.run(["bash", "teardown.sh"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          cwd=tmp_path, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "PWNED").exists(), "an injected command ran"
    calls = [record.split("\0") for record in log.read_text().split("\0\0") if record]
    words = [w for call in calls for w in call]
    assert "n'" + EVIL in words and "a&touch PWNED" in words and "br|touch PWNED" in words
    assert "02:00:00:00:00:01;touch PWNED" in words and "\ntouch PWNED" in words


def test_iptables_with_both_families_renders_valid_bash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = tmp_path / "six.yml"
    lab.write_text("""
nodes:
  gw:
    forwarding: true
    interfaces: {up0: [203.0.113.2/24, "2001:db8:1::2/64"], in0: [10.0.0.1/24, "fd00::1/64"]}
    nat: [{masquerade: 10.0.0.0/24, out: up0}, {masquerade: "fd00::/64", out: up0}]
  inside: {interfaces: {eth0: [10.0.0.2/24, "fd00::2/64"]}}
  outside: {interfaces: {eth0: [203.0.113.1/24, "2001:db8:1::1/64"]}}
links: [[gw:in0, inside:eth0], [gw:up0, outside:eth0]]
""")
    for args in (["--sandbox", "x-"], ["--teardown", "--sandbox", "x-"]):
        code, out, err = compile_cli(monkeypatch, lab, "--firewall", "iptables", *args)
        assert code == 0, err
        done = subprocess.run(["bash", "-n"], input=out, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    code, out, _ = compile_cli(monkeypatch, lab, "--firewall", "iptables", "--sandbox", "x-")
    assert "ip netns exec x-gw iptables-restore --noflush <<'TOPOGRAPH_EOF'" in out
    assert "ip netns exec x-gw ip6tables-restore --noflush <<'TOPOGRAPH_EOF'" in out
    assert "for tool in ip ip6tables-restore iptables-restore sysctl; do" in out


def test_teardown_renders_from_either_plan() -> None:
    from topograph.pipeline import check_file
    from topograph.plan import plan, reverse

    checked = check_file(SEED)
    assert checked.topology is not None
    p = plan(checked.topology, sandbox_prefix="x-")
    assert renderer.render_teardown(p) == renderer.render_teardown(reverse(p))
    with pytest.raises(ValueError):
        renderer.render_setup(reverse(p))


def test_compiled_templates_cached_under_other_options_are_not_used(tmp_path: Path) -> None:
    """jinja2 keys cached template code by name and source only; topograph's cache adds the options."""
    import jinja2

    loader = jinja2.FileSystemLoader(str(renderer.template_dir()))
    other = jinja2.Environment(loader=loader, bytecode_cache=jinja2.FileSystemBytecodeCache(str(tmp_path)),
                               keep_trailing_newline=False)
    other.filters.update(renderer.environment().filters)
    assert not other.from_string("x\n").render().endswith("\n")  # what such code would do
    other.get_template("teardown.sh.j2")  # cached, compiled without the trailing newline
    ours = jinja2.Environment(loader=loader, bytecode_cache=renderer._TemplateCache(str(tmp_path)),
                              undefined=jinja2.StrictUndefined, **renderer._OPTIONS)
    ours.filters.update(renderer.environment().filters)
    empty = Plan(lab="x", source="x.yml", prefix=None, firewall="nftables", operations=())
    text = ours.get_template("teardown.sh.j2").render(plan=empty, sections=[], tools=["ip"], mode_lines=[])
    assert text.endswith('did not make" >&2\nfi\n')
    assert len(list(tmp_path.iterdir())) == 2  # one entry each: the keys differ


def test_the_reset_operations_render_as_ip_commands() -> None:
    from topograph.plan import LinkDown, ReleasePort

    macros: Any = renderer.environment().get_template("ops.sh.j2").module  # its macros are attributes mypy cannot see
    assert str(macros.link_down(LinkDown("red", "t1-red", "veth-red"))) == "ip -n t1-red link set dev veth-red down"
    assert str(macros.release_port(ReleasePort("host", None, "p 1"))) == "ip link set dev 'p 1' nomaster"


def test_every_operation_kind_has_a_macro_and_a_section() -> None:
    """The shell back end renders each kind by the macro of its KIND: a kind without one would fail at compile time."""
    from typing import get_args

    from topograph.plan import SECTIONS, Operation

    macros = renderer.environment().get_template("ops.sh.j2").module
    kinds = get_args(Operation)
    assert len(kinds) >= 20
    for kind in kinds:
        assert callable(getattr(macros, kind.KIND, None)), f"templates/ops.sh.j2 has no macro {kind.KIND} for {kind.__name__}"
        assert kind.SECTION in SECTIONS, kind.__name__


def test_the_undo_operations_render_as_the_shell_form_of_the_same_action() -> None:
    from topograph.plan import (
        DeleteAddress,
        DeleteIptablesRule,
        DeleteRoute,
        RestoreIptables,
        RestoreNftables,
        SetSysctls,
        Sysctl,
    )

    macros: Any = renderer.environment().get_template("ops.sh.j2").module
    ns = "t1-red"
    assert (str(macros.delete_address(DeleteAddress("red", ns, "veth-red", ipaddress.ip_interface("10.0.0.1/24"))))
            == "ip -n t1-red addr del 10.0.0.1/24 dev veth-red")
    route = DeleteRoute("host", None, ipaddress.ip_network("::/0"), ipaddress.ip_address("fd00::1"), "e 0", 1024)
    assert str(macros.delete_route(route)) == "ip -6 route del default via fd00::1 dev 'e 0' metric 1024"
    assert (str(macros.delete_route(DeleteRoute("red", ns, ipaddress.ip_network("10.1.0.0/16"))))
            == "ip -n t1-red route del 10.1.0.0/16")
    listed = "table inet tg_seed {\n\tchain postrouting {\n\t}\n}\n"
    assert str(macros.restore_nftables(RestoreNftables("red", ns, "tg_seed", listed))).splitlines() == [
        "ip netns exec t1-red nft -f - <<'TOPOGRAPH_EOF'", "table inet tg_seed", "delete table inet tg_seed",
        *listed.splitlines(), "TOPOGRAPH_EOF"]
    lines = (":PRE", "-A PREROUTING -j PRE", "-A PRE -p tcp -j DNAT --to-destination 10.0.0.2:80")
    restored = str(macros.restore_iptables(RestoreIptables("red", ns, 6, "PRE", "POST", lines))).splitlines()
    assert restored[0] == "while ip netns exec t1-red ip6tables -t nat -D PREROUTING -j PRE 2>/dev/null; do :; done"
    assert restored[-7:] == ["ip netns exec t1-red ip6tables-restore --noflush <<'TOPOGRAPH_EOF'", "*nat",
                             ":PRE - [0:0]", *lines[1:], "COMMIT", "TOPOGRAPH_EOF"]
    gone = str(macros.restore_iptables(RestoreIptables("red", ns, 4, "PRE", "POST", None)))
    assert "-X POST" in gone and "restore" not in gone
    rule = DeleteIptablesRule("red", ns, 4, "filter", ":FORWARD DROP")
    assert str(macros.delete_iptables_rule(rule)).splitlines() == [
        "ip netns exec t1-red iptables-restore --noflush <<'TOPOGRAPH_EOF'", "*filter", ":FORWARD ACCEPT [0:0]",
        "COMMIT", "TOPOGRAPH_EOF"]
    back = SetSysctls("host", None, (Sysctl(("net", "ipv4", "ip_forward"), 0),))  # sysctls put back: the same kind
    assert str(macros.set_sysctls(back)) == "sysctl -q -w \\\n    net.ipv4.ip_forward=0"
    for text in (restored, gone.splitlines()):
        assert subprocess.run(["bash", "-n"], input="\n".join(text) + "\n", text=True, check=False).returncode == 0
