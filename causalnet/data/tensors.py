"""An in-memory image dataset: a float tensor of images and an int64 tensor of labels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset


class TensorImageDataset(Dataset):
    """Images (N, C, H, W) and labels (N,) held in memory, with class names.

    Behaves like a torch ``Dataset`` (``ds[i] -> (image, label)``) and exposes ``targets`` like
    torchvision's datasets, so samplers work the same on every source.
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor,
                 classes: Sequence[str] | None = None, name: str = "tensors"):
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} labels")
        self.images = images
        self.targets = targets.long()
        n_classes = int(self.targets.max()) + 1 if len(self.targets) else 0
        self.classes = list(classes) if classes is not None else [str(i) for i in range(n_classes)]
        self.name = name

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.images[index], self.targets[index]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def subset(self, indices: Sequence[int] | torch.Tensor) -> TensorImageDataset:
        """A new dataset holding only ``indices`` (in that order)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return TensorImageDataset(self.images[idx], self.targets[idx], self.classes, self.name)
