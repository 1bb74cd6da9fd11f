"""A zoo LeNet-5 whose rank 1 fails at its first forward after a file (named by an environment
variable: rank 1's checkpoint) exists, so that a distributed build is interrupted once rank 1
has finished some work, whatever the number of forwards each step takes."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from causalnet.zoo import load_zoo_model

ENV = "CAUSALNET_TEST_RANK1_FAILS_AFTER"


def lenet5() -> nn.Module:
    model = load_zoo_model("lenet5")
    base = type(model)

    class FailsOnRank1(base):
        def forward(self, x):
            marker = os.environ.get(ENV)
            if marker and os.environ.get("RANK") == "1" and Path(marker).exists():
                raise SystemExit(f"rank 1 stops: {marker} exists (test)")
            return super().forward(x)

    model.__class__ = FailsOnRank1
    return model
