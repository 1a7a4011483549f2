"""The hand-packed netlink layer held against pyroute2 (no root needed).

Every request builder must give the bytes pyroute2's own encoder gives for the same message; dump
answers encoded by pyroute2 must parse back through the dump parsers; answers with another
request's sequence number, cut short, or never coming must end in a clear KernelError. The kernel
side is one end of a socketpair: each test queues the answers the kernel would send.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyroute2.netlink import (
    NLA_F_NESTED,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_EXCL,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    nlmsgerr,
)
from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE, RTM_NEWNSID
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
from pyroute2.netlink.rtnl.rtmsg import RTNH_F_ONLINK, rtmsg

from topograph.live import netlink as nl
from topograph.live import nlsocket
from topograph.live.kernel import KernelError

names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=15)
indexes = st.integers(1, 2**31 - 1)
u32s = st.integers(0, 2**32 - 1)
seqs = st.integers(1, 2**32 - 1)
macs = st.binary(min_size=6, max_size=6)
v4 = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))
v6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
ips = st.one_of(v4, v6)


def encoded(cls: type, kind: int, flags: int, seq: int, attrs: list[Any], /, **fields: Any) -> bytes:
    """pyroute2's encoding of one whole message."""
    msg = cls()
    msg["header"] = {"type": kind, "flags": flags, "sequence_number": seq, "pid": 0}
    msg.update(fields)
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data)


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


# -- requests, byte for byte ------------------------------------------------------------------------

@given(index=indexes, seq=seqs, flags=st.sampled_from([NLM_F_REQUEST, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
                                                       NLM_F_REQUEST | NLM_F_ACK, NLM_F_REQUEST | NLM_F_DUMP]))
def test_link_up_and_the_header_are_pyroute2s(index: int, seq: int, flags: int) -> None:
    assert nl.message(nl.RTM_NEWLINK, flags, seq, nl.link_up(index)) == \
        encoded(ifinfmsg, nl.RTM_NEWLINK, flags, seq, [], index=index, flags=1, change=1)
    assert nl.message(nl.RTM_NEWLINK, flags, seq, nl.link_down(index)) == \
        encoded(ifinfmsg, nl.RTM_NEWLINK, flags, seq, [], index=index, flags=0, change=1)


@given(index=indexes, mtu=st.integers(68, 65535), mac=macs, master=indexes,
       alias=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=64))
def test_link_settings_are_pyroute2s(index: int, mtu: int, mac: bytes, master: int, alias: str) -> None:
    def same(body: bytes, attrs: list[Any]) -> None:
        assert nl.message(nl.RTM_NEWLINK, NLM_F_REQUEST, 7, body) == \
            encoded(ifinfmsg, nl.RTM_NEWLINK, NLM_F_REQUEST, 7, attrs, index=index)

    same(nl.link_mtu(index, mtu), [("IFLA_MTU", mtu)])
    same(nl.link_mac(index, mac), [("IFLA_ADDRESS", mac_text(mac))])
    same(nl.link_master(index, master), [("IFLA_MASTER", master)])
    same(nl.link_alias(index, alias), [("IFLA_IFALIAS", alias)])
    same(nl.link_body(index), [])


@given(name=names)
def test_link_look_ups_and_the_link_dump_are_pyroute2s(name: str) -> None:
    skip_stats = ("IFLA_EXT_MASK", 1 << 3)
    assert nl.message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 3, nl.link_by_name(name)) == \
        encoded(ifinfmsg, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 3, [("IFLA_IFNAME", name), skip_stats], index=0)
    assert nl.message(nl.RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 3, nl.link_named(name)) == \
        encoded(ifinfmsg, nl.RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 3, [("IFLA_IFNAME", name)], index=0)
    assert nl.message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 3, nl.link_dump()) == \
        encoded(ifinfmsg, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 3, [skip_stats], index=0)


