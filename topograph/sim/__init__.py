"""The reachability simulator: predicts, with reasons, what the kernel will do with each flow of a lab."""

from __future__ import annotations

from topograph.sim.forward import Walker, trace_flow
from topograph.sim.network import Network, SimOptions
from topograph.sim.trace import Disposition, Flow, FlowResult, Hop, Step, Trace, Verdict

__all__ = ["Disposition", "Flow", "FlowResult", "Hop", "Network", "SimOptions", "Step", "Trace", "Verdict", "Walker",
           "trace_flow"]
