"""topograph's Python API: a lab from a file, YAML text, a networkx graph or a generator — checked,
predicted, drawn, compiled, and brought up in a sandbox for tests.

    import topograph

    lab = topograph.load("samples/06-port-forward.yml")
    assert lab.check().ok
    print(lab.trace("lan", "host:80"))
    with lab.up(sandbox="t1-") as live:
        print(live.exec("red", "ping", "-c1", "192.168.15.2").stdout)
        assert live.verify().ok

Modules: lab (Lab and the loaders), graph (the networkx conventions), live (LiveLab), results (the
typed answers); topograph.generators makes labs of common shapes; topograph.pytest_plugin the fixture.
"""

from __future__ import annotations

from topograph.api.lab import Lab, from_document, from_graph, from_text, load
from topograph.api.live import LiveLab
from topograph.api.results import CheckResult, LabError, Reach, Status, TraceResult, VerifyResult

__all__ = ["CheckResult", "Lab", "LabError", "LiveLab", "Reach", "Status", "TraceResult", "VerifyResult",
           "from_document", "from_graph", "from_text", "load"]