@given(index=st.integers(0, 2**31 - 1), name=names, kind=st.sampled_from(["bridge", "dummy"]))
def test_a_new_link_is_pyroute2s(index: int, name: str, kind: str) -> None:
    flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL
    assert nl.message(nl.RTM_NEWLINK, flags, 1, nl.new_link(index, name, kind)) == encoded(
        ifinfmsg, nl.RTM_NEWLINK, flags, 1,
        [("IFLA_IFNAME", name), ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", kind)]})], index=index)


@given(ia=st.integers(0, 2**31 - 1), ib=st.integers(0, 2**31 - 1), a=names, b=names,
       fd=st.one_of(st.none(), st.integers(0, 2**31 - 1)))
def test_a_veth_pair_is_pyroute2s(ia: int, ib: int, a: str, b: str, fd: int | None) -> None:
    peer_attrs: list[Any] = [("IFLA_IFNAME", b)] + ([("IFLA_NET_NS_FD", fd)] if fd is not None else [])
    info = {"attrs": [("IFLA_INFO_KIND", "veth"),
                      ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"index": ib, "attrs": peer_attrs})]})]}
    flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL
    assert nl.message(nl.RTM_NEWLINK, flags, 2, nl.new_link(ia, a, "veth", data=nl.veth_peer(ib, b, fd))) == \
        encoded(ifinfmsg, nl.RTM_NEWLINK, flags, 2, [("IFLA_IFNAME", a), ("IFLA_LINKINFO", info)], index=ia)


@given(index=indexes, ip=ips, nodad=st.booleans(), data=st.data())
def test_an_address_is_pyroute2s(index: int, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, nodad: bool,
                                 data: st.DataObject) -> None:
    prefixlen = data.draw(st.integers(0, ip.max_prefixlen))
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    flags = 0x80 | (0x02 if nodad else 0)  # IFA_F_PERMANENT, IFA_F_NODAD
    attrs: list[Any] = [("IFA_LOCAL", str(ip)), ("IFA_ADDRESS", str(ip))] if ip.version == 4 else [("IFA_ADDRESS", str(ip))]
    for kind in (nl.RTM_NEWADDR, nl.RTM_DELADDR):
        assert nl.message(kind, NLM_F_REQUEST, 5, nl.addr_body(index, family, prefixlen, ip.packed, nodad=nodad)) == \
            encoded(ifaddrmsg, kind, NLM_F_REQUEST, 5, [*attrs, ("IFA_FLAGS", flags)],
                    family=family, prefixlen=prefixlen, flags=flags, scope=0, index=index)
    assert nl.message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 5, nl.addr_dump()) == \
        encoded(ifaddrmsg, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 5, [], family=0)


@given(version=st.sampled_from([4, 6]), data=st.data(), oif=st.one_of(st.none(), indexes),
       metric=st.one_of(st.none(), u32s), with_gateway=st.booleans(), onlink=st.booleans())
def test_a_route_is_pyroute2s(version: int, data: st.DataObject, oif: int | None, metric: int | None,
                              with_gateway: bool, onlink: bool) -> None:
    addresses: st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address] = v4 if version == 4 else v6
    dst_len = data.draw(st.integers(0, 32 if version == 4 else 128))
    dst = data.draw(addresses)
    gateway = data.draw(addresses) if with_gateway or oif is None else None
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    attrs: list[Any] = [("RTA_TABLE", 254)]
    attrs += [("RTA_DST", str(dst))] if dst_len else []
    attrs += [("RTA_GATEWAY", str(gateway))] if gateway is not None else []
    attrs += [("RTA_OIF", oif)] if oif is not None else []
    attrs += [("RTA_PRIORITY", metric)] if metric is not None else []
    scope = 253 if gateway is None else 0  # a device route has link scope
    body = nl.route_body(family, dst_len, dst.packed, gateway.packed if gateway else None, oif, metric, onlink=onlink)
    assert nl.message(nl.RTM_NEWROUTE, NLM_F_REQUEST, 9, body) == encoded(
        rtmsg, nl.RTM_NEWROUTE, NLM_F_REQUEST, 9, attrs, family=family, dst_len=dst_len, src_len=0, tos=0,
        table=254, proto=3, scope=scope, type=1, flags=RTNH_F_ONLINK if onlink else 0)  # proto boot, type unicast
    assert nl.message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 9, nl.route_dump()) == \
        encoded(rtmsg, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 9, [], family=0, scope=0, type=0, proto=0)


