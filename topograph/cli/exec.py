"""`topograph exec FILE NODE -- CMD...`: run a command inside a node's namespace (over `ip netns exec`)."""

from __future__ import annotations

import os
import shutil

import click

from topograph.cli.common import abort, load_or_exit, sandbox_option, topology_argument
from topograph.cli.live import node_namespace
from topograph.front.quoting import quote

#: exit status of a usage error, as click gives for a missing NODE: an empty command is one too
USAGE = 2
#: what a shell exits with when the command is not found (127) or cannot be run (126)
NOT_FOUND, NOT_RUNNABLE = 127, 126
EXAMPLE = "topograph exec FILE NODE -- ip addr"


def command_problem(argv: tuple[str, ...]) -> str | None:
    """Why `argv` cannot be a command, said for the command line, or None: there is none (`exec FILE red --`), or its
    name is empty or blank (`exec FILE red -- ''`), which `ip netns exec` would refuse with a message of its own."""
    if not argv:
        return "no command given to run"
    if not argv[0].strip():
        return f"the command to run is empty ({quote(argv[0])})"
    return None


def resolve(program: str) -> str:
    """The file `program` runs (looked up on PATH unless it holds a '/'); a one-line error when there is none,
    before the namespace is entered (else `ip netns exec` prints its own 'exec of ... failed')."""
    if "/" in program:
        if not os.path.isfile(program):
            abort(f"no command {program!r}: there is no such file", status=NOT_FOUND)
        if not os.access(program, os.X_OK):
            abort(f"command {program!r} is not executable", hint=f"chmod +x {program}", status=NOT_RUNNABLE)
        return program
    found = shutil.which(program)
    if found is None:
        abort(f"no command {quote(program)} on PATH", hint="check its spelling, or give its full path",
              status=NOT_FOUND)
    return found


@click.command("exec", context_settings={"ignore_unknown_options": True})
@topology_argument
@click.argument("node")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED, metavar="ARGV...")  # not required: command_problem()
@sandbox_option
def command(file: str, node: str, argv: tuple[str, ...], prefix: str | None) -> None:
    """Run ARGV in NODE's namespace: `topograph exec lab.yml --sandbox t1- red -- ping -c1 192.168.15.2`.

    Exit status: the command's; 2 when ARGV is missing or its command empty, 127 when the command is not found,
    126 when it cannot be run."""
    problem = command_problem(argv)
    if problem:  # a usage error: before the file is read or a namespace is looked at
        abort(problem, hint=f"put the command after '--': {EXAMPLE}", status=USAGE)
    topology = load_or_exit(file).topology  # the placement is all it needs: no plan, no state record
    assert topology is not None
    netns = node_namespace(topology, node, prefix, "running")
    program = resolve(argv[0])
    if netns is None:  # real mode host: the root namespace itself
        os.execv(program, list(argv))
    os.execvp("ip", ["ip", "netns", "exec", netns, *argv])
