"""Shared fixtures: tiny in-memory models and a few hundred real MNIST images."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def mnist_test():
    from causalnet.data import load_mnist

    return load_mnist("test")


@pytest.fixture(scope="session")
def mnist_small(mnist_test):
    """300 real MNIST test images, 30 per class."""
    from causalnet.data import calibration_set

    return calibration_set(mnist_test, 30, seed=0)
