"""`python -m topograph` runs the command line."""

from topograph.cli import main

main()
