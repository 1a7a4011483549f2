"""`topograph apply FILE`: bring the lab up live (netlink), or converge it to the file; `--dry-run` only shows."""

from __future__ import annotations

import os

import click

from topograph.cli.common import abort, expectations_option, json_errors, sandbox_option, topology_argument
from topograph.cli.live import Progress, exit_status, load_plan, require_privileges, signals_interrupt, wait_option
from topograph.front.diagnostics import count
from topograph.plan import FIREWALLS


@click.command("apply", epilog="Testing hooks (environment): TOPOGRAPH_FAIL_AT=K fails the run before step K "
               "(steps + 1: at its end), so it rolls back; TOPOGRAPH_STEP_DELAY=SECONDS sleeps before each step; "
               "TOPOGRAPH_STATE_DIR=DIR keeps records and locks in DIR (default /run/topograph).")
@topology_argument
@sandbox_option
@click.option("--firewall", type=click.Choice(FIREWALLS), default=None,
              help="back end for NAT and port forwards (default: the one the lab was applied with, else nftables)")
@click.option("--dry-run", is_flag=True, help="print what would change, change nothing")
@click.option("--commands", is_flag=True,
              help="with --dry-run: also print the shell commands of what apply would run, in its order")
@expectations_option
@wait_option
@click.option("--json", "as_json", is_flag=True, help="print the outcome as one JSON object on stdout (see below)")
def command(file: str, prefix: str | None, firewall: str | None, dry_run: bool, commands: bool,
            ignore_expectations: bool, wait: float, as_json: bool) -> None:
    """Create the lab of FILE, or bring a running one back in line with FILE.

    What exists and matches is left alone, what is missing is created, what differs is corrected,
    and what the lab owns that FILE no longer has is removed or reset. A failing step (or Ctrl-C /
    SIGTERM: exit 130 / 143) undoes every step of this run. Objects topograph did not create are never touched: a name
    clash stops the run before any change. So does an expectation of FILE that the simulator
    predicts broken (as `check` says it), unless --ignore-expectations.

    \b
    --json prints one object: {"ok": true, "lab", "mode" ("real"/"sandbox"),
    "prefix", "changed" (false when it was up to date), "applied" (steps run),
    "removed" [extra objects], "adopted" [objects], "up_to_date" (count),
    "counts" {"missing", "drifted", "extra"}, "services_ended" [services that ended at
    once or listen on nothing, in words]}; with --dry-run, status --json's object
    with "dry_run": true (and "commands" [shell text] with --commands). An error is
    {"ok": false, "error", "hint", "exit"}, plus "diagnostics" for a FILE with errors,
    "rolled_back" (objects deleted) and "problems" for a failed step; exit codes as without --json.
    """
    from topograph.cli.report import diff_json, echo_json, print_diff, where_json
    from topograph.live import engine
    from topograph.live.journal import StepFailed
    from topograph.live.lock import Busy

    json_errors(as_json)
    if commands and not dry_run:
        abort("--commands prints what --dry-run would do; add --dry-run")
    the_plan, _ = load_plan(file, prefix, firewall, expectations=not ignore_expectations)
    require_privileges()
    try:
        if dry_run:
            d = engine.plan_diff(the_plan)
            engine.refuse_if_blocked(d)
            if as_json:
                echo_json({"ok": True, **diff_json(the_plan, d, commands=commands), "dry_run": True})
            else:
                print_diff(the_plan, d, dry_run=True, commands=commands)
            return
        progress = Progress(f"applying {the_plan.lab}")
        with signals_interrupt():
            try:
                # the record keeps FILE's absolute path: `list` names it from any directory
                outcome = engine.apply(the_plan, source=os.path.abspath(file), wait=wait, progress=progress)
            finally:
                progress.close()
    except engine.Clash as exc:
        abort(f"{exc}; nothing was changed")
    except Busy as exc:
        abort(str(exc))
    except StepFailed as exc:
        undone = sum(1 for r in exc.rolled_back if r.startswith("deleted"))
        status = exit_status(exc.cause) if isinstance(exc.cause, KeyboardInterrupt) else 1
        if as_json:
            abort(f"apply of lab {the_plan.lab} failed at {exc}; rolled back: this run's changes are undone",
                  status=status, details={**where_json(the_plan.lab, prefix), "rolled_back": undone,
                                          "problems": list(exc.problems)})
        click.echo(f"topograph: apply of lab {the_plan.lab} failed at {exc}", err=True)
        abort(f"rolled back: this run's changes are undone ({count(undone, 'object')} deleted)"
              + (f"; problems: {'; '.join(exc.problems)}" if exc.problems else ""), status=status)
    except OSError as exc:
        abort(str(exc))
    except KeyboardInterrupt as exc:  # interrupted outside the steps (before the first, or while reading)
        abort("interrupted", status=exit_status(exc))
    d = outcome.diff
    for line in outcome.ended if not as_json else ():
        click.echo(f"topograph: warning: {line} (the lab stays up)", err=True)
    if as_json:
        echo_json({"ok": True, **where_json(the_plan.lab, prefix), "changed": not d.clean,
                   "applied": outcome.applied if not d.clean else 0, "removed": list(outcome.removed),
                   "adopted": list(outcome.adopted), "up_to_date": d.up_to_date,
                   "counts": {st: d.count(st) for st in ("missing", "drifted", "extra")},
                   "services_ended": list(outcome.ended)})
        return
    if outcome.adopted:
        click.echo(f"lab {the_plan.lab}: recorded as its own {count(len(outcome.adopted), 'object')} "
                   "that carry its mark (made by its compiled script?)")
    if d.clean:
        click.echo(f"lab {the_plan.lab}: up to date ({count(d.up_to_date, 'object')}), nothing changed")
    else:
        click.echo(f"lab {the_plan.lab}: {count(outcome.applied, 'step')} applied"
                   + (f", {count(len(outcome.removed), 'extra object')} removed" if outcome.removed else "")
                   + f" (missing {d.count('missing')}, drifted {d.count('drifted')}, extra {d.count('extra')})")
