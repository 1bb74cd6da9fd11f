"""Train a zoo model by its recipe: seeded, on CPU, with a progress bar; no pickle anywhere."""

from __future__ import annotations

import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data import MNIST_MEAN, MNIST_STD, load_data
from ..evaluate import accuracy, count_macs_params, prefer_channels_last
from ..fileio import atomic_write, atomic_write_json
from ..fingerprint import model_fingerprint
from ..progress import progress
from .registry import Recipe, zoo_entry


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator,
                 background: float) -> torch.Tensor:
    """Translate each image by a random whole number of pixels in [-max_shift, max_shift],
    filling uncovered pixels with ``background``."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).float()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = shifts[:, 0] * 2 / w
    theta[:, 1, 2] = shifts[:, 1] * 2 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x - background, grid, mode="nearest", padding_mode="zeros",
                        align_corners=False)
    return out + background


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=0.9, nesterov=True)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def train_zoo_model(name: str, out_dir: str | Path, *, show_progress: bool = True,
                    epochs: int | None = None, threads: int | None = None) -> dict:
    """Train zoo model ``name`` by its recipe and write ``NAME.safetensors`` and ``NAME.json``
    (its card) into ``out_dir``. Returns the card."""
    from safetensors.torch import save_file

    entry = zoo_entry(name)
    recipe = entry.recipe
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    data = load_data(recipe.dataset)
    x_train, y_train = data.fit.images, data.fit.targets
    background = (0.0 - MNIST_MEAN) / MNIST_STD

    model = prefer_channels_last(entry.build())
    opt = _optimizer(model, recipe)
    n_epochs = epochs or recipe.epochs
    steps_per_epoch = math.ceil(len(y_train) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, epochs=n_epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    start = time.perf_counter()
    for epoch in range(n_epochs):
        model.train()
        order = torch.randperm(len(y_train), generator=gen)
        bar = progress(range(steps_per_epoch), show=show_progress, desc=f"{name} epoch {epoch + 1}/{n_epochs}",
                       unit="batch", leave=True)
        for step in bar:
            idx = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
            xb = random_shift(x_train[idx], recipe.max_shift, gen, background)
            xb = xb.contiguous(memory_format=torch.channels_last)
            loss = loss_fn(model(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    train_seconds = time.perf_counter() - start
    model.eval()
    test_acc = accuracy(model, data.eval)
    # data with named subgroups (colour-biased MNIST: aligned / conflicting) gets each reported
    groups = {g: round(accuracy(model, data.eval.subset(torch.nonzero(mask)[:, 0])), 6)
              for g, mask in getattr(data.eval, "subgroups", {}).items()}
    macs, params = count_macs_params(model, data.input_shape)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}

    out_dir = Path(out_dir)
    weights = out_dir / f"{name}.safetensors"
    atomic_write(weights, lambda tmp: save_file(state, str(tmp), metadata={"zoo_model": name}))
    card = {
        "name": name,
        "description": entry.description,
        "architecture": {"factory": f"{entry.factory.__module__}.{entry.factory.__name__}",
                         "kwargs": entry.kwargs, "input_shape": list(data.input_shape)},
        "recipe": recipe.to_dict() | {"epochs": n_epochs},
        "test_accuracy": round(test_acc, 6),
        **({"subgroup_accuracy": groups} if groups else {}),
        "min_accuracy": entry.min_accuracy,
        "params": int(params),
        "macs": int(macs),
        "train_seconds": round(train_seconds, 1),
        "trained_on": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                       "machine": platform.machine(), "device": "cpu"},
        "fingerprint": model_fingerprint(model),
    }
    atomic_write_json(out_dir / f"{name}.json", card)
    return card
