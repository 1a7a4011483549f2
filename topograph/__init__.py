"""topograph: a Linux network lab as a graph — check, draw, compile and apply it."""

from __future__ import annotations

__version__ = "0.1.0"
