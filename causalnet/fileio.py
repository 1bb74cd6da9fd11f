"""The one writer for files: atomic (temporary file in the same folder, then rename).

A crash or a full disk in the middle of a write never leaves a half-written graph, plan or
checkpoint where the previous good one was.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then move ``tmp_path`` onto ``path`` in one rename.

    ``write`` receives a path in the destination folder (so the rename never crosses file
    systems). On any error the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON with sorted keys (byte-identical for equal content), atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def check_writable(path: str | os.PathLike, *, folder: bool = False, what: str = "--out") -> Path:
    """Refuse, before any work, a destination that cannot be written: ``path`` is a file to
    write (``folder=False``) or a folder to fill (``folder=True``).

    The nearest existing ancestor must be a folder in which a file can be created (tried, then
    removed). Raises :class:`~causalnet.errors.CausalnetInputError` naming the path and the fix.
    """
    from .errors import CausalnetInputError

    path = Path(path)

    def refuse(reason: str) -> CausalnetInputError:
        return CausalnetInputError(f"cannot write {what} {str(path)!r}: {reason}; choose a "
                                   "writable location")

    probe = path
    try:
        if folder and path.exists() and not path.is_dir():
            raise refuse("it is an existing file, and a folder is needed here")
        if not folder and path.is_dir():
            raise refuse("it is an existing folder; give a file name")
        probe = path if folder else path.parent
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise refuse(f"{str(probe)!r} is a file, not a folder")
        fd, name = tempfile.mkstemp(prefix=".causalnet-probe.", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise refuse(f"{exc.strerror or exc} in {str(probe)!r}") from None
    return path
