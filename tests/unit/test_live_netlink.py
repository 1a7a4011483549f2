"""Netlink message packing and parsing, checked against pyroute2's own decoder (no root needed)."""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from topograph.live import netlink as nl


def _decode(cls: type, body: bytes, kind: int) -> Any:
    msg = cls(struct.pack("=IHHII", 16 + len(body), kind, 1, 1, 0) + body)
    msg.decode()
    return msg


def test_a_veth_request_decodes_as_pyroute2_reads_it() -> None:
    body = nl.new_link(5, "eth0", "veth", data=nl.veth_peer(7, "peer0", 9))
    msg = _decode(ifinfmsg, body, nl.RTM_NEWLINK)
    assert msg["index"] == 5 and msg.get_attr("IFLA_IFNAME") == "eth0"
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer["index"] == 7 and peer.get_attr("IFLA_IFNAME") == "peer0" and peer.get_attr("IFLA_NET_NS_FD") == 9


def test_an_address_request_decodes() -> None:
    ip = ipaddress.ip_interface("192.168.15.1/24")
    msg = _decode(ifaddrmsg, nl.addr_body(3, socket.AF_INET, 24, ip.ip.packed, nodad=False), nl.RTM_NEWADDR)
    assert msg["index"] == 3 and msg["prefixlen"] == 24
    assert msg.get_attr("IFA_LOCAL") == "192.168.15.1" and msg.get_attr("IFA_ADDRESS") == "192.168.15.1"
    v6 = _decode(ifaddrmsg, nl.addr_body(3, socket.AF_INET6, 64, ipaddress.ip_address("fd00::1").packed, nodad=True),
                 nl.RTM_NEWADDR)
    assert v6.get_attr("IFA_FLAGS") & nl.IFA_F_NODAD


def test_a_route_request_decodes_and_parses_back() -> None:
    gw = ipaddress.ip_address("10.0.0.1").packed
    body = nl.route_body(socket.AF_INET, 24, ipaddress.ip_address("10.1.0.0").packed, gw, 4, 20)
    msg = _decode(rtmsg, body, nl.RTM_NEWROUTE)
    assert msg.get_attr("RTA_DST") == "10.1.0.0" and msg.get_attr("RTA_GATEWAY") == "10.0.0.1"
    assert msg.get_attr("RTA_OIF") == 4 and msg.get_attr("RTA_PRIORITY") == 20 and msg["proto"] == nl.RTPROT_BOOT
    back = nl._route(body)
    dst = ipaddress.ip_address("10.1.0.0").packed
    assert (back.dst_len, back.dst, back.gateway, back.oif, back.metric) == (24, dst, gw, 4, 20)


def test_a_device_route_has_link_scope_and_a_gateway_route_universe() -> None:
    assert nl._route(nl.route_body(socket.AF_INET, 0, None, None, 2, None)).scope == nl.RT_SCOPE_LINK
    assert nl._route(nl.route_body(socket.AF_INET, 0, None, b"\n\0\0\1", None, None)).scope == nl.RT_SCOPE_UNIVERSE


@given(st.lists(st.tuples(st.integers(1, 0x3FFF), st.binary(max_size=40)), max_size=12, unique_by=lambda t: t[0]))
def test_attributes_round_trip(items: list[tuple[int, bytes]]) -> None:
    packed = b"".join(nl.attr(k, v) for k, v in items)
    assert len(packed) % 4 == 0
    assert nl.parse_attrs(packed) == dict(items)