@given(st.lists(st.tuples(st.integers(1, 0x3FFF), st.binary(max_size=40)), max_size=12, unique_by=lambda t: t[0]))
def test_attributes_round_trip(items: list[tuple[int, bytes]]) -> None:
    packed = b"".join(nl.attr(k, v) for k, v in items)
    assert len(packed) % 4 == 0
    assert nl.parse_attrs(packed) == dict(items)


# -- a fake kernel -----------------------------------------------------------------------------------

class Kernel:
    """The far end of a socketpair standing in for the kernel; `sock` is the Socket under test."""

    def __init__(self, timeout: float = 0.01) -> None:
        self.near, self.far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock = nlsocket.Socket("ns-test", sock=self.near, timeout=timeout)

    def next_seq(self) -> int:
        return self.sock.seq + 1

    def answer(self, *messages: bytes) -> None:
        """Queue one datagram of `messages`."""
        self.far.send(b"".join(messages))

    def close(self) -> None:
        self.sock.close()
        self.far.close()


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    yield k
    k.close()


def error(seq: int, code: int, kind: int = NLMSG_ERROR) -> bytes:
    """An error (or, code 0, an acknowledgement) as the kernel sends it: pyroute2's nlmsgerr, then the request's header."""
    msg = nlmsgerr()
    msg["header"] = {"type": kind, "flags": 0, "sequence_number": seq, "pid": 0}
    msg["error"] = -code
    msg.encode()
    data = bytes(msg.data) + struct.pack("=IHHII", 16, 16, 1, seq, 0)
    return struct.pack("=I", len(data)) + data[4:]


def done(seq: int) -> bytes:
    return error(seq, 0, NLMSG_DONE)


def link_reply(seq: int, index: int, name: str, kind: str, up: bool, mtu: int, mac: bytes, master: int,
               alias: str, flags: int = NLM_F_MULTI) -> bytes:
    """A link as a dump shows it: with attributes the parser skips, and the link info flagged nested."""
    attrs: list[Any] = [("IFLA_IFNAME", name), ("IFLA_TXQLEN", 1000), ("IFLA_OPERSTATE", "UP"),
                        ("IFLA_MTU", mtu), ("IFLA_GROUP", 0), ("IFLA_ADDRESS", mac_text(mac))]
    if master:
        attrs.append(("IFLA_MASTER", master))
    if alias:
        attrs.append(("IFLA_IFALIAS", alias))
    if kind:
        attrs.append(("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", kind)]}, NLA_F_NESTED))
    return encoded(ifinfmsg, nl.RTM_NEWLINK, flags, seq, attrs, index=index, ifi_type=1,
                   flags=0x1003 if up else 0x1002, change=0)


links = st.lists(st.tuples(indexes, names, st.sampled_from(["", "veth", "bridge"]), st.booleans(),
                           st.integers(68, 65535), macs, st.integers(0, 100), st.text("abc -", max_size=20)),
                 max_size=6)  # with its end, at most 7 datagrams: a socketpair queues 10 before send() blocks


@given(found=links, per_datagram=st.integers(1, 3))
def test_links_encoded_by_pyroute2_parse_back(found: list[tuple[Any, ...]], per_datagram: int) -> None:
    k = Kernel()
    try:
        seq = k.next_seq()
        replies = [link_reply(seq, *row) for row in found] + [done(seq)]
        for i in range(0, len(replies), per_datagram):
            k.answer(*replies[i:i + per_datagram])
        got = k.sock.links()
    finally:
        k.close()
    assert got == [nl.LinkInfo(index=i, name=n, kind=kind, up=up, mtu=mtu, mac=mac_text(mac), master=master,
                               alias=alias) for i, n, kind, up, mtu, mac, master, alias in found]


