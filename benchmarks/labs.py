"""Generated topologies for benchmarks: stars of N namespaces on one bridge in the host namespace."""

from __future__ import annotations

from topograph.generators import star_yaml as star

__all__ = ["star"]
