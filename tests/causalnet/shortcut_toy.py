"""A hand-wired model with a planted shortcut: two shape units and two colour units.

Inputs are (2, 1, 2) images: channel 0 is red, channel 1 is green; position 0 (left) or 1 (right)
is the *shape*, which decides the class (left = class 0, right = class 1). The *colour* is red
for class 0 and green for class 1 in bias-aligned images, the other way round in conflicting ones.

Hidden units: 0 = left shape, 1 = right shape, 2 = red, 3 = green. Logits: class 0 = 2 * left +
3 * red, class 1 = 2 * right + 3 * green, so the colour units outvote the shape units: the model is
right on aligned inputs and wrong on conflicting ones, and removing the colour units fixes it.
"""

from __future__ import annotations

import torch
from torch import nn

from causalnet.builder import build_graph
from causalnet.data import DataBundle, TensorImageDataset
from causalnet.graph import CausalGraph

SHAPE_UNITS = ("0.1:0", "0.1:1")
COLOUR_UNITS = ("0.1:2", "0.1:3")


class GroupedDataset(TensorImageDataset):
    def __init__(self, images, targets, aligned, name="shortcut_toy"):
        super().__init__(images, targets, classes=["left", "right"], name=name)
        self.aligned = aligned

    @property
    def subgroups(self):
        return {"aligned": self.aligned, "conflicting": ~self.aligned}

    def subset(self, indices):
        idx = torch.as_tensor(indices, dtype=torch.long)
        return GroupedDataset(self.images[idx], self.targets[idx], self.aligned[idx], self.name)


def shortcut_model() -> nn.Module:
    body = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        w1 = torch.zeros(4, 4)   # features: [red-left, red-right, green-left, green-right]
        w1[0, [0, 2]] = 1.0      # left shape
        w1[1, [1, 3]] = 1.0      # right shape
        w1[2, [0, 1]] = 1.0      # red
        w1[3, [2, 3]] = 1.0      # green
        w2 = torch.tensor([[2.0, 0.0, 3.0, 0.0], [0.0, 2.0, 0.0, 3.0]])
        body[1].weight.copy_(w1)
        body[1].bias.zero_()
        body[3].weight.copy_(w2)
        body[3].bias.zero_()
    return nn.Sequential(body).eval()


def shortcut_data(n: int, aligned_fraction: float, seed: int = 0) -> GroupedDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    aligned = torch.rand(n, generator=g) < aligned_fraction
    colour = torch.where(aligned, y, 1 - y)
    x = 0.1 * torch.rand(n, 2, 1, 2, generator=g)
    x[torch.arange(n), colour, 0, y] += 1.0
    return GroupedDataset(x, y, aligned)


def shortcut_bundle() -> DataBundle:
    """Fit: colours random (clean); eval: half aligned, half conflicting."""
    return DataBundle(spec="shortcut_toy", fit=shortcut_data(400, 0.5, seed=1), eval=shortcut_data(400, 0.5, seed=2))


def shortcut_graph_setup() -> tuple[nn.Module, DataBundle, CausalGraph]:
    """The toy model, its data and its causal graph (30 samples and 30 calibration images per
    class, seed 0): the set-up the audit and the debias tests share."""
    torch.manual_seed(0)
    model, data = shortcut_model(), shortcut_bundle()
    return model, data, build_graph(model, data, samples_per_class=30, calibration_per_class=30)