@given(rows=st.lists(st.tuples(indexes, ips, st.integers(0, 255), st.sampled_from([0, 253])), max_size=8))
def test_addresses_encoded_by_pyroute2_parse_back(rows: list[tuple[int, Any, int, int]]) -> None:
    k = Kernel()
    try:
        seq = k.next_seq()
        replies = []
        for index, ip, prefixlen, scope in rows:
            family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            attrs: list[Any] = [("IFA_ADDRESS", str(ip)), ("IFA_LABEL", "x"),
                                ("IFA_CACHEINFO", {"ifa_preferred": 1, "ifa_valid": 2, "cstamp": 3, "tstamp": 4})]
            if ip.version == 4:
                attrs.insert(1, ("IFA_LOCAL", str(ip)))
            replies.append(encoded(ifaddrmsg, nl.RTM_NEWADDR, NLM_F_MULTI, seq, attrs, family=family,
                                   prefixlen=prefixlen, flags=0x80, scope=scope, index=index))
        k.answer(*replies, done(seq))
        got = k.sock.addresses()
    finally:
        k.close()
    assert got == [nl.AddrInfo(index=index, family=socket.AF_INET if ip.version == 4 else socket.AF_INET6,
                               prefixlen=prefixlen, address=ip.packed, scope=scope)
                   for index, ip, prefixlen, scope in rows]


route_rows = st.lists(st.tuples(st.sampled_from([254, 255, 100]), st.sampled_from([1, 2]), v4, st.integers(0, 32),
                                st.one_of(st.none(), v4), indexes, u32s, st.sampled_from([2, 3, 4]),
                                st.sampled_from([0, RTNH_F_ONLINK, RTNH_F_ONLINK | 16, 16])), max_size=8)


@given(rows=route_rows)
def test_routes_encoded_by_pyroute2_parse_back_and_only_main_unicast_ones(rows: list[tuple[Any, ...]]) -> None:
    k = Kernel()
    try:
        seq = k.next_seq()
        replies = []
        for table, kind, dst, dst_len, gateway, oif, metric, proto, flags in rows:
            attrs: list[Any] = [("RTA_TABLE", table), ("RTA_DST", str(dst)), ("RTA_OIF", oif),
                                ("RTA_PRIORITY", metric)]
            attrs += [("RTA_GATEWAY", str(gateway))] if gateway is not None else []
            replies.append(encoded(rtmsg, nl.RTM_NEWROUTE, NLM_F_MULTI, seq, attrs, family=socket.AF_INET,
                                   dst_len=dst_len, table=table, proto=proto, scope=0, type=kind, flags=flags))
        k.answer(*replies, done(seq))
        got = k.sock.routes()
    finally:
        k.close()
    assert got == [nl.RouteInfo(family=socket.AF_INET, dst_len=dst_len, dst=dst.packed,
                                gateway=gateway.packed if gateway is not None else None, oif=oif, metric=metric,
                                protocol=proto, scope=0, kind=kind, onlink=bool(flags & RTNH_F_ONLINK))
                   for table, kind, dst, dst_len, gateway, oif, metric, proto, flags in rows if table == 254 and kind == 1]


def test_a_link_looked_up_by_name(kernel: Kernel) -> None:
    seq = kernel.next_seq()
    kernel.answer(link_reply(seq, 7, "br0", "bridge", True, 1500, b"\x02" * 6, 0, ""))
    kernel.answer(error(seq, 0))
    assert kernel.sock.link("br0") == nl.LinkInfo(7, "br0", "bridge", True, 1500, "02:02:02:02:02:02", 0, "")
    kernel.answer(error(kernel.next_seq(), errno.ENODEV))
    assert kernel.sock.link("br0") is None


# -- answers that must not be believed ----------------------------------------------------------------

def test_a_refused_request_raises_its_errno_and_an_accepted_one_nothing(kernel: Kernel) -> None:
    kernel.sock.request(nl.RTM_NEWLINK, nl.link_up(3))  # nothing queued: accepted
    kernel.answer(error(kernel.next_seq(), errno.EEXIST))
    with pytest.raises(KernelError) as exc:
        kernel.sock.request(nl.RTM_NEWLINK, nl.link_up(3), create=True)
    assert exc.value.errno == errno.EEXIST


@pytest.mark.parametrize("call", ["request", "acked", "dump"])
def test_an_error_with_another_sequence_number_is_a_protocol_error(kernel: Kernel, call: str) -> None:
    kernel.answer(error(kernel.next_seq() + 5, errno.EEXIST))
    with pytest.raises(KernelError, match=r"unexpected answer .* sequence number \d+, while waiting for \d+") as exc:
        if call == "request":
            kernel.sock.request(nl.RTM_NEWLINK, nl.link_up(3))
        elif call == "acked":
            kernel.sock.acked(nl.RTM_DELLINK, nl.link_body(3))
        else:
            kernel.sock.links()
    assert exc.value.errno == errno.EPROTO


