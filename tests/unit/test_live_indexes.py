"""Who picks a new interface's index: the runner in namespaces of its own run, the kernel everywhere else.

The runner talks to a fake kernel here (no root needed) that hands out indexes the way the real one
does when a request leaves the index 0, starting well above what the runner's dump showed, as if
another process had made interfaces in between.
"""

from __future__ import annotations

import errno
import ipaddress
import struct
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from topograph.live import netlink as nl
from topograph.live.execute import Runner
from topograph.live.kernel import KernelError
from topograph.plan import AddAddress, CreateBridge, CreateVeth, DeleteLink, MarkLink, VethEnd

TAKEN = 40  # the kernel's next free index: others took the ones after lo meanwhile


def index_of(link_body: bytes) -> int:
    return int(struct.unpack_from("=i", link_body, 4)[0])


class FakeSocket:
    def __init__(self, kernel: FakeKernel, netns: str | None) -> None:
        self.kernel, self.netns = kernel, netns
        self.names: dict[str, int] = {"lo": 1}
        self.next = TAKEN
        self.sent: list[tuple[int, bytes]] = []

    def _make(self, name: str, index: int) -> int:
        if not index:
            index, self.next = self.next, self.next + 1
        self.names[name] = index
        return index

    def request(self, kind: int, body: bytes, *, create: bool = False) -> None:
        self.sent.append((kind, body))
        if kind == nl.RTM_NEWLINK and create:
            attrs = nl.parse_attrs(body, 16)
            self._make(nl.text(attrs[nl.IFLA_IFNAME]), index_of(body))
            info = nl.parse_attrs(attrs[nl.IFLA_LINKINFO])
            if nl.IFLA_INFO_DATA in info:  # a veth: the peer lands where its namespace fd says
                peer = nl.parse_attrs(info[nl.IFLA_INFO_DATA])[nl.VETH_INFO_PEER]
                where = self.kernel.by_fd.get(nl.u32(nl.parse_attrs(peer, 16).get(nl.IFLA_NET_NS_FD, b"\0" * 4)))
                self.kernel(where)._make(nl.text(nl.parse_attrs(peer, 16)[nl.IFLA_IFNAME]), index_of(peer))

    def acked(self, kind: int, body: bytes) -> int:
        self.sent.append((kind, body))
        return 0

    def links(self) -> list[nl.LinkInfo]:
        return [nl.LinkInfo(i, n, "", True, 1500, "", 0, "") for n, i in self.names.items()]

    def link(self, name: str) -> nl.LinkInfo | None:
        if self.kernel.lose_links:
            return None
        self.kernel.looked_up.append((self.netns, name))
        return nl.LinkInfo(self.names[name], name, "", False, 1500, "", 0, "")


class FakeKernel:
    """Sockets by namespace (the Runner's `socks`) and namespace fds (its `ns`), over fake sockets."""

    def __init__(self) -> None:
        self.by_ns: dict[str | None, FakeSocket] = {}
        self.by_fd: dict[int, str | None] = {}
        self.looked_up: list[tuple[str | None, str]] = []
        self.lose_links = False

    def __call__(self, netns: str | None) -> FakeSocket:
        return self.by_ns.setdefault(netns, FakeSocket(self, netns))

    def fd(self, netns: str | None) -> int:
        for fd, name in self.by_fd.items():
            if name == netns:
                return fd
        number = 100 + len(self.by_fd)
        self.by_fd[number] = netns
        return number

    @contextmanager
    def inside(self, netns: str | None) -> Iterator[None]:
        yield

    def enter(self, netns: str | None) -> None:
        pass


def runner(kernel: FakeKernel, *fresh: str) -> Runner:
    r = Runner(kernel, kernel)  # type: ignore[arg-type]
    r.created_ns.update(fresh)
    return r


def new_links(sock: FakeSocket) -> list[bytes]:
    return [body for kind, body in sock.sent if kind == nl.RTM_NEWLINK and nl.IFLA_LINKINFO in nl.parse_attrs(body, 16)]


