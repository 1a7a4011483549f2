"""Read a `netem:` mapping (on a link or on one of its ends) into a Netem value, with its diagnostics.

Errors: a value without its unit or out of range (TG700), netem where no veth end is (TG701), a loss
of 100% (TG702: a link that passes nothing is written `up: false`, which the simulator follows), and
reorder without a delay (TG703: `tc` refuses it). Warnings: jitter without a delay, which netem ignores
(TG530), and a loss high enough that verify's few probes per flow no longer give a reliable answer (TG531).
"""

from __future__ import annotations

from topograph.front import document as doc
from topograph.front.diagnostics import PathKey, Report, Where
from topograph.front.loader import Source
from topograph.front.netem import UNRELIABLE_LOSS, Netem, parse_percent, parse_rate, parse_time

_HINTS = {"delay": "write a time with its unit, e.g. 50ms, 1.5ms or 200us",
          "jitter": "write a time with its unit, e.g. 5ms",
          "rate": "write a rate with its unit, e.g. 10mbit, 512kbit or 1gbit (bps: bytes per second)"}
_PERCENT_HINT = "write a percentage with its sign, e.g. 1% or 0.5%"


def read_netem(nd: doc.NetemDoc, path: PathKey, src: Source, report: Report) -> Netem | None:
    """The impairments `nd` (written at `path`, the `netem` mapping) sets, or None when a value is broken."""
    values: dict[str, int | float] = {}
    ok = True
    for name in ("delay", "jitter", "loss", "rate", "duplicate", "reorder", "corrupt"):
        raw = getattr(nd, name)
        if raw is None:
            continue
        parsed = parse_time(raw) if name in ("delay", "jitter") else parse_rate(raw) if name == "rate" \
            else parse_percent(raw)
        if isinstance(parsed, str):
            report.error("TG700", Where(src, (*path, name)), f"netem {name}: {parsed}",
                         hint=_HINTS.get(name, _PERCENT_HINT))
            ok = False
        else:
            values[name] = parsed
    if not ok:
        return None
    netem = Netem(delay_us=int(values.get("delay", 0)), jitter_us=int(values.get("jitter", 0)),
                  loss=float(values.get("loss", 0)), rate_bit=int(values.get("rate", 0)),
                  duplicate=float(values.get("duplicate", 0)), reorder=float(values.get("reorder", 0)),
                  corrupt=float(values.get("corrupt", 0)))
    if netem.loss >= 100:
        report.error("TG702", Where(src, (*path, "loss")), "netem loss: 100% lets no packet through",
                     hint="to cut a link, write 'up: false' on one of its ends (the simulator follows that)")
        return None
    if netem.reorder and not netem.delay_us:
        report.error("TG703", Where(src, (*path, "reorder")), "netem reorder without a delay: reorder sends some "
                     "packets ahead of the delayed others, and tc refuses it without a delay",
                     hint="add a delay, e.g. delay: 50ms")
        return None
    if netem.jitter_us and not netem.delay_us:
        report.warning("TG530", Where(src, (*path, "jitter")), "netem jitter without a delay does nothing: "
                       "jitter varies the delay", hint="add a delay, e.g. delay: 50ms")
    if netem.loss >= UNRELIABLE_LOSS:
        report.warning("TG531", Where(src, (*path, "loss")),
                       f"netem loss {netem.loss:g}% makes verify's probes unreliable (each tries a few times)",
                       hint=f"keep the loss under {UNRELIABLE_LOSS:g}% in a lab that verify is to prove")
    return None if netem.empty else netem


def of_end(nd: doc.NetemDoc, path: PathKey, src: Source, report: Report, label: str, misplaced: str | None) -> Netem | None:
    """The impairments written on interface `label` (at `path`); `misplaced` says what it is when no link makes it
    (TG701: netem impairs what leaves by a veth end)."""
    if misplaced is None:
        return read_netem(nd, (*path, "netem"), src, report)
    report.error("TG701", Where(src, (*path, "netem"), True), f"netem on {label}, which is {misplaced}",
                 hint="netem impairs what leaves by a veth end: put it on a link's end, or on the link "
                      "({ends: [...], netem: {...}})")
    return None
