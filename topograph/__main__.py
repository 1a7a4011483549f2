"""`python -m topograph` runs the command line."""

from topograph.cli import run

run()
