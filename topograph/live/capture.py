"""Packet capture inside a node's namespace: tcpdump run there, its output passed straight through.

tcpdump, not an in-process capture: its filter language (compiled to BPF by libpcap) is what users
write and expect, its pcap files are what Wireshark reads, and its handling of SIGINT (the capture
loop breaks, the savefile is flushed and closed, the statistics printed) is decades old. Python has no
well-kept library that compiles pcap filters (scapy shells out to tcpdump for that too); a raw
AF_PACKET socket here would need a filter compiler of its own. So: `ip netns exec NS tcpdump ...`.

The pcap never passes through this process: tcpdump writes it to its standard output, which is this
process's standard output (`-w -`) or a file this process opened (`-w FILE`). Opening the file here
gives a clear message when the path cannot be written, and it lets tcpdump drop its root privileges
(Debian's build does, to user tcpdump) without losing access to the file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from dataclasses import dataclass

from topograph.live.kernel import KernelError, Namespaces

ANY = "any"  # tcpdump's pseudo-interface: every interface of the namespace (Linux cooked headers)


@dataclass(frozen=True, slots=True)
class Capture:
    """One capture: where (namespace, None for the machine's own), on which interface, and what to keep."""

    netns: str | None
    interface: str
    pcap: bool = False  # write pcap (to the standard output tcpdump is given), else text lines
    count: int | None = None  # stop after this many packets (tcpdump -c)
    expression: tuple[str, ...] = ()  # the filter, in tcpdump's words

    def argv(self, tcpdump: str = "tcpdump") -> list[str]:
        """The command line: tcpdump in the namespace, numeric (no DNS lookups from a lab namespace),
        every packet handed over at once (--immediate-mode) so that -c and Ctrl-C end without waiting for a
        buffer to fill; pcap written packet by packet (-U), text lines flushed line by line (-l)."""
        args = [tcpdump, "-n", "--immediate-mode", "-i", self.interface]
        args += ["-U", "-w", "-"] if self.pcap else ["-l"]
        if self.count is not None:
            args += ["-c", str(self.count)]
        if self.expression:
            args += ["--", *self.expression]
        return args if self.netns is None else ["ip", "netns", "exec", self.netns, *args]


def live_interfaces(netns: str | None) -> list[str]:
    """The interfaces that exist now in namespace `netns` (None: this process's own), by name.

    Read from inside the namespace (if_nameindex there), not with `ip`: no process to start."""
    ns = Namespaces()
    try:
        with ns.inside(netns):
            return sorted(name for _, name in socket.if_nameindex())
    finally:
        ns.close()


def run_capture(capture: Capture, stdout: int | None = None, tcpdump: str = "tcpdump") -> int:
    """Run the capture until tcpdump ends (its -c count reached, or a signal); its exit status.

    `stdout`: the descriptor tcpdump writes to (None: this process's own). SIGINT and SIGTERM sent to this
    process are passed on to tcpdump, which ends cleanly on either (a pcap it wrote is complete); a
    Ctrl-C at a terminal reaches both processes, and tcpdump takes a second SIGINT as it took the first.
    Raises OSError when tcpdump cannot be started.
    """
    child = subprocess.Popen(capture.argv(tcpdump), stdin=subprocess.DEVNULL, stdout=stdout)

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):  # ended already
            child.send_signal(signum)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()  # a signal runs `forward` and the wait goes on (PEP 475)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def open_output(path: str) -> int:
    """A descriptor of `path`, created or emptied for the pcap (mode 0644); OSError says why not."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)


def interface_problem(netns: str | None, interface: str) -> str | None:
    """Why `interface` cannot be captured on in `netns` right now (it is not there), or None."""
    if interface == ANY:
        return None
    try:
        names = live_interfaces(netns)
    except KernelError as exc:
        return str(exc)
    if interface in names:
        return None
    where = "this machine's namespace" if netns is None else f"namespace {netns}"
    return f"interface {interface} does not exist in {where} (it has: {', '.join(names) or 'none'})"

