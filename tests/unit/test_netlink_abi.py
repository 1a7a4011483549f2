"""live/netlink.py's numbers held against pyroute2's definitions, by name (no root needed).

netlink.py writes the kernel's netlink ABI as numbers so that the live commands need not import
pyroute2 (its docstring says why); pyroute2 stays the reference. Every number here is looked up in
pyroute2 by the name the kernel's headers give it, so a number mistyped in netlink.py, or one that a
pyroute2 release renames or renumbers, fails here. The last tests run a fresh interpreter: the
modules of `verify` and of the other live commands load without pyroute2.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from pyroute2 import netlink as pn
from pyroute2.netlink import nla_header, nlmsg, nlmsgerr, rtnl
from pyroute2.netlink.rtnl import ifaddrmsg as ifaddr_module
from pyroute2.netlink.rtnl import ifinfmsg as ifinf_module
from pyroute2.netlink.rtnl import rt_proto, rt_scope, rt_type
from pyroute2.netlink.rtnl import rtmsg as rt_module
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg
from pyroute2.netns import NETNS_RUN_DIR

from topograph.live import kernel
from topograph.live import netlink as nl


def attribute_numbers(cls: Any) -> dict[str, int]:
    """Attribute numbers by name in a pyroute2 class's nla_map: listed in order, or each with its number
    (pyroute2 decides by the first entry, as here)."""
    table = cls.nla_map
    if isinstance(table[0][0], int):
        return {entry[1]: entry[0] for entry in table}
    return {entry[0]: number for number, entry in enumerate(table)}


def layout(fields: Sequence[tuple[str, str]]) -> str:
    """The native-order struct format of a pyroute2 `header` or `fields` list."""
    return "=" + "".join(fmt for _, fmt in fields)


def test_attribute_numbers_are_read_by_name_from_both_kinds_of_table() -> None:
    assert attribute_numbers(ifinfmsg.proplist) == {"IFLA_ALT_IFNAME": 53}  # a table that numbers itself
    assert attribute_numbers(ifaddrmsg)["IFA_FLAGS"] == 8
    with pytest.raises(KeyError):
        attribute_numbers(rtmsg)["RTA_NO_SUCH_THING"]


NETLINK = ["NETLINK_ROUTE", "NLM_F_REQUEST", "NLM_F_MULTI", "NLM_F_ACK", "NLM_F_DUMP_INTR", "NLM_F_REPLACE",
           "NLM_F_EXCL", "NLM_F_CREATE", "NLM_F_DUMP", "NLMSG_ERROR", "NLMSG_DONE", "NLA_F_NESTED",
           "NLA_F_NET_BYTEORDER"]
RTNL = ["RTM_NEWLINK", "RTM_DELLINK", "RTM_GETLINK", "RTM_NEWADDR", "RTM_DELADDR", "RTM_GETADDR", "RTM_NEWROUTE",
        "RTM_DELROUTE", "RTM_GETROUTE", "RTM_NEWNEIGH", "RTM_DELNEIGH", "RTM_GETNEIGH", "RTM_GETRULE",
        "RTM_NEWQDISC", "RTM_DELQDISC", "RTM_GETQDISC", "RTM_NEWNSID", "RTM_GETNSID", "TC_H_ROOT"]
ATTRIBUTES = {
    "IFLA_ADDRESS": ifinfmsg, "IFLA_IFNAME": ifinfmsg, "IFLA_MTU": ifinfmsg, "IFLA_LINK": ifinfmsg,
    "IFLA_MASTER": ifinfmsg, "IFLA_LINKINFO": ifinfmsg, "IFLA_IFALIAS": ifinfmsg, "IFLA_NET_NS_FD": ifinfmsg,
    "IFLA_EXT_MASK": ifinfmsg, "IFLA_LINK_NETNSID": ifinfmsg,
    "IFLA_INFO_KIND": ifinfmsg.ifinfo, "IFLA_INFO_DATA": ifinfmsg.ifinfo,
    "VETH_INFO_PEER": ifinfmsg.ifinfo.veth_data,
    "NETNSA_NSID": nsidmsg, "NETNSA_FD": nsidmsg,
    "IFA_ADDRESS": ifaddrmsg, "IFA_LOCAL": ifaddrmsg, "IFA_FLAGS": ifaddrmsg,
    "RTA_DST": rtmsg, "RTA_OIF": rtmsg, "RTA_GATEWAY": rtmsg, "RTA_PRIORITY": rtmsg, "RTA_TABLE": rtmsg,
}
VALUES = {
    "IFF_UP": ifinf_module.IFF_UP, "IFA_F_NODAD": ifaddr_module.IFA_F_NODAD,
    "IFA_F_PERMANENT": ifaddr_module.IFA_F_PERMANENT, "RTNH_F_ONLINK": rt_module.RTNH_F_ONLINK,
    "RTPROT_KERNEL": rt_proto["kernel"], "RTPROT_BOOT": rt_proto["boot"], "RTN_UNICAST": rt_type["unicast"],
    "RT_SCOPE_UNIVERSE": rt_scope["universe"], "RT_SCOPE_LINK": rt_scope["link"],
}
LAYOUTS = {"_HDR": nlmsg.header, "ERRMSG": nlmsgerr.fields, "_IFI": ifinfmsg.fields, "_IFAM": ifaddrmsg.fields,
           "_RTM": rtmsg.fields, "_RTGEN": nsidmsg.fields, "_NLA": nla_header.header}


@pytest.mark.parametrize("name", NETLINK)
def test_netlink_numbers_are_pyroute2s(name: str) -> None:
    assert getattr(nl, name) == getattr(pn, name)


@pytest.mark.parametrize("name", RTNL)
def test_message_types_are_pyroute2s(name: str) -> None:
    assert getattr(nl, name) == getattr(rtnl, name)


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_attribute_numbers_are_pyroute2s(name: str) -> None:
    assert getattr(nl, name) == attribute_numbers(ATTRIBUTES[name])[name]


@pytest.mark.parametrize("name", sorted(VALUES))
def test_flag_and_enum_values_are_pyroute2s(name: str) -> None:
    assert getattr(nl, name) == VALUES[name]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layouts_are_pyroute2s(name: str) -> None:
    ours: struct.Struct = getattr(nl, name)
    assert ours.format == layout(LAYOUTS[name])


def test_sizes_before_attributes() -> None:
    assert struct.calcsize(layout(ifinfmsg.fields)) == nl.IFINFOMSG_SIZE
    assert struct.calcsize(layout(rtmsg.fields)) == nl.RTMSG_SIZE


def test_namespaces_live_where_iproute2_and_pyroute2_keep_them() -> None:
    assert str(kernel.RUN_DIR) == NETNS_RUN_DIR


def loaded_without_pyroute2(modules: list[str]) -> list[str]:
    """The pyroute2 modules a fresh interpreter has loaded after importing `modules`."""
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] == 'pyroute2')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return done.stdout.split()


def test_verify_loads_no_pyroute2() -> None:
    assert loaded_without_pyroute2(["topograph.cli.verify", "topograph.live.verify", "topograph.cli.live"]) == []


def test_verify_loads_no_plan_of_operations() -> None:
    """verify needs where the nodes live (topograph.placement), not the plan's operations."""
    code = ("import sys\nimport topograph.cli.verify, topograph.live.verify, topograph.cli.live\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('topograph.plan'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.split() == []


def test_the_live_commands_load_no_pyroute2_until_a_qdisc_is_touched() -> None:
    modules = ["topograph.live.engine", "topograph.live.observe", "topograph.live.execute", "topograph.live.qdisc",
               "topograph.cli.apply", "topograph.cli.status", "topograph.cli.destroy"]
    assert loaded_without_pyroute2(modules) == []
