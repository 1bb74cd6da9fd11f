"""Seeded, class-balanced sampling of indices, and stacking samples into tensors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import CausalnetInputError


def class_balanced_indices(targets: Sequence[int] | torch.Tensor, per_class: int, *,
                           seed: int = 0, classes: Sequence[int] | None = None,
                           strict: bool = True) -> list[int]:
    """Indices of ``per_class`` samples of each class, drawn without replacement with ``seed``.

    The result is grouped by class in ascending class order, and is the same for the same
    (targets, per_class, seed, classes). With ``strict`` a class holding fewer samples than
    asked is an error; otherwise it contributes all it has.
    """
    y = np.asarray(torch.as_tensor(targets).cpu().numpy(), dtype=np.int64)
    present = np.unique(y)
    wanted = present if classes is None else np.asarray(sorted(set(int(c) for c in classes)))
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for c in wanted:
        pool = np.flatnonzero(y == c)
        if len(pool) == 0:
            raise CausalnetInputError(
                f"class {int(c)} has no samples in this data (classes present: {present.tolist()})")
        if len(pool) < per_class and strict:
            raise CausalnetInputError(
                f"class {int(c)} has only {len(pool)} samples, fewer than the {per_class} asked; "
                "ask for fewer per class")
        take = min(per_class, len(pool))
        out.extend(int(i) for i in np.sort(rng.choice(pool, size=take, replace=False)))
    return out


def stack_samples(dataset: Dataset, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples at ``indices`` as ``(images, labels)`` tensors."""
    images = getattr(dataset, "images", None)
    if isinstance(images, torch.Tensor):
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return images[idx], dataset.targets[idx]
    xs, ys = zip(*(dataset[i] for i in indices), strict=True) if len(indices) else ((), ())
    if not xs:
        raise CausalnetInputError("no samples selected")
    return torch.stack(list(xs)), torch.as_tensor(ys, dtype=torch.long)
