"""The one progress-bar helper: quiet unless asked, so library calls stay silent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, show: bool = False, desc: str | None = None,
             total: int | None = None, unit: str = "it", leave: bool = False) -> tqdm:
    """Wrap ``iterable`` in a tqdm bar shown only when ``show`` is true (like Captum's
    ``show_progress``). Also usable without an iterable as a manual bar (``bar.update(n)``)."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, disable=not show,
                dynamic_ncols=True)
