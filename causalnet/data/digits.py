"""scikit-learn's 8x8 handwritten digits (1,797 images), split 80/20 with a fixed seed."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import CausalnetInputError
from .tensors import TensorImageDataset

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2


def load_digits(split: str = "test") -> TensorImageDataset:
    """The digits ``split`` ('train' or 'test') as 1x8x8 floats scaled to [0, 1] then standardised."""
    if split not in ("train", "test"):
        raise CausalnetInputError(f"unknown digits split {split!r}; use 'train' or 'test'")
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    targets = bunch.target.astype(np.int64)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(targets))
    n_test = int(round(DIGITS_TEST_FRACTION * len(targets)))
    idx = order[:n_test] if split == "test" else order[n_test:]
    x = torch.from_numpy(images[idx]).unsqueeze(1)
    mean, std = float(images.mean()), float(images.std())
    return TensorImageDataset((x - mean) / std, torch.from_numpy(targets[idx]),
                              classes=[str(i) for i in range(10)], name=f"digits:{split}")
