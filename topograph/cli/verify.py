"""`topograph verify FILE`: real traffic through the live lab, predicted against observed; non-zero on any difference."""

from __future__ import annotations

import sys

import click

from topograph.cli.common import abort, sandbox_option, topology_argument
from topograph.cli.live import elsewhere, load_plan, require_privileges
from topograph.front.diagnostics import count


class _Progress:
    """`verify: 1,234 of 90,300 flows` on one line of the terminal, rewritten as probes finish."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        sys.stderr.write(f"\rverify: {done:,} of {total:,} flows")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


@click.command("verify")
@topology_argument
@sandbox_option
@click.option("--all", "all_pairs", is_flag=True, help="every node to every node's address and port forward, "
              "predicted by the simulator (instead of the file's expectations)")
def command(file: str, prefix: str | None, all_pairs: bool) -> None:
    """Ping, TCP-connect and send UDP between the lab's namespaces and compare with the prediction.

    Each flow is reach, refused (an ICMP error or a TCP reset came back at once) or silence (a time-out);
    the simulator predicts one of them, or just "no reach". Listeners (TCP) and echoing responders (UDP)
    are started and stopped by verify itself where the file has something listen (`listen:`, port
    forwards' targets); a port that a listener holds already is probed through that listener (the line
    says so). Exit 1 on any difference.
    """
    from topograph.live import verify
    from topograph.live.kernel import list_netns
    from topograph.plan.placement import place

    the_plan, topology = load_plan(file, prefix)
    require_privileges()
    existing = list_netns()
    missing = [n for n in the_plan.namespaces if n not in existing]
    if missing:
        hint = elsewhere(topology.name, prefix)
        abort(hint or f"lab {topology.name} is not up (no namespace {missing[0]}); run topograph apply first")
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        results = verify.run(topology, place(topology, prefix), verify.probes(topology, all_pairs=all_pairs),
                             progress=progress)
    finally:
        if progress is not None:
            progress.clear()
    for line in verify.table(results):
        click.echo(line)
    bad = sum(1 for r in results if not r.agrees)
    flows = count(len(results), "flow")
    click.echo(f"{flows}, {bad} differ" if bad else f"{flows}, all as predicted")
    if bad:
        sys.exit(1)
