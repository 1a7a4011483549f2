"""`topograph verify FILE`: real traffic through the live lab, predicted against observed; non-zero on any difference."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from topograph.cli.common import abort, json_errors, load_or_exit, sandbox_option, topology_argument
from topograph.cli.live import elsewhere, require_privileges
from topograph.front.diagnostics import count

if TYPE_CHECKING:
    from topograph.live.verify import Observed
    from topograph.live.verify_cache import Cached


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


def flow_name(o: Observed) -> str:
    """The flow as the table's first column names it: `lan -> 192.168.1.2 tcp/80`."""
    p = o.probe
    return f"{p.src} -> {p.label}" + (f" {p.proto}/{p.port}" if p.port else "")


def _word(value: object) -> str | None:
    return None if value is None else str(value)


def as_json(results: list[Observed], lab: str, prefix: str | None) -> dict[str, Any]:
    """verify --json's one object (its shape is in the command's help)."""
    probes = [{"flow": flow_name(o), "src": o.probe.src, "dst": str(o.probe.dst), "to": o.probe.label,
               "proto": str(o.probe.proto), "port": o.probe.port, "predicted": _word(o.probe.expected),
               "observed": _word(o.outcome), "agrees": o.agrees, "detail": o.detail, "remark": o.remark}
              for o in results]
    differ = sum(1 for o in results if not o.agrees)
    return {"ok": True, "lab": lab, "mode": "real" if prefix is None else "sandbox", "prefix": prefix,
            "as_predicted": differ == 0, "probes": probes,
            "totals": {"flows": len(results), "agree": len(results) - differ, "differ": differ,
                       "untried": sum(1 for o in results if o.outcome is None)}}


def as_junit(results: list[Observed], lab: str, prefix: str | None, seconds: float) -> bytes:
    """JUnit XML: one testsuite, one testcase per flow, a <failure> per DIFFERS, <skipped> for a flow not tried."""
    import xml.etree.ElementTree as ET  # only for --junit

    name = f"topograph verify {lab}" + (f" (sandbox {prefix})" if prefix else "")
    failures = sum(1 for o in results if not o.agrees)
    skipped = sum(1 for o in results if o.outcome is None)
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": "0"}
    suites = ET.Element("testsuites", {"name": name, **counts, "time": f"{seconds:.3f}"})
    suite = ET.SubElement(suites, "testsuite", {"name": name, **counts, "skipped": str(skipped),
                                                "time": f"{seconds:.3f}"})
    for o in results:
        case = ET.SubElement(suite, "testcase", {"classname": f"verify.{lab}", "name": flow_name(o)})
        said = f"predicted {_word(o.probe.expected) or '-'}, observed {_word(o.outcome) or '-'}"
        if not o.agrees:
            failure = ET.SubElement(case, "failure", {"message": said + (f" ({o.detail})" if o.detail else ""),
                                                      "type": "DIFFERS"})
            failure.text = "\n".join(x for x in (said, o.detail, o.remark, o.probe.why) if x)
        elif o.outcome is None:
            ET.SubElement(case, "skipped", {"message": o.detail or "not tried"})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = "; ".join(x for x in (said, o.detail, o.remark) if x)
    ET.indent(suites)
    data: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _remembered(file: str, prefix: str | None, all_pairs: bool) -> Cached:
    """The flows to send and their prediction: remembered from the last verify of the same file, else worked out
    from it (check's errors and warnings are printed either way, and the first exits); then, without the privileges
    verify needs, a one-line error and exit."""
    from topograph.live import verify_cache

    digest = verify_cache.key(file, prefix, all_pairs)
    cached = verify_cache.load(digest) if digest is not None else None
    if cached is not None:
        if cached.warnings:
            click.echo(cached.warnings, err=True, nl=False)
        require_privileges()
        return cached
    from topograph.front.diagnostics import render_text
    from topograph.live import verify
    from topograph.placement import place

    checked = load_or_exit(file)
    topology = checked.topology
    assert topology is not None  # load_or_exit exits otherwise
    placement = place(topology, prefix)  # the lab's namespaces: verify needs no plan of operations
    prepared = verify.prepare(topology, placement, verify.probes(topology, all_pairs=all_pairs))
    cached = verify_cache.Cached(topology.name, render_text(list(checked.report)) if len(checked.report) else "",
                                 prepared)
    require_privileges()  # before anything is written to the state directory
    if digest is not None and verify_cache.key(file, prefix, all_pairs) == digest:  # not edited while checked
        verify_cache.save(digest, cached, prefix)
    return cached


