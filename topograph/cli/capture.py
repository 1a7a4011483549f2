"""`topograph capture [FILE] NODE:IFNAME [-w FILE.pcap | -w -] [-c N] [FILTER]...`: tcpdump in a node's namespace."""

from __future__ import annotations

import os
import shutil
import signal
import sys

import click

from topograph.cli.common import NoDefaultFile, abort, default_file, load_or_exit, sandbox_option
from topograph.cli.live import node_namespace
from topograph.front.quoting import quote

EXAMPLE = "e.g. blue:veth-blue"


def split(words: tuple[str, ...]) -> tuple[str | None, str, tuple[str, ...]]:
    """FILE (None: not given), NODE:IFNAME and the filter's words, from the positional arguments.

    FILE is optional although the filter's words follow: NODE:IFNAME has a colon and FILE (a topology file
    that exists) is taken as FILE even when its name has one, so the first word tells which came first."""
    if not words:
        raise click.UsageError(f"missing NODE:IFNAME, the interface to capture on ({EXAMPLE})")
    first = words[0]
    if ":" in first and not os.path.exists(first):
        return None, first, words[1:]
    if len(words) < 2:
        raise click.UsageError(f"missing NODE:IFNAME after FILE {quote(first)}, the interface to capture on ({EXAMPLE})")
    if ":" not in words[1]:
        raise click.UsageError(f"expected NODE:IFNAME after FILE {quote(first)}, got {quote(words[1])} ({EXAMPLE})")
    return first, words[1], words[2:]


@click.command("capture")
@click.argument("words", nargs=-1, metavar="[FILE] NODE:IFNAME [FILTER]...")
@sandbox_option
@click.option("-w", "write", metavar="FILE.pcap", help="write the packets as pcap to this file, or with `-w -` "
              "to standard output (`| wireshark -k -i -`); without -w, one line of text per packet")
@click.option("-c", "count", type=click.IntRange(min=1), metavar="N", help="stop after N packets")
def command(words: tuple[str, ...], prefix: str | None, write: str | None, count: int | None) -> None:
    """Capture packets on interface IFNAME of NODE, inside the node's namespace (with tcpdump).

    FILTER is a tcpdump filter (`tcp port 80`, `icmp or arp`); IFNAME `any` is every interface of the
    node. Ctrl-C ends the capture; a pcap written so far is complete. FILE is optional as in the other
    commands (topograph.yml here, or the only *.topo.yml).

    \b
    topograph capture --sandbox demo- blue:veth-blue tcp port 80
    topograph capture --sandbox demo- host:v-net-0 -c 10 -w seed.pcap
    topograph capture --sandbox demo- host:eth0 -w - | wireshark -k -i -

    Exit status: tcpdump's (0 when the count is reached or Ctrl-C ends it); 1 when the capture cannot
    start (an unknown node or interface, the lab not up, tcpdump missing), 2 on a usage error.
    """
    from topograph.live.capture import ANY, Capture, interface_problem, open_output, run_capture

    file, where, expression = split(words)
    if file is None:
        try:
            file = default_file()
        except NoDefaultFile as exc:
            abort(str(exc), hint=exc.hint, status=2)
    node, _, interface = where.partition(":")
    topology = load_or_exit(file).topology  # the placement is all it needs: no plan, no state record
    assert topology is not None
    known = {n.name for n in topology.nodes}
    own = [i.name for i in topology.node(node).interfaces] if node in known else []
    if node in known and interface != ANY and interface not in own:
        abort(f"node {node} has no interface {quote(interface)} in {file}; its interfaces: {', '.join(own)}",
              hint=f"or {node}:{ANY} for all of them")
    netns = node_namespace(topology, node, prefix, "capturing")  # None: real mode host, this machine's own
    problem = interface_problem(netns, interface)
    if problem:
        abort(problem, hint="the lab differs from the file: see topograph status")
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        abort("tcpdump is not installed (capture runs it in the node's namespace)",
              hint="install it: apt-get install tcpdump")
    output: int | None = None
    if write == "-":
        if os.isatty(1):
            abort("not writing pcap to a terminal", hint="pipe it (| wireshark -k -i -) or write a file (-w FILE.pcap)")
    elif write is not None:
        try:
            output = open_output(write)
        except OSError as exc:
            abort(f"cannot write {write}: {exc.strerror or exc}")
    try:
        status = run_capture(Capture(netns, interface, pcap=write is not None, count=count, expression=expression),
                     stdout=output, tcpdump=tcpdump)
    except OSError as exc:
        abort(f"cannot start tcpdump: {exc.strerror or exc}")
    finally:
        if output is not None:
            os.close(output)
    if status < 0:  # tcpdump killed by a signal it does not handle
        click.echo(f"topograph: tcpdump ended by {signal.Signals(-status).name}", err=True)
        sys.exit(128 - status)
    if status:
        abort(f"tcpdump on {where} ended with status {status} (its message is above)", status=status)
