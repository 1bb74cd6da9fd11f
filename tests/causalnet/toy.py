"""Tiny models with known causal structure, shared by the builder tests."""

from __future__ import annotations

import torch
from torch import nn


def hand_wired() -> nn.Module:
    """Input (1, 2, 2) -> 4 features -> 6 hidden units -> 3 logits, wired by hand.

    Hidden units 0, 1, 2 copy input features 0, 1, 2 and feed only logit 0, 1, 2 (one class
    each); units 3 and 4 are dead (always 0); unit 5 copies the class-independent feature 3 and
    pushes logit 2 up on every input, so it helps class 2 but hurts classes 0 and 1 more often:
    removing it raises the true-class probability on average (detrimental).
    """
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        w1 = torch.zeros(6, 4)
        w1[0, 0] = w1[1, 1] = w1[2, 2] = 1.0
        w1[5, 3] = 1.0
        b1 = torch.tensor([0.0, 0.0, 0.0, -1.0, -5.0, 0.0])
        w2 = torch.zeros(3, 6)
        w2[0, 0] = w2[1, 1] = w2[2, 2] = 2.0
        w2[2, 5] = 1.5
        model[1].weight.copy_(w1)
        model[1].bias.copy_(b1)
        model[3].weight.copy_(w2)
        model[3].bias.zero_()
    return model.eval()


def hand_wired_data(n_per_class: int = 120, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class k has feature k near 3; feature 3 is noise near 1 for every class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(3).repeat_interleave(n_per_class)
    x = torch.randn(len(y), 4, generator=g) * 0.3
    x[torch.arange(len(y)), y] += 3.0
    x[:, 3] = 1.0 + 0.3 * torch.randn(len(y), generator=g)
    return x.view(-1, 1, 2, 2), y


def tiny_cnn(seed: int = 0) -> nn.Module:
    """A small random CNN with BatchNorm, a residual add and a flatten into a classifier."""
    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(6)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
            self.relu2 = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.conv3 = nn.Conv2d(6, 8, 3, padding=1)
            self.relu3 = nn.ReLU()
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(8 * 4 * 4, 12)
            self.relu4 = nn.ReLU()
            self.fc2 = nn.Linear(12, 4)

        def forward(self, x):
            h = self.relu1(self.bn1(self.conv1(x)))
            h = self.relu2(self.conv2(h) + h)
            h = self.relu3(self.conv3(self.pool(h)))
            return self.fc2(self.relu4(self.fc1(self.flatten(h))))

    net = Net()
    with torch.no_grad():
        net.bn1.running_mean.uniform_(-0.2, 0.2)
        net.bn1.running_var.uniform_(0.5, 1.5)
    return net.eval()


def tiny_cnn_case():
    """:func:`tiny_cnn`, its units and 24 seeded 1x8x8 inputs (the engine and masking tests)."""
    from causalnet.units import discover_units

    model = tiny_cnn()
    x = torch.randn(24, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return model, discover_units(model, x[:1]), x