def test_an_acknowledgement_returns_its_code(kernel: Kernel) -> None:
    kernel.answer(error(kernel.next_seq(), 0))
    assert kernel.sock.acked(nl.RTM_DELLINK, nl.link_body(3)) == 0
    kernel.answer(error(kernel.next_seq(), errno.ENODEV))
    assert kernel.sock.acked(nl.RTM_DELLINK, nl.link_body(3)) == errno.ENODEV


@pytest.mark.parametrize("call", ["acked", "dump", "link"])
def test_a_wait_without_answer_times_out_and_the_late_answer_is_skipped(kernel: Kernel, call: str) -> None:
    late = kernel.next_seq()
    with pytest.raises(KernelError, match=r"no answer from the kernel in ns-test within 0\.01 s") as exc:
        if call == "acked":
            kernel.sock.acked(nl.RTM_DELLINK, nl.link_body(3))
        elif call == "dump":
            kernel.sock.links()
        else:
            kernel.sock.link("x")
    assert exc.value.errno == errno.ETIMEDOUT
    # the answer comes after all, ahead of the next one: it is skipped, not taken for the next one's
    if call == "dump":
        kernel.answer(link_reply(late, 1, "lo", "", True, 65536, b"\0" * 6, 0, ""), done(late))
    else:
        kernel.answer(error(late, errno.EPERM))
    kernel.answer(error(kernel.next_seq(), errno.ENODEV))
    assert kernel.sock.acked(nl.RTM_DELLINK, nl.link_body(3)) == errno.ENODEV


def test_a_dump_that_fails_raises(kernel: Kernel) -> None:
    kernel.answer(error(kernel.next_seq(), errno.EOPNOTSUPP))
    with pytest.raises(KernelError, match="dump in ns-test") as exc:
        kernel.sock.routes()
    assert exc.value.errno == errno.EOPNOTSUPP


def test_a_dump_is_read_to_its_end(kernel: Kernel) -> None:
    seq = kernel.next_seq()
    kernel.answer(link_reply(seq, 1, "lo", "", True, 65536, b"\0" * 6, 0, ""))
    kernel.answer(link_reply(seq, 2, "eth0", "veth", True, 1500, b"\1" * 6, 0, ""), done(seq))
    kernel.answer(error(seq + 1, errno.EEXIST))
    assert [ln.name for ln in kernel.sock.links()] == ["lo", "eth0"]
    with pytest.raises(KernelError) as exc:  # the next request finds its own answer, not the dump's rest
        kernel.sock.request(nl.RTM_NEWLINK, nl.link_up(2))
    assert exc.value.errno == errno.EEXIST


def truncations(seq: int) -> dict[str, bytes]:
    whole = link_reply(seq, 2, "eth0", "veth", True, 1500, b"\1" * 6, 0, "")
    bad_attr = bytearray(whole)
    struct.pack_into("=H", bad_attr, 32, 200)  # the first attribute claims more than the message holds
    return {
        "shorter than a header": whole[:10],
        "message longer than its datagram": whole[:-8],
        "message shorter than its header": struct.pack("=IHHII", 8, nl.RTM_NEWLINK, NLM_F_MULTI, seq, 0),
        "attribute past the message": bytes(bad_attr) + done(seq),
        "body shorter than its fixed part": struct.pack("=IHHII", 20, nl.RTM_NEWLINK, NLM_F_MULTI, seq, 0) + b"\0" * 4
        + done(seq),
        "error without its code": struct.pack("=IHHII", 18, NLMSG_ERROR, 0, seq, 0) + b"\0\0\0\0",
        # whole messages up to the buffer's end, so only the read's own flag can tell
        "datagram longer than the buffer": whole + done(seq) + b"\0" * nlsocket.BUFSIZE,
    }


@pytest.mark.parametrize("case", list(truncations(1)))
def test_a_truncated_answer_is_detected(kernel: Kernel, case: str) -> None:
    kernel.answer(truncations(kernel.next_seq())[case])
    with pytest.raises(KernelError, match="truncated answer from the kernel in ns-test") as exc:
        kernel.sock.links()
    assert exc.value.errno == errno.EPROTO
    assert ("-byte buffer" in str(exc.value)) == (case == "datagram longer than the buffer")


