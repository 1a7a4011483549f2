"""`topograph logs [FILE] NODE[:NAME]`: print the log of a node's services (run:), as apply keeps them."""

from __future__ import annotations

from pathlib import Path

import click

from topograph.cli.common import abort, load_or_exit, sandbox_option, topology_argument
from topograph.front.quoting import quote


@click.command("logs")
@topology_argument
@click.argument("service", metavar="NODE[:NAME]")
@sandbox_option
def command(file: str, service: str, prefix: str | None) -> None:
    """Print the log (stdout and stderr) of NODE's services, or of its service NAME: `topograph logs lab.yml
    --sandbox t1- blue:web`. Logs live in /run/topograph/LAB.services/NODE/NAME.log until destroy."""
    from topograph import kernel_names

    topology = load_or_exit(file).topology
    assert topology is not None
    node_name, _, name = service.partition(":")
    names = [n.name for n in topology.nodes]
    if node_name not in names:
        abort(f"lab {topology.name} has no node {quote(node_name)}; its nodes: {', '.join(names)}")
    node = topology.node(node_name)
    if not node.services:
        abort(f"{node_name} runs no services (the file gives it no run:)")
    chosen = [s for s in node.services if not name or s.name == name]
    if not chosen:
        abort(f"{node_name} runs no service {quote(name)}; its services: {', '.join(s.name for s in node.services)}")
    run_dir = kernel_names.service_dir(topology.name, prefix)
    for s in chosen:
        log = Path(f"{run_dir}/{node_name}/{s.name}.log")
        try:
            text = log.read_text(errors="replace")
        except FileNotFoundError:
            abort(f"no log of service {s.name} on {node_name} ({log}): is the lab up? (topograph apply)")
        except OSError as exc:
            abort(f"cannot read {log}: {exc.strerror or exc}")
        if len(chosen) > 1:
            click.echo(f"==> {node_name}:{s.name} ({log}) <==")
        click.echo(text, nl=False)
