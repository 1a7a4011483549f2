"""`topograph completion bash|zsh|fish`: the shell completion script, made by click's completion machinery."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_TOPOGRAPH_COMPLETE"  # what the script sets when it asks `topograph` for completions


def script(shell: str) -> str:
    """The script that makes `shell` complete topograph's commands, options and files."""
    from click.shell_completion import get_completion_class

    from topograph.cli import main

    cls = get_completion_class(shell)
    assert cls is not None, shell  # click knows each of SHELLS
    return cls(main, {}, "topograph", COMPLETE_VAR).source()


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def command(shell: str) -> None:
    """Print the completion script of SHELL: commands, options and file names complete on Tab.

    \b
    bash:  eval "$(topograph completion bash)"     (in ~/.bashrc; needs bash 4.4 or later)
    zsh:   eval "$(topograph completion zsh)"      (in ~/.zshrc)
    fish:  topograph completion fish > ~/.config/fish/completions/topograph.fish
    """
    click.echo(script(shell), nl=False)