def test_a_truncated_error_after_a_request_is_detected(kernel: Kernel) -> None:
    kernel.answer(truncations(kernel.next_seq())["error without its code"])
    with pytest.raises(KernelError, match="truncated"):
        kernel.sock.request(nl.RTM_NEWLINK, nl.link_up(2))


def test_a_dump_the_kernel_marks_inconsistent_is_asked_for_again(kernel: Kernel) -> None:
    first = kernel.next_seq()
    lo = (1, "lo", "", True, 65536, b"\0" * 6, 0, "")
    kernel.answer(link_reply(first, *lo, flags=NLM_F_MULTI | NLM_F_DUMP_INTR), done(first))
    kernel.answer(link_reply(first + 1, *lo), link_reply(first + 1, 2, "eth0", "veth", True, 1500, b"\1" * 6, 0, ""),
                  done(first + 1))
    assert [ln.name for ln in kernel.sock.links()] == ["lo", "eth0"]


def test_a_dump_that_stays_inconsistent_raises(kernel: Kernel) -> None:
    first = kernel.next_seq()
    for seq in range(first, first + nlsocket.DUMP_TRIES):
        kernel.answer(link_reply(seq, 1, "lo", "", True, 65536, b"\0" * 6, 0, "", flags=NLM_F_MULTI | NLM_F_DUMP_INTR),
                      done(seq))
    with pytest.raises(KernelError, match="changed while it was read, 3 times in a row") as exc:
        kernel.sock.links()
    assert exc.value.errno == errno.EAGAIN


# -- what rollback needs to make a deleted link again (live/remake.py) ------------------------------

@given(fd=st.integers(0, 2**31 - 1), seq=seqs)
def test_a_namespace_id_request_is_pyroute2s(fd: int, seq: int) -> None:
    assert nl.message(nl.RTM_GETNSID, NLM_F_REQUEST | NLM_F_ACK, seq, nl.nsid_of(fd)) == \
        encoded(nsidmsg, nl.RTM_GETNSID, NLM_F_REQUEST | NLM_F_ACK, seq, [("NETNSA_FD", fd)], rtgen_family=0)


@given(nsid=st.integers(-1, 2**31 - 1))
def test_a_namespace_id_answer_parses_back(nsid: int) -> None:
    k = Kernel()
    try:
        seq = k.next_seq()
        k.answer(encoded(nsidmsg, RTM_NEWNSID, 0, seq, [("NETNSA_NSID", nsid & 0xFFFFFFFF)], rtgen_family=0),
                 error(seq, 0))
        assert k.sock.nsid(7) == nsid
    finally:
        k.close()


@given(peer=indexes, nsid=st.one_of(st.none(), st.integers(0, 2**31 - 1)))
def test_a_veth_s_peer_and_its_namespace_id_parse_back(peer: int, nsid: int | None) -> None:
    attrs: list[Any] = [("IFLA_IFNAME", "v"), ("IFLA_LINK", peer)]
    if nsid is not None:
        attrs.append(("IFLA_LINK_NETNSID", nsid))
    link = nl.parse_link(encoded(ifinfmsg, nl.RTM_NEWLINK, 0, 1, attrs, index=3, flags=0, change=0)[16:])
    assert (link.peer, link.peer_nsid) == (peer, nsid)


@pytest.mark.parametrize(("flags", "permanent"), [(0x80, True), (0, False), (0x80 | 0x400, True), (0x400, False)])
def test_an_address_the_kernel_made_is_told_from_one_added_by_hand(flags: int, permanent: bool) -> None:
    # in the header's byte and, for flags above 0xff (IFA_F_STABLE_PRIVACY 0x800...), in IFA_FLAGS
    attrs: list[Any] = [("IFA_ADDRESS", "fe80::1"), ("IFA_FLAGS", flags)]
    raw = encoded(ifaddrmsg, nl.RTM_NEWADDR, 0, 1, attrs, family=socket.AF_INET6, prefixlen=64, flags=flags & 0xFF,
                  scope=253, index=2)
    assert nl.parse_addr(raw[16:]).permanent is permanent
