"""A zoo LeNet-5 whose rank 1 fails after a number of forwards (set by an environment
variable), so that a distributed build can be interrupted at a known point in the tests."""

from __future__ import annotations

import os

from torch import nn

from causalnet.zoo import load_zoo_model

ENV = "CAUSALNET_TEST_RANK1_FAILS_AFTER"
_calls = [0]


def lenet5() -> nn.Module:
    model = load_zoo_model("lenet5")
    base = type(model)

    class FailsOnRank1(base):
        def forward(self, x):
            limit = os.environ.get(ENV)
            if limit and os.environ.get("RANK") == "1":
                _calls[0] += 1
                if _calls[0] > int(limit):
                    raise SystemExit(f"rank 1 stops after {limit} forwards (test)")
            return super().forward(x)

    model.__class__ = FailsOnRank1
    return model
