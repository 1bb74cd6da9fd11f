"""Fashion-MNIST (Xiao et al. 2017) read from its four IDX files, offline.

Debian's ``dataset-fashion-mnist`` package installs them under
``/usr/share/datasets/fashion-mnist`` (``apt-get install -y dataset-fashion-mnist``); the spec
option ``?root=DIR`` points at a copy elsewhere. The files may be gzipped (``*.gz``, as shipped)
or plain. The IDX format is parsed here (a 4-byte magic with the element type and rank, one
big-endian uint32 per dimension, then the raw bytes); sizes and labels are checked.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import CausalnetInputError
from .tensors import TensorImageDataset

FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_MEAN = 0.2860
FASHION_STD = 0.3530
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
INSTALL_HINT = ("install it with `apt-get install -y dataset-fashion-mnist` (as root; it lands in "
                f"{FASHION_ROOT}), or point at a copy of the four IDX files with "
                "`fashion?root=DIR`")
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000)}


def _find(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    raise CausalnetInputError(f"Fashion-MNIST file {stem}[.gz] not found in {root}: {INSTALL_HINT}")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as a numpy array of its declared shape (uint8 data only)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise CausalnetInputError(f"cannot read {path}: {exc}; reinstall the data "
                                  f"({INSTALL_HINT})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise CausalnetInputError(f"{path} is not an IDX file (bad magic number); {INSTALL_HINT}")
    dtype_code, rank = raw[2], raw[3]
    if dtype_code != 0x08:
        raise CausalnetInputError(f"{path} holds IDX type 0x{dtype_code:02x}; Fashion-MNIST is "
                                  "unsigned bytes (0x08)")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise CausalnetInputError(f"{path} is truncated (header incomplete)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank))
    expected = int(np.prod(shape)) if shape else 0
    if len(raw) - header != expected:
        raise CausalnetInputError(f"{path} declares shape {shape} ({expected} bytes) but holds "
                                  f"{len(raw) - header}; the file is damaged: {INSTALL_HINT}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@lru_cache(maxsize=4)
def _arrays(root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_stem, labels_stem, n = _FILES[split]
    base = Path(root)
    if not base.is_dir():
        raise CausalnetInputError(f"Fashion-MNIST folder {base} does not exist: {INSTALL_HINT}")
    images = read_idx(_find(base, images_stem))
    labels = read_idx(_find(base, labels_stem))
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise CausalnetInputError(
            f"Fashion-MNIST {split} split in {base} has images {images.shape} and labels "
            f"{labels.shape}; expected ({n}, 28, 28) and ({n},): {INSTALL_HINT}")
    if labels.max() > 9:
        raise CausalnetInputError(f"Fashion-MNIST {split} labels in {base} go up to "
                                  f"{labels.max()}; expected 0..9: the file is damaged")
    return images, labels


def load_fashion(split: str = "test", root: str | Path | None = None) -> TensorImageDataset:
    """Fashion-MNIST ``split`` ('train': 60,000 images, 'test': 10,000) as normalised
    1x28x28 floats (mean 0.2860, std 0.3530), labels 0..9 named as in the paper."""
    if split not in _FILES:
        raise CausalnetInputError(f"unknown Fashion-MNIST split {split!r}; use 'train' or 'test'")
    images, labels = _arrays(str(root or FASHION_ROOT), split)
    x = torch.from_numpy(images.copy()).unsqueeze(1).float() / 255.0
    x = (x - FASHION_MEAN) / FASHION_STD
    return TensorImageDataset(x, torch.from_numpy(labels.astype(np.int64)),
                              classes=FASHION_CLASSES, name=f"fashion:{split}")
