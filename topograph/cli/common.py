"""What every command shares: finding and loading a topology, printing its diagnostics, stopping on errors."""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from topograph.front import reader
from topograph.front.diagnostics import Pos, count, render_json, render_text
from topograph.front.quoting import quote

if TYPE_CHECKING:
    from topograph.pipeline import Checked

# No checks by click (it would print a usage error, exit 2): the loader reports a missing, unreadable or
# special file as TG000 at FILE:1:1, in text or --json, the same for every command. `-` is standard
# input (allow_dash keeps click from treating it as an option).
FILE_TYPE = click.Path(path_type=str, readable=False, allow_dash=True)

DEFAULT_FILE = "topograph.yml"  # FILE when none is given: this in the current directory,
DEFAULT_PATTERN = "*.topo.yml"  # else the only file there that matches this


class NoDefaultFile(Exception):
    """No FILE was given and the current directory does not name one; `hint` says what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def default_file(directory: Path | None = None) -> str:
    """FILE when the command line gives none: `topograph.yml` in `directory` (the current one), else its
    only `*.topo.yml`. NoDefaultFile says what was looked for and what was found."""
    where = Path(".") if directory is None else directory
    if (where / DEFAULT_FILE).is_file():
        return str(where / DEFAULT_FILE) if directory is not None else DEFAULT_FILE
    found = sorted(p.name for p in where.glob(DEFAULT_PATTERN) if p.is_file())
    if len(found) == 1:
        return str(where / found[0]) if directory is not None else found[0]
    place = "the current directory" if directory is None else str(directory)
    looked = f"no FILE given, and {place} has no {DEFAULT_FILE}"
    if not found:
        raise NoDefaultFile(f"{looked} and no {DEFAULT_PATTERN}", f"pass FILE, or name the lab's file {DEFAULT_FILE}")
    raise NoDefaultFile(f"{looked} but {len(found)} {DEFAULT_PATTERN} files ({', '.join(found)}); name one",
                        "pass one of them as FILE")


class TopologyArgument(click.Argument):
    """FILE, optional: without it, default_file() (exit 2 when there is none, or several).

    A FILE before other positional arguments (`trace [FILE] SRC DST`) is parsed greedily, so that the
    others keep their places when it is left out; a command with a variadic argument of its own
    (`exec FILE NODE -- ARGV...`) cannot tell them apart, and there FILE stays required.
    """

    def _optional(self, ctx: click.Context) -> bool:
        return not any(isinstance(p, click.Argument) and p is not self and p.nargs == -1 for p in ctx.command.params)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        # shell completion parses what is typed so far: there FILE is what comes first (`trace FILE S<Tab>`
        # completes SRC, not a file)
        greedy = self._optional(ctx) and not ctx.resilient_parsing
        parser.add_argument(dest=self.name, nargs=-1 if greedy else 1, obj=self)

    def make_metavar(self, ctx: click.Context) -> str:
        return "[FILE]" if self._optional(ctx) else "FILE"

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        if isinstance(value, tuple):  # parsed greedily: (), or (FILE,), or FILE and what came after it
            if len(value) > 1:
                others = " ".join(p.human_readable_name for p in ctx.command.params
                                  if isinstance(p, click.Argument) and p is not self)
                raise click.UsageError(f"too many arguments: expected [FILE] {others}".rstrip(), ctx=ctx)
            value = value[0] if value else None
        if not isinstance(value, str):  # left out (None, or click's UNSET)
            if not self._optional(ctx):
                raise click.MissingParameter(ctx=ctx, param=self)
            if ctx.resilient_parsing:  # shell completion: never stop
                return None
            try:
                value = default_file()
            except NoDefaultFile as exc:
                if ctx.params.get("as_json") is True:
                    ctx.meta[JSON_ERRORS] = True
                abort(str(exc), hint=exc.hint, status=2)
        return super().process_value(ctx, value)


topology_argument = click.argument("file", cls=TopologyArgument, type=FILE_TYPE)

STDIN = "<stdin>"  # what diagnostics call a topology read from standard input


def shown(file: str) -> str:
    """The name messages give FILE: `<stdin>` for `-`."""
    return STDIN if file == "-" else file


JSON_ERRORS = "topograph.json_errors"  # in click's context meta: this run's errors are JSON (json_errors())


def json_errors(on: bool) -> None:
    """From now on, this command's errors (abort, load_or_exit) are JSON objects on stdout, when `on` (--json)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and on:
        ctx.meta[JSON_ERRORS] = True


def errors_as_json() -> bool:
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.meta.get(JSON_ERRORS) is True


def abort(message: str, *, hint: str | None = None, status: int = 1, details: dict[str, Any] | None = None) -> NoReturn:
    """The one way a command stops on an error: 'topograph: MESSAGE' (and a hint line) on stderr, exit `status`.

    Under --json (json_errors()): `{"ok": false, "error": MESSAGE, "hint": HINT or null, "exit": status,
    ...details}` on stdout instead, with the same exit status."""
    if errors_as_json():
        click.echo(json.dumps({"ok": False, "error": message, "hint": hint, "exit": status, **(details or {})},
                              indent=2))
    else:
        click.echo(f"topograph: {one_line(message)}" + (f"\n  hint: {one_line(hint)}" if hint else ""), err=True)
    sys.exit(status)


def one_line(text: str) -> str:
    """`text` with every control character (a newline in a name from the command line...) written as its escape,
    so that a message is one line whatever it quotes: 'no namespace x\\n in /run/netns'."""
    if text.isprintable():
        return text
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def check_path(file: str, *, expectations: bool = False) -> Checked:
    """Check the topology at `file`; `-` reads it from standard input (diagnostics then name `<stdin>`).

    `expectations`: also hold the file's `expect:` list against the simulator (pipeline.expect)."""
    from topograph.pipeline import Checked, check_file, check_text  # here: verify from its remembered prediction needs none

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
    from topograph import kernel_names

    if value is not None:
        problem = kernel_names.prefix_problem(value)
        if problem:
            raise click.BadParameter(f"{quote(value)} {problem}")
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
        if errors_as_json():
            errors = [d for d in items if d.is_error]
            abort(f"{shown(file)} has {count(len(errors), 'error')}", status=status,
                  details={"diagnostics": [d.as_json() for d in items]})
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