@click.command("verify")
@topology_argument
@sandbox_option
@click.option("--all", "all_pairs", is_flag=True, help="every node to every node's address and port forward, "
              "predicted by the simulator (instead of the file's expectations)")
@click.option("--json", "as_json_", is_flag=True, help="print the flows as one JSON object on stdout (see below)")
@click.option("--junit", "junit", metavar="FILE", help="also write the flows as JUnit XML to FILE, for CI "
              "(one testcase per flow, a failure per DIFFERS)")
def command(file: str, prefix: str | None, all_pairs: bool, as_json_: bool, junit: str | None) -> None:
    """Ping, TCP-connect and send UDP between the lab's namespaces and compare with the prediction.

    Each flow is reach, refused (an ICMP error or a TCP reset came back at once) or silence (a time-out);
    the simulator predicts one of them, or just "no reach". Listeners (TCP) and echoing responders (UDP)
    are started and stopped by verify itself where the file has something listen (`listen:`, port
    forwards' targets); a port that a listener holds already is probed through that listener (the line
    says so). Exit 1 on any difference. The flows and their prediction are remembered, in the state
    directory, for the next verify of the same file: while neither the file nor topograph changes, it
    reads them back instead of checking and simulating the file again (destroy forgets them).

    \b
    --json prints one object: {"ok" true, "lab", "mode" ("real"/"sandbox"), "prefix",
    "as_predicted" (no flow differs), "probes" [{"flow" (as the table names it), "src" (node),
    "dst" (address), "to" (what the flow aims at), "proto", "port" (or null),
    "predicted", "observed" ("reach", "refused", "silence", "no reach", or null: no
    prediction / not tried), "agrees", "detail", "remark"}],
    "totals" {"flows", "agree", "differ", "untried"}}; exit 1 still when a flow differs. An
    error is {"ok": false, "error", "hint", "exit"} (and "diagnostics" for a FILE with errors).
    --junit FILE writes JUnit XML (a testcase per flow, a <failure> per difference, <skipped>
    for a flow not tried) whatever is printed.
    """
    from topograph.live import verify
    from topograph.live.kernel import KernelError, list_netns

    json_errors(as_json_)
    cached = _remembered(file, prefix, all_pairs)
    lab, prepared = cached.lab, cached.prepared
    existing = list_netns()
    missing = [n for n in prepared.namespaces if n not in existing]
    if missing:
        hint = elsewhere(lab, prefix)
        abort(hint or f"lab {lab} is not up (no namespace {missing[0]}); run topograph apply first")
    progress = _Progress() if sys.stderr.isatty() else None
    started = time.monotonic()
    try:
        results = verify.run(prepared, progress=progress)
    except KernelError as exc:  # e.g. a namespace deleted while verify ran
        abort(f"verify stopped: {exc.strerror or exc}")
    finally:
        if progress is not None:
            progress.clear()
    if junit is not None:
        try:
            with open(junit, "wb") as f:
                f.write(as_junit(results, lab, prefix, time.monotonic() - started))
        except OSError as exc:
            abort(f"cannot write {junit}: {exc.strerror or exc}")
    bad = sum(1 for r in results if not r.agrees)
    if as_json_:
        click.echo(json.dumps(as_json(results, lab, prefix), indent=2))
    else:
        click.echo("\n".join(verify.results_table(results)))  # one write: 90,000 echo calls cost a second
        flows = count(len(results), "flow")
        click.echo(f"{flows}, {bad} differ" if bad else f"{flows}, all as predicted")
    if bad:
        sys.exit(1)
