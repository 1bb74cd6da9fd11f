"""The pruning tests run tiny models: one intra-op thread is faster for them, and on a shared
2-core machine two OpenMP threads can wait on each other for most of a small op (measured here:
a zoo MobileNetV2 forward took 0.75 s with 2 threads under load, 1.6 ms with 1)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
