"""Tiny models and helpers shared by the pruning tests."""

from __future__ import annotations

import torch
from torch import nn

from causalnet.units import UnitMap


class FoldCNN(nn.Module):
    """Every way a removed unit's mean can be folded: conv1 is read by a bias-free conv followed
    by a BatchNorm (running mean shifted), conv2 by a conv with neither (bias created), conv3 by
    a Linear through a flatten, fc1 by a Linear with a bias. ``padding=0`` makes the folds
    exact; ``padding=1`` is exact only away from the borders."""

    def __init__(self, padding: int = 0, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(1, 6, 3, padding=padding)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(6, 8, 3, padding=padding, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(8, 8, 3, padding=padding, bias=False)
        self.relu3 = nn.ReLU()
        self.flatten = nn.Flatten()
        side = 10 - 6 * (1 - padding)
        self.fc1 = nn.Linear(8 * side * side, 12)
        self.relu4 = nn.ReLU()
        self.fc2 = nn.Linear(12, 4)
        with torch.no_grad():
            self.bn2.running_mean.uniform_(-0.2, 0.2)
            self.bn2.running_var.uniform_(0.5, 1.5)
            self.bn2.weight.uniform_(0.5, 1.5)
            self.bn2.bias.uniform_(-0.2, 0.2)
            self.conv1.bias.uniform_(0.0, 0.3)   # keep some units alive and their means nonzero
        self.eval()

    def forward(self, x):
        h = self.relu1(self.conv1(x))
        h = self.relu2(self.bn2(self.conv2(h)))
        h = self.relu3(self.conv3(h))
        return self.fc2(self.relu4(self.fc1(self.flatten(h))))


def tiny_mlp(seed: int = 0) -> nn.Module:
    """Input (1, 4, 4) -> 20 -> 12 (bias-free reader: a bias is created) -> 3."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 20), nn.ReLU(), nn.Linear(20, 12, bias=False),
                         nn.ReLU(), nn.Linear(12, 3)).eval()


def random_removal(units: UnitMap, fraction: float = 0.34, seed: int = 0,
                   names: list[str] | None = None) -> dict[str, list[int]]:
    """About ``fraction`` of the units of each layer (at least one, never all), seeded."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for layer in units:
        if names is not None and layer.name not in names or layer.size < 2:
            continue
        k = min(layer.size - 1, max(1, round(fraction * layer.size)))
        out[layer.name] = sorted(torch.randperm(layer.size, generator=g)[:k].tolist())
    return out


def mean_ablated(model: nn.Module, units: UnitMap, removal: dict[str, list[int]],
                 means: dict[str, torch.Tensor], x: torch.Tensor, value: str = "mean",
                 capture: str | None = None) -> torch.Tensor:
    """Reference: logits with every unit of ``removal`` set, at each of its readers, to its mean
    (or to zero with ``value="zero"``), all at once; with ``capture`` the output of that module
    instead of the logits."""
    handles, captured = [], {}
    modules = dict(model.named_modules())
    for name, removed in removal.items():
        for reader in units.layer(name).readers:
            idx = torch.cat([reader.index[u] for u in removed])

            def pre(mod, args, reader=reader, idx=idx):
                t = args[0].clone()
                v = means[reader.name][idx] if value == "mean" else torch.zeros(len(idx))
                if reader.channel_dim == 1:
                    t[:, idx] = v.view(-1, *([1] * (t.ndim - 2))).to(t.dtype)
                else:
                    t[..., idx] = v.to(t.dtype)
                return (t, *args[1:])
            handles.append(modules[reader.name].register_forward_pre_hook(pre))
    if capture is not None:
        handles.append(modules[capture].register_forward_hook(
            lambda mod, args, out: captured.__setitem__("out", out)))
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for h in handles:
            h.remove()
    return captured["out"] if capture is not None else logits