def test_in_the_root_namespace_the_kernel_picks_and_the_runner_asks() -> None:
    kernel = FakeKernel()
    r = runner(kernel)
    r.known(None)  # the runner has seen lo only
    r.run(CreateBridge(node="host", netns=None, ifname="br0"))
    r.run(CreateVeth(a=VethEnd("host", None, "v0"), b=VethEnd("host", None, "v1"), link=0))
    for name in ("br0", "v0", "v1"):  # the plan marks each root interface right after creating it
        r.run(MarkLink(node="host", netns=None, ifname=name, alias="topograph:lab"))
    r.run(AddAddress(node="host", netns=None, ifname="br0", address=ipaddress.ip_interface("192.0.2.1/24")))
    root = kernel(None)
    bridge, veth = new_links(root)
    peer = nl.parse_attrs(nl.parse_attrs(nl.parse_attrs(veth, 16)[nl.IFLA_LINKINFO])[nl.IFLA_INFO_DATA])
    assert index_of(bridge) == index_of(veth) == index_of(peer[nl.VETH_INFO_PEER]) == 0
    assert kernel.looked_up == [(None, "br0"), (None, "v0"), (None, "v1")]
    assert r.indexes[None] == {"lo": 1, "br0": TAKEN, "v0": TAKEN + 1, "v1": TAKEN + 2}
    address = [body for kind, body in root.sent if kind == nl.RTM_NEWADDR]
    assert len(address) == 1 and struct.unpack_from("=I", address[0], 4)[0] == TAKEN
    # undone by name (plan operations), and marked as the lab's by the indexes the kernel gave
    assert [u for u in r.journal if isinstance(u, DeleteLink)] == [DeleteLink("host", None, n) for n in ("br0", "v0", "v1")]
    marked = [index_of(body) for kind, body in root.sent
              if kind == nl.RTM_NEWLINK and nl.IFLA_IFALIAS in nl.parse_attrs(body, 16)]
    assert marked == [TAKEN, TAKEN + 1, TAKEN + 2]


def test_in_a_namespace_of_its_own_run_the_runner_picks_without_asking() -> None:
    kernel = FakeKernel()
    r = runner(kernel, "lab-a", "lab-b")
    r.run(CreateBridge(node="a", netns="lab-a", ifname="br0"))
    r.run(CreateVeth(a=VethEnd("a", "lab-a", "v0"), b=VethEnd("b", "lab-b", "v1"), link=0))
    assert [index_of(body) for body in new_links(kernel("lab-a"))] == [2, 3]
    assert kernel.looked_up == []
    assert r.indexes == {"lab-a": {"lo": 1, "br0": 2, "v0": 3}, "lab-b": {"lo": 1, "v1": 2}}
    assert kernel("lab-b").names == {"lo": 1, "v1": 2}


def test_a_veth_from_an_own_namespace_into_the_root_one_lets_the_kernel_pick_the_root_end() -> None:
    kernel = FakeKernel()
    r = runner(kernel, "lab-a")
    r.run(CreateVeth(a=VethEnd("a", "lab-a", "v0"), b=VethEnd("host", None, "v1"), link=0))
    assert kernel.looked_up == [(None, "v1")]
    assert r.indexes == {"lab-a": {"lo": 1, "v0": 2}, None: {"lo": 1, "v1": TAKEN}}
    assert r.journal == [DeleteLink("host", None, "v1")]  # the end in the namespace of its own run goes with it


def test_a_link_that_cannot_be_found_after_it_was_made_is_still_undone_by_name() -> None:
    kernel = FakeKernel()
    kernel.lose_links = True
    r = runner(kernel)
    with pytest.raises(KernelError) as exc:
        r.run(CreateBridge(node="host", netns=None, ifname="br0"))
    assert exc.value.errno == errno.ENODEV
    assert r.journal == [DeleteLink("host", None, "br0")]
