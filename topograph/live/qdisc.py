"""Link impairments in the kernel: an interface's root netem qdisc set, read and removed over rtnetlink.

The messages are pyroute2's: its `tcmsg` encodes and decodes them, and its netem scheduler module
turns the options into the kernel's units (delays in psched ticks, percentages as 32-bit fractions,
the rate in bytes per second), which `from_options` turns back into a Netem, as `tc` would show it.
They travel over the run's own sockets (live/nlsocket.py), like every other request of an apply.
pyroute2 is imported where a qdisc is encoded or decoded, not with this module: importing it loads the
whole library, which commands that never touch a qdisc (verify, destroy) need not pay (live/netlink.py).
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable

from topograph.front.netem import Netem
from topograph.live.kernel import KernelError
from topograph.live.netlink import RTM_DELQDISC, RTM_GETQDISC, RTM_NEWQDISC, TC_H_ROOT
from topograph.live.nlsocket import Socket
from topograph.plan import DeleteNetem, SetNetem

_HDR = struct.Struct("=LHHLL")  # struct nlmsghdr: what pyroute2's tcmsg encodes before the body and decodes after
_U32 = 2**32 - 1


def _body(index: int, attrs: list[list[object]]) -> bytes:
    from pyroute2.netlink.rtnl.tcmsg import tcmsg

    msg = tcmsg()
    msg["family"], msg["index"], msg["handle"], msg["parent"] = 0, index, 0, TC_H_ROOT
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data[_HDR.size:])


def options(netem: Netem) -> dict[str, object]:
    """pyroute2's netem parameters for `netem` (microseconds, percentages, and the rate as tc writes it)."""
    from pyroute2.netlink.rtnl.tcmsg import sched_netem

    kwargs: dict[str, object] = {"delay": netem.delay_us, "jitter": netem.jitter_us, "loss": netem.loss,
                                 "duplicate": netem.duplicate, "prob_reorder": netem.reorder,
                                 "prob_corrupt": netem.corrupt}
    if netem.rate_bit:
        kwargs["rate"] = f"{netem.rate_bit}bit"
    return dict(sched_netem.get_parameters(kwargs))


def set_netem(sock: Socket, index: int, netem: Netem) -> None:
    """`tc qdisc replace dev INDEX root netem ...`: whatever root qdisc the interface had gives way."""
    sock.request(RTM_NEWQDISC, _body(index, [["TCA_KIND", "netem"], ["TCA_OPTIONS", options(netem)]]), replace=True)


def delete_root(sock: Socket, index: int, name: str) -> bool:
    """`tc qdisc del dev NAME root`; False when there was none to delete (the kernel's default qdisc)."""
    code = sock.acked(RTM_DELQDISC, _body(index, []))
    if code in (errno.ENOENT, errno.EINVAL, errno.ENODEV):  # no root qdisc of its own (EINVAL: noqueue), or no link
        return False
    if code:
        raise KernelError(code, f"remove the qdisc of {name}: {os.strerror(code)}")
    return True


def _percent(value: int) -> float:
    return round(value * 100 / _U32, 4)


def from_options(opts: dict[str, object]) -> Netem:
    """The Netem a decoded netem TCA_OPTIONS stands for (rounded as tc shows it)."""
    def num(d: object, key: str) -> int:
        value = d.get(key, 0) if isinstance(d, dict) else 0
        return int(value) if isinstance(value, int | float) else 0

    from pyroute2.netlink.rtnl.tcmsg import common

    listed = opts.get("attrs")
    attrs: dict[object, object] = dict(listed) if isinstance(listed, list) else {}
    tick = common.tick_in_usec or 1
    return Netem(delay_us=round(num(opts, "delay") / tick), jitter_us=round(num(opts, "jitter") / tick),
                 loss=_percent(num(opts, "loss")), duplicate=_percent(num(opts, "duplicate")),
                 reorder=_percent(num(attrs.get("TCA_NETEM_REORDER", {}), "prob_reorder")),
                 corrupt=_percent(num(attrs.get("TCA_NETEM_CORRUPT", {}), "prob_corrupt")),
                 rate_bit=num(attrs.get("TCA_NETEM_RATE", {}), "rate") * 8)


def root_qdiscs(sock: Socket) -> dict[int, tuple[str, Netem | None]]:
    """Interface index -> the kind of its root qdisc and, for netem, what it sets (every interface that has one)."""
    from pyroute2.netlink.rtnl.tcmsg import tcmsg

    found: dict[int, tuple[str, Netem | None]] = {}
    for payload in sock.dump(RTM_GETQDISC, _body(0, [])):
        msg = tcmsg(_HDR.pack(_HDR.size + len(payload), RTM_NEWQDISC, 0, 0, 0) + payload)
        msg.decode()
        if msg["parent"] != TC_H_ROOT:
            continue
        kind = str(msg.get_attr("TCA_KIND") or "")
        opts = msg.get_attr("TCA_OPTIONS") if kind == "netem" else None
        try:
            netem = from_options(dict(opts)) if opts is not None else None
        except (TypeError, ValueError):  # options pyroute2 could not read: a netem, but not one known to match
            netem = None
        found[int(msg["index"])] = (kind, netem)
    return found


def netem_op(sock: Socket, index: int | None, op: SetNetem | DeleteNetem,
             journal: Callable[[SetNetem | DeleteNetem], None] | None) -> bool:
    """Run SetNetem or DeleteNetem on interface `index` (None: it is gone; a deletion then has nothing to do),
    first giving `journal` what puts the interface's netem back as it was (None: not journalled)."""
    if index is None:
        if isinstance(op, SetNetem):
            raise KernelError(errno.ENODEV, f"{op.ifname}: no such interface")
        return False
    if journal is not None:
        kind, before = root_qdiscs(sock).get(index, ("", None))
        journal(SetNetem(op.node, op.netns, op.ifname, before) if kind == "netem" and before is not None
                else DeleteNetem(op.node, op.netns, op.ifname))
    if isinstance(op, DeleteNetem):
        return delete_root(sock, index, op.ifname)
    try:
        set_netem(sock, index, op.netem)
    except KernelError as exc:
        if exc.errno == errno.ENOENT:  # the kernel answers so for a qdisc kind it does not know
            raise KernelError(exc.errno, "this kernel has no netem qdisc (sch_netem, CONFIG_NET_SCH_NETEM): "
                                         "link impairments cannot be set here") from None
        raise
    return True
