"""`topograph compile FILE`: print the lab's set-up (or `--teardown`) shell script."""

from __future__ import annotations

import sys

import click

from topograph.cli.common import expectations_option, load_or_exit, sandbox_option, topology_argument
from topograph.plan import FIREWALLS


@click.command("compile")
@topology_argument
@click.option("--teardown", is_flag=True, help="print the script that removes the lab instead")
@sandbox_option
@click.option("--firewall", type=click.Choice(FIREWALLS), default="nftables", show_default=True,
              help="back end for NAT and port forwards")
@expectations_option
def command(file: str, teardown: bool, prefix: str | None, firewall: str, ignore_expectations: bool) -> None:
    """Compile FILE to a bash script on stdout: `topograph compile lab.yml > setup.sh`.

    The file is checked first; on any error nothing is printed on stdout, the diagnostics go to
    stderr and the exit status is 1; so is an expectation the simulator predicts broken (as `check`
    says it), unless --ignore-expectations (a teardown never waits for that). Run the script as root
    (`sudo bash setup.sh`); remove the lab with the script from `topograph compile --teardown lab.yml`
    (same --sandbox and --firewall).
    FILE `-` reads the topology from standard input.
    """
    from topograph.compile import render_setup, render_teardown
    from topograph.plan import plan

    checked = load_or_exit(file, stdin=True, expectations=not (teardown or ignore_expectations))
    assert checked.topology is not None  # load_or_exit exits otherwise
    the_plan = plan(checked.topology, sandbox_prefix=prefix, firewall=firewall)  # type: ignore[arg-type]
    text = render_teardown(the_plan) if teardown else render_setup(the_plan)
    sys.stdout.write(text)
