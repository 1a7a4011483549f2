"""Turning DOT into files: pick the format, run graphviz, write atomically, and map failures to RenderError."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

from topograph.front.quoting import quote

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
            raise RenderError(f"unknown format {quote(explicit)}; use one of: {', '.join(FORMATS)}")
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
    """Fail before the (possibly slow) layout when the output cannot be written at all; every reason is a
    RenderError (a name too long, a folder this user may not look into...), never an OSError."""
    try:
        _check_writable(output)
    except OSError as exc:
        raise RenderError(f"cannot write {output}: {exc.strerror or exc}") from None


def _check_writable(output: str) -> None:
    path = Path(output)
    try:
        st: os.stat_result | None = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):  # the folder is looked at next
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise RenderError(f"cannot write {output}: it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):  # /dev/stdout, a FIFO: written into, as they are
        if not os.access(path, os.W_OK):
            raise RenderError(f"cannot write {output}: Permission denied")
        return
    parent = Path(os.path.realpath(path)).parent  # a symlink's target is replaced, not the link
    try:
        parent_is_dir = stat.S_ISDIR(os.stat(parent).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        parent_is_dir = None
    if not parent_is_dir:
        problem = "is not a directory" if parent_is_dir is False else "does not exist"
        raise RenderError(f"cannot write {output}: {path.parent} {problem}")
    if not os.access(parent, os.W_OK | os.X_OK) or (st is not None and not os.access(path, os.W_OK)):
        raise RenderError(f"cannot write {output}: Permission denied")


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


def write_output(output: str, data: bytes) -> None:
    """Write via a temporary file in the same directory, so a failure never leaves half a diagram.

    A symlink keeps pointing where it did (its target is replaced); a target that is not a regular file
    (/dev/stdout, a FIFO) is written into, since renaming over it would replace the device or pipe itself.
    """
    try:
        if os.path.exists(output) and not os.path.isfile(output):
            with open(output, "wb") as f:
                f.write(data)
            return
        path = Path(os.path.realpath(output))
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
