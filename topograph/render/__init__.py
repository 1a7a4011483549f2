"""Diagrams of a topology: deterministic DOT (dot.py) drawn by graphviz into svg/png/pdf (output.py)."""

from __future__ import annotations

from topograph.render.dot import Options, to_dot

__all__ = ["Options", "to_dot"]
