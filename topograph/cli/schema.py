"""`topograph schema`: print the JSON Schema of topology files."""

from __future__ import annotations

import json

import click

from topograph.front.schema import schema


@click.command("schema")
def command() -> None:
    """Print the JSON Schema of the topology format (for editors: yaml-language-server)."""
    click.echo(json.dumps(schema(), indent=2, sort_keys=True))
