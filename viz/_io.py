"""Saving matplotlib figures: atomically, in the format the path (or caller) asks for.

Every picture goes through :func:`save_figure`, so a crash never leaves half an image where a
good one was, and SVG text stays text (searchable, small, testable).
"""

from __future__ import annotations

import os
from pathlib import Path

from causalnet.errors import CausalnetInputError
from causalnet.fileio import atomic_write

FIGURE_FORMATS = ("png", "svg", "pdf")
DPI = 110


def figure_format(out: str | os.PathLike, fmt: str | None = None) -> str:
    """``fmt``, or ``out``'s suffix; a CausalnetInputError unless it is png, svg or pdf."""
    fmt = (fmt or Path(out).suffix.lstrip(".")).lower()
    if fmt not in FIGURE_FORMATS:
        raise CausalnetInputError(f"cannot write a figure as {fmt or 'a file without suffix'!r} "
                                  f"({out}); use one of {', '.join(FIGURE_FORMATS)}")
    return fmt


def save_figure(fig, out: str | os.PathLike, fmt: str | None = None, *, dpi: int = DPI) -> Path:
    """Write the matplotlib Figure ``fig`` to ``out`` atomically and return the path."""
    import matplotlib

    fmt = figure_format(out, fmt)

    def write(tmp: Path) -> None:
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "causalnet"}):
            fig.savefig(tmp, format=fmt, dpi=dpi, facecolor="white")

    return atomic_write(out, write)
