"""Route forms the kernel accepts that check used to refuse (issue 13): each lab in tests/golden/trace/forms/
against the kernel, every flow (tests/live/test_differential.py), and the onlink flag as apply sets it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tests.live.conftest import Sandbox
from tests.live.test_differential import COUNT, FIRST_SEED, _differential
from topograph.cli import main
from topograph.pipeline import check_file
from topograph.sim.labgen import generate

pytestmark = pytest.mark.live

FORMS = sorted((ROOT / "tests" / "golden" / "trace" / "forms").glob("*.yml"))


@pytest.mark.parametrize("case", FORMS, ids=lambda p: p.stem)
def test_route_form_labs_match_the_kernel(sandbox: Sandbox, case: Path) -> None:
    _differential(sandbox, case)


def test_apply_sets_the_onlink_flag_and_status_sees_it(sandbox: Sandbox) -> None:
    lab = ROOT / "samples" / "13-onlink-gateway.yml"
    sandbox.claim([sandbox.prefix + n for n in ("red", "router", "server")])
    runner = CliRunner()
    done = runner.invoke(main, ["apply", "--sandbox", sandbox.prefix, str(lab)])
    assert done.exit_code == 0, done.output
    shown = {family: subprocess.run(["ip", "-n", sandbox.prefix + "red", family, "-d", "route", "show", "default"],
                                    capture_output=True, text=True, check=True).stdout for family in ("-4", "-6")}
    assert "via 172.16.0.1 dev eth0" in shown["-4"] and " onlink" in shown["-4"], shown
    assert "via fd16::1 dev eth0" in shown["-6"] and " onlink" in shown["-6"], shown
    status = runner.invoke(main, ["status", "--sandbox", sandbox.prefix, str(lab)])
    assert "nothing differs" in status.output, status.output
    verify = runner.invoke(main, ["verify", "--sandbox", sandbox.prefix, str(lab)])
    assert verify.exit_code == 0, verify.output
    gone = runner.invoke(main, ["destroy", "--sandbox", sandbox.prefix, str(lab)])
    assert gone.exit_code == 0, gone.output


@pytest.mark.parametrize("case", [c for c in FORMS if "expect:" in c.read_text()], ids=lambda p: p.stem)
def test_route_form_labs_applied_over_netlink_verify(sandbox: Sandbox, case: Path) -> None:
    """The same install order through `apply` (netlink) as through the compiled script: every expectation holds."""
    checked = check_file(case)
    assert checked.ok and checked.topology is not None
    sandbox.claim([sandbox.prefix + n.name for n in checked.topology.nodes])
    runner = CliRunner()
    done = runner.invoke(main, ["apply", "--sandbox", sandbox.prefix, str(case)])
    assert done.exit_code == 0, done.output
    verify = runner.invoke(main, ["verify", "--sandbox", sandbox.prefix, str(case)])
    assert verify.exit_code == 0 and "all as predicted" in verify.output, verify.output
    gone = runner.invoke(main, ["destroy", "--sandbox", sandbox.prefix, str(case)])
    assert gone.exit_code == 0, gone.output


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + COUNT))
def test_random_labs_with_the_route_forms_match_the_kernel(sandbox: Sandbox, tmp_path: Path, seed: int) -> None:
    """labgen's `forms`: reused subnets (TG203, and TG212 over IPv6), shared addresses (TG202) and onlink routes, every flow."""
    case = tmp_path / f"forms{seed}.yml"
    case.write_text(generate(seed, forms=True))
    _differential(sandbox, case)


def test_gateways_check_refuses_are_the_ones_the_kernel_refuses(sandbox: Sandbox) -> None:
    """TG307: every route of the golden case that check refuses, `ip route add` refuses in a namespace with the
    node's interfaces and addresses; the ones it lets through (a network and an anycast address), the kernel takes."""
    import yaml

    case = ROOT / "tests" / "golden" / "errors" / "TG307-gateway-refused.yml"
    refused = {d.path for d in check_file(case).report if d.code == "TG307"}
    node = yaml.safe_load(case.read_text())["nodes"]["r"]
    ns = sandbox.prefix + "r"
    sandbox.claim([ns])

    def ip(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True, check=False)

    subprocess.run(["ip", "netns", "add", ns], check=True)
    assert ip("link", "set", "lo", "up").returncode == 0
    for name, addresses in node["interfaces"].items():
        if name != "lo":
            assert ip("link", "add", name, "type", "veth", "peer", "name", f"{name}-peer").returncode == 0
            assert ip("link", "set", f"{name}-peer", "up").returncode == 0
            assert ip("link", "set", name, "up").returncode == 0
        for a in addresses:
            assert ip("addr", "add", a, "dev", name, *(["nodad"] if ":" in a else [])).returncode == 0
    for i, route in enumerate(node["routes"]):
        args = ["route", "add", route["to"], "via", route["via"]]
        args += ["dev", route["dev"]] if "dev" in route else []
        args += ["onlink"] if route.get("onlink") else []
        done = ip(*args)
        assert (done.returncode != 0) == (f"nodes.r.routes[{i}]" in refused), (args, done.stderr)
    assert len(refused) == 8
