"""Quoting a user's value into a message: the one helper, so that a 5,000-character name cannot swamp a line."""

from __future__ import annotations

#: A value whose quoted text is longer than this (escapes included, quotes not) is shown by its start:
#: `'aaaa…' (5,000 characters)`.
QUOTE_MAX = 64
#: How much of a long value's start is shown (before escaping): enough to find it in the file.
QUOTE_HEAD = 32


def quote(value: object) -> str:
    """`value` as `{value!r}` writes it (`'red'`, control characters escaped so that it stays on one line, `80` for a
    number), or, when that holds more than QUOTE_MAX characters, its start, an ellipsis and its length: `'aaaaaaaa…' (5,000
    characters)`."""
    whole = repr(value)
    if not shortened(value):
        return whole
    if not isinstance(value, str):  # a number or a list: its text, cut the same way
        return f"{whole[:QUOTE_HEAD]}… ({len(whole):,} characters)"
    head = value[:QUOTE_HEAD]
    while len(repr(head)) > QUOTE_HEAD + 2:  # escapes (\n, \x00, \u200b) take room too
        head = head[:-1]
    shown = repr(head)
    return f"{shown[:-1]}…{shown[-1]} ({len(value):,} characters)"


def shortened(value: object) -> bool:
    """Does quote() show `value` by its start and length (rather than whole)?"""
    return len(repr(value)) > QUOTE_MAX + 2


def length_of(value: str) -> str:
    """What a message says of a value too long for its place, after `quote(value)`: `is 45 characters long`, or,
    when quote() has already said how long it is, `is too long` (not the length twice)."""
    return "is too long" if shortened(value) else f"is {len(value):,} characters long"
