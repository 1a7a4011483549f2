"""Turning DOT into files: pick the format, run graphviz, write atomically, and map failures to RenderError."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

FORMATS = ("svg", "png", "pdf", "dot")
EXTENSIONS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
PNG_DPI = 110  # sharp enough to read 9pt addresses; graphviz's default 72 blurs them


class RenderError(Exception):
    """A one-line, user-facing reason why no diagram was written."""


def format_for(output: str | None, explicit: str | None) -> str:
    """--format wins; otherwise the output file's extension decides."""
    if explicit is not None:
        fmt = explicit.lower()
        if fmt not in FORMATS:
            raise RenderError(f"unknown format {explicit!r}; use one of: {', '.join(FORMATS)}")
        return fmt
    if output is None:
        return "svg"
    ext = Path(output).suffix.lower()
    if ext not in EXTENSIONS:
        shown = ext or "no extension"
        raise RenderError(f"cannot tell the format of {output!r} ({shown}); name it .svg, .png, .pdf or .dot, "
                          f"or pass --format")
    return EXTENSIONS[ext]


def check_writable(output: str) -> None:
    """Fail before the (possibly slow) layout when the output cannot be written at all."""
    path = Path(output)
    parent = path.parent
    if path.is_dir():
        raise RenderError(f"cannot write {output}: it is a directory")
    if not parent.is_dir():
        problem = "is not a directory" if parent.exists() else "does not exist"
        raise RenderError(f"cannot write {output}: {parent} {problem}")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise RenderError(f"cannot write {output}: permission denied")


def draw(dot_source: str, fmt: str, engine: str = "dot") -> bytes:
    """Lay out and draw with the graphviz binaries; DOT itself needs no binary."""
    if fmt == "dot":
        return dot_source.encode()
    args = [engine, f"-T{fmt}"]
    if fmt == "png":
        args.append(f"-Gdpi={PNG_DPI}")
    try:
        done = subprocess.run(args, input=dot_source.encode(), capture_output=True, check=False)
    except FileNotFoundError:
        raise RenderError(f"graphviz is not installed: the '{engine}' program was not found on PATH "
                          f"(install it, e.g. apt install graphviz), or use --dot / -o FILE.dot") from None
    except OSError as exc:
        raise RenderError(f"cannot run graphviz '{engine}': {exc.strerror or exc}") from None
    if done.returncode != 0 or not done.stdout:
        first = next((ln for ln in done.stderr.decode(errors="replace").splitlines() if ln.strip()), "no output")
        raise RenderError(f"graphviz '{engine}' failed ({fmt}): {first}")
    return done.stdout


def write(output: str, data: bytes) -> None:
    """Write via a temporary file in the same directory, so a failure never leaves half a diagram."""
    path = Path(output)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise RenderError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a diagram is as readable as any new file
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RenderError(f"cannot write {output}: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
