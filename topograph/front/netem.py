"""Link impairments (Linux netem): the typed value an interface's egress qdisc gets, and reading it from the file.

Units are those `tc` takes and people write: times `50ms`, `1.5ms`, `200us`, `1s`; percentages `1%`,
`0.5%`; rates `10mbit`, `512kbit`, `1gbit`, `100bit`, or in bytes per second `1mbps`, `64kbps`.
Values are kept in whole microseconds, bits per second and percentages, so that the plan, the
script's `tc` words and what the kernel reports compare exactly (the kernel rounds a percentage to
a 32-bit fraction: comparisons go through `same_as`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from topograph.front.quoting import quote

_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s)\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)\s*$", re.IGNORECASE)
_TIME_US = {"us": 1, "ms": 1000, "s": 1_000_000}
_RATE_BIT = {"bit": 1, "kbit": 1000, "mbit": 1000_000, "gbit": 1000_000_000,
             "bps": 8, "kbps": 8000, "mbps": 8000_000, "gbps": 8000_000_000}
#: netem's rate is a 32-bit count of bytes per second (tc switches to a 64-bit attribute beyond it)
MAX_RATE_BIT = (2**32 - 1) * 8
#: the longest delay or jitter topograph accepts (netem itself takes more; a lab has no use for it)
MAX_TIME_US = 60_000_000
#: the loss above which verify's probes (a few tries each) are no longer a reliable answer
UNRELIABLE_LOSS = 20.0

FIELDS = ("delay", "jitter", "loss", "rate", "duplicate", "reorder", "corrupt")
PERCENTS = ("loss", "duplicate", "reorder", "corrupt")


@dataclass(frozen=True, slots=True)
class Netem:
    """What `tc qdisc replace dev X root netem ...` sets on one interface (its egress); 0 means not set."""

    delay_us: int = 0
    jitter_us: int = 0
    loss: float = 0.0  # percent
    rate_bit: int = 0  # bits per second; 0: no rate limit
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0

    @property
    def empty(self) -> bool:
        return self == Netem()

    def tc_words(self) -> str:
        """The qdisc's options as `tc` takes them: 'delay 50ms 5ms loss 1% rate 10mbit'."""
        parts: list[str] = []
        if self.delay_us or self.jitter_us:
            parts.append(f"delay {time_text(self.delay_us)}" + (f" {time_text(self.jitter_us)}" if self.jitter_us else ""))
        parts += [f"{name} {percent_text(value)}" for name, value in self.percents() if value]
        if self.rate_bit:
            parts.append(f"rate {rate_text(self.rate_bit)}")
        return " ".join(parts)

    def label(self) -> str:
        """A short line for a diagram: '50ms ±5ms, loss 1%, 10mbit'."""
        parts: list[str] = []
        if self.delay_us or self.jitter_us:
            parts.append(time_text(self.delay_us) + (f" ±{time_text(self.jitter_us)}" if self.jitter_us else ""))
        parts += [f"{name} {percent_text(v)}" for name, v in self.percents() if v]
        if self.rate_bit:
            parts.append(rate_text(self.rate_bit))
        return ", ".join(parts)

    def percents(self) -> tuple[tuple[str, float], ...]:
        return (("loss", self.loss), ("duplicate", self.duplicate), ("reorder", self.reorder),
                ("corrupt", self.corrupt))

    def same_as(self, other: Netem) -> bool:
        """Equal up to the kernel's rounding (times to 1 µs, a percentage to its 32-bit fraction, rates to 1 B/s)."""
        return (abs(self.delay_us - other.delay_us) <= 1 and abs(self.jitter_us - other.jitter_us) <= 1
                and abs(self.rate_bit - other.rate_bit) <= 8
                and all(abs(a - b) < 1e-4 for (_, a), (_, b) in zip(self.percents(), other.percents(), strict=True)))


def time_text(us: int) -> str:
    if us % 1000:
        return f"{us}us"
    if us % 1_000_000:
        return f"{us // 1000}ms"
    return f"{us // 1_000_000}s"


def percent_text(value: float) -> str:
    """'1%', '0.25%': never an exponent, which tc would not read."""
    return f"{value:.6f}".rstrip("0").rstrip(".") + "%"


def rate_text(bit: int) -> str:
    for unit, size in (("gbit", 1000_000_000), ("mbit", 1000_000), ("kbit", 1000)):
        if bit % size == 0:
            return f"{bit // size}{unit}"
    return f"{bit}bit"


def _example(value: str | int | float, unit: str, fallback: str, parse: Callable[[str], object]) -> str:
    """'; write e.g. 50ms' for a bare number: the number with its unit when that is a value `parse` takes (not
    0mbit, -5ms or 1e-07ms), else a plain example; nothing for text, whose message says what is wrong."""
    if isinstance(value, str):
        return ""
    candidate = f"{value}{unit}"
    return f"; write e.g. {candidate if not isinstance(parse(candidate), str) else fallback + unit}"


def parse_time(value: str | int | float) -> int | str:
    """Whole microseconds, or why `value` is not a time."""
    m = _TIME.match(str(value)) if isinstance(value, str) else None
    if m is None:
        return f"{quote(value)} is not a time with a unit" + _example(value, "ms", "50", parse_time)
    us = float(m.group(1)) * _TIME_US[m.group(2)]
    if us > MAX_TIME_US:  # first: 400 nines are infinity as a float, which int() refuses
        return f"{quote(value)} is longer than {time_text(MAX_TIME_US)}"
    if us != int(us):
        return f"{quote(value)} is finer than a microsecond"
    return int(us)


def parse_percent(value: str | int | float) -> float | str:
    m = _PERCENT.match(str(value)) if isinstance(value, str) else None
    if m is None:
        return f"{quote(value)} is not a percentage" + _example(value, "%", "1", parse_percent)
    pct = float(m.group(1))
    if pct > 100:
        return f"{quote(value)} is more than 100%"
    if len(m.group(1).partition(".")[2].rstrip("0")) > 6:  # 99.9999999% would reach tc as 100%
        return f"{quote(value)} is finer than a millionth of a percent"
    return pct


def parse_rate(value: str | int | float) -> int | str:
    m = _RATE.match(str(value)) if isinstance(value, str) else None
    if m is None:
        return f"{quote(value)} is not a rate with a unit" + _example(value, "mbit", "10", parse_rate)
    bit = float(m.group(1)) * _RATE_BIT[m.group(2).lower()]
    if bit > MAX_RATE_BIT:  # first: 400 nines are infinity as a float, which int() refuses
        return f"{quote(value)} is more than netem's rate can be (2^32-1 bytes per second, about 34gbit)"
    if bit < 8 or bit != int(bit):
        return f"{quote(value)} is less than a byte per second or not a whole number of bits per second"
    return int(bit)
