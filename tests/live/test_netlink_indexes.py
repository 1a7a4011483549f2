"""The kernel picks interface indexes where other processes make interfaces too (real mode's root namespace).

The runner runs as in real mode — its own namespace taken for the root one — inside a namespace of
this test, so that the machine's root namespace is never touched.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.live.conftest import Sandbox

pytestmark = pytest.mark.live

# Inside the namespace: the runner looks (lo only), another process then makes an interface and so
# takes the next free index, then the runner creates a bridge with an address and a veth pair.
_RACE = r"""
import ipaddress, json, subprocess
from topograph.live.execute import Runner
from topograph.live.kernel import Namespaces
from topograph.live.nlsocket import Sockets
from topograph.plan import AddAddress, CreateBridge, CreateVeth, LinkUp, VethEnd

ns = Namespaces()
runner = Runner(ns, Sockets(ns))
runner.known(None)
subprocess.run(["ip", "link", "add", "other0", "type", "bridge"], check=True)
runner.execute([
    CreateBridge(node="h", netns=None, ifname="br-race"),
    CreateVeth(a=VethEnd("h", None, "va"), b=VethEnd("h", None, "vb"), link=0),
    AddAddress(node="h", netns=None, ifname="br-race", address=ipaddress.ip_interface("192.0.2.1/24")),
    LinkUp(node="h", netns=None, ifname="br-race"),
])
shown = subprocess.run(["ip", "-j", "addr", "show", "dev", "br-race"], capture_output=True, text=True, check=True)
addresses = [a["local"] for link in json.loads(shown.stdout) for a in link["addr_info"] if a["family"] == "inet"]
print(json.dumps({"indexes": runner.indexes[None], "br-race": addresses}), flush=True)
runner.rollback()
"""


def _links(sandbox: Sandbox, netns: str) -> dict[str, int]:
    shown = json.loads(sandbox.exec(netns, "ip", "-j", "link", "show").stdout)
    return {link["ifname"]: link["ifindex"] for link in shown}


def test_an_interface_made_by_another_process_meanwhile_takes_no_index_of_ours(sandbox: Sandbox) -> None:
    netns = sandbox.prefix + "shared"
    sandbox.claim([netns])
    subprocess.run(["ip", "netns", "add", netns], check=True, timeout=30)
    done = sandbox.exec(netns, sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + _RACE,
                        timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    used = seen["indexes"]
    assert seen["br-race"] == ["192.0.2.1"]  # the address went to the index learnt back
    left = _links(sandbox, netns)
    # the kernel's own choices, learnt back: none collides with the other process's interface
    assert set(used) == {"lo", "br-race", "va", "vb"}
    assert len({*used.values(), left["other0"]}) == 5
    # rollback deleted exactly what the runner made, by those indexes, and left the other one alone
    assert set(left) == {"lo", "other0"}
