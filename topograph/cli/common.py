"""What every command shares: loading a topology and printing its diagnostics to stderr."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from topograph.front import reader
from topograph.front.diagnostics import Pos, render_json, render_text
from topograph.pipeline import Checked, check_file, check_text

# No checks by click (it would print a usage error, exit 2): the loader reports a missing, unreadable or
# special file as TG000 at FILE:1:1, in text or --json, the same for every command. `-` is standard
# input (allow_dash keeps click from treating it as an option).
FILE_TYPE = click.Path(path_type=str, readable=False, allow_dash=True)
topology_argument = click.argument("file", type=FILE_TYPE)

STDIN = "<stdin>"  # what diagnostics call a topology read from standard input


def shown(file: str) -> str:
    """The name messages give FILE: `<stdin>` for `-`."""
    return STDIN if file == "-" else file


def abort(message: str, *, hint: str | None = None, status: int = 1) -> NoReturn:
    """The one way a command stops on an error: 'topograph: MESSAGE' (and a hint line) on stderr, exit `status`."""
    click.echo(f"topograph: {message}" + (f"\n  hint: {hint}" if hint else ""), err=True)
    sys.exit(status)


def check_path(file: str, *, expectations: bool = False) -> Checked:
    """Check the topology at `file`; `-` reads it from standard input (diagnostics then name `<stdin>`).

    `expectations`: also hold the file's `expect:` list against the simulator (pipeline.expect)."""
    if file != "-":
        return check_file(file, expectations=expectations)
    result = Checked()
    raw = reader.read_stream(click.get_binary_stream("stdin"), STDIN, result.report)  # bounded like a file (TG004)
    if raw is None:
        return result
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        result.report.error("TG000", Pos(STDIN, before.count(b"\n") + 1, col),
                            f"standard input is not valid UTF-8 text (byte 0x{raw[exc.start]:02x})",
                            hint="pipe the topology in as UTF-8")
        return result
    return check_text(text, STDIN, expectations=expectations)


def _prefix(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from topograph.plan import kernel_names

    if value is not None:
        problem = kernel_names.prefix_problem(value)
        if problem:
            raise click.BadParameter(f"{value!r} {problem}")
    return value


sandbox_option = click.option(
    "--sandbox", "prefix", metavar="PREFIX", callback=_prefix,
    help="emulate the whole lab in namespaces named PREFIX+NODE (host and external nodes too); "
         "nothing in this machine's own namespace is touched")


def load_or_exit(file: str, *, show_warnings: bool = True, status: int = 1, stdin: bool = False,
                 expectations: bool = False) -> Checked:
    """Check `file`; on errors print every diagnostic to stderr and exit `status`, before anything else happens.

    `stdin`: `-` reads standard input. The live commands need a real file: they record where the lab came from.
    """
    if file == "-" and not stdin:
        abort("this command needs the topology as a file; '-' (standard input) is for "
              "check, compile, render, trace, reach, review and diff", status=status)
    result = check_path(file, expectations=expectations)
    items = [d for d in result.report if show_warnings or d.is_error]
    if not result.ok:
        click.echo(render_text(items), err=True, nl=False)
        sys.exit(status)
    if items:
        click.echo(render_text(items), err=True, nl=False)
    return result


def echo_diagnostics(result: Checked, as_json: bool, *, ok: bool | None = None) -> None:
    """Text on stderr, or JSON on stdout; `ok` overrides "no errors" (e.g. --strict)."""
    items = list(result.report)
    if as_json:
        click.echo(render_json(items, ok=ok))
    else:
        click.echo(render_text(items), err=True, nl=False)


expectations_option = click.option(
    "--ignore-expectations", "ignore_expectations", is_flag=True,
    help="go on when the simulator predicts that an expectation of FILE is broken (TG410; `check` names it); "
         "by default such a lab is not built")
