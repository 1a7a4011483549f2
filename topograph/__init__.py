"""topograph: a Linux network lab as a graph — check, draw, compile and apply it.

The Python API (topograph.api) is here by name, loaded when first used so that the command line
starts as fast as before: `topograph.load(path)`, `topograph.Lab`, `topograph.from_graph(g)`,
`topograph.generators.star(10)`, ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from topograph import generators
    from topograph.api import (
        CheckResult,
        Lab,
        LabError,
        LiveLab,
        Reach,
        Status,
        TraceResult,
        VerifyResult,
        from_document,
        from_graph,
        from_text,
        load,
    )

__all__ = ["CheckResult", "Lab", "LabError", "LiveLab", "Reach", "Status", "TraceResult", "VerifyResult", "__version__",
           "from_document", "from_graph", "from_text", "generators", "load"]
_API = frozenset(__all__) - {"__version__", "generators"}


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use (`import topograph` itself stays light)."""
    if name in _API:
        return getattr(importlib.import_module("topograph.api"), name)
    if name == "generators":
        return importlib.import_module("topograph.generators")
    raise AttributeError(f"module 'topograph' has no attribute {name!r}")
