"""Text safe inside Markdown (a table cell or a list line): the review page's Markdown and `diff --format md`."""

from __future__ import annotations


def escape(text: object) -> str:
    """Text in a Markdown table cell or line: no pipes, brackets or markup characters taken as syntax."""
    out = str(text).replace("\\", "\\\\").replace("\n", " ")
    for c in "|*_`[]<>#":
        out = out.replace(c, "\\" + c)
    return out


def code(text: object) -> str:
    """Inline code in a table cell: a pipe must still be escaped there."""
    return "`" + str(text).replace("`", "'").replace("|", "\\|") + "`"
