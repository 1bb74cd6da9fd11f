"""Train a zoo model by its recipe: seeded, on CPU, with a progress bar; no pickle anywhere."""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..data import FASHION_MEAN, FASHION_STD, MNIST_MEAN, MNIST_STD, load_data
from ..errors import CausalnetInputError
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


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image left-right with probability 1/2."""
    flip = torch.rand(len(x), generator=generator) < 0.5
    if flip.any():
        x = x.clone()
        x[flip] = x[flip].flip(-1)
    return x


# the value of a black (0) pixel after each dataset's normalisation: what a shift uncovers
_BACKGROUND = {"fashion": (0.0 - FASHION_MEAN) / FASHION_STD}


def _background(dataset: str) -> float:
    return _BACKGROUND.get(dataset.split(":")[0].split("?")[0], (0.0 - MNIST_MEAN) / MNIST_STD)


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


def _resume_path(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}.train-state.safetensors"


def _save_state(path: Path, epoch: int, model, opt, sched, gen, train_seconds: float) -> None:
    """Everything a resumed run needs, as safetensors (no pickle): the tensors of the model, the
    optimiser's per-parameter state and the random generators, and the plain rest (epoch,
    optimiser groups, schedule) as JSON in the file's metadata."""
    opt_sd = opt.state_dict()
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    opt_plain: dict = {}
    for i, st in opt_sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"opt.{i}.{k}"] = v.contiguous()
            else:
                opt_plain.setdefault(str(i), {})[k] = v
    tensors["gen"], tensors["rng"] = gen.get_state(), torch.get_rng_state()
    plain = {"epoch": epoch, "train_seconds": train_seconds, "sched": sched.state_dict(),
             "param_groups": opt_sd["param_groups"], "opt_plain": opt_plain}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"state": json.dumps(plain)}))


def _load_state(path: Path) -> dict:
    """The state :func:`_save_state` wrote, as ``model`` / ``opt`` / ``sched`` state dicts,
    ``gen`` / ``rng`` states, ``epoch`` and ``train_seconds``."""
    with safe_open(str(path), framework="pt") as f:
        plain = json.loads(f.metadata()["state"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    opt_state: dict = {int(i): dict(v) for i, v in plain["opt_plain"].items()}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, i, k = key.split(".", 2)
            opt_state.setdefault(int(i), {})[k] = v
    return {"epoch": plain["epoch"], "train_seconds": plain["train_seconds"], "sched": plain["sched"],
            "model": {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
            "opt": {"state": opt_state, "param_groups": plain["param_groups"]},
            "gen": tensors["gen"], "rng": tensors["rng"]}


def train_zoo_model(name: str, out_dir: str | Path, *, show_progress: bool = True,
                    epochs: int | None = None, threads: int | None = None,
                    resume: bool = True, dataset: str | None = None) -> dict:
    """Train zoo model ``name`` by its recipe and write ``NAME.safetensors`` and ``NAME.json``
    (its card) into ``out_dir``.

    Args:
        name: a zoo entry (``causalnet zoo list``).
        out_dir: folder for the weights, the card and, while training, ``NAME.train-state.safetensors``
            (model, optimiser, schedule and RNG state after each finished epoch).
        show_progress: a progress bar per epoch.
        epochs: override the recipe's epoch count.
        threads: torch CPU threads.
        dataset: train on this dataset spec instead of the recipe's (recorded on the card).
        resume: continue from ``NAME.train-state.safetensors`` when one is there (same recipe and
            epochs); the result equals an uninterrupted run's. The state file is removed once
            the checkpoint is written.

    Returns:
        The card (a dict), also written as ``NAME.json``.
    """

    entry = zoo_entry(name)
    recipe = entry.recipe if dataset is None else replace(entry.recipe, dataset=dataset)
    if threads is not None and threads < 1:
        raise CausalnetInputError(f"threads must be at least 1, got {threads}")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    data = load_data(recipe.dataset)
    x_train, y_train = data.fit.images, data.fit.targets
    background = _background(recipe.dataset)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    model = prefer_channels_last(entry.build())
    opt = _optimizer(model, recipe)
    n_epochs = epochs or recipe.epochs
    steps_per_epoch = math.ceil(len(y_train) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, epochs=n_epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    state_path = _resume_path(out_dir, name)
    first_epoch, done_seconds = 0, 0.0
    if resume and state_path.is_file():
        state = _load_state(state_path)
        if state["sched"].get("total_steps") == n_epochs * steps_per_epoch:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            gen.set_state(state["gen"])
            torch.set_rng_state(state["rng"])
            first_epoch, done_seconds = int(state["epoch"]), float(state["train_seconds"])
    start = time.perf_counter() - done_seconds
    for epoch in range(first_epoch, n_epochs):
        model.train()
        order = torch.randperm(len(y_train), generator=gen)
        bar = progress(range(steps_per_epoch), show=show_progress, desc=f"{name} epoch {epoch + 1}/{n_epochs}",
                       unit="batch", leave=True)
        for step in bar:
            idx = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
            xb = random_shift(x_train[idx], recipe.max_shift, gen, background)
            if recipe.hflip:
                xb = random_hflip(xb, gen)
            xb = xb.contiguous(memory_format=torch.channels_last)
            loss = loss_fn(model(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        if epoch + 1 < n_epochs:
            _save_state(state_path, epoch + 1, model, opt, sched, gen, time.perf_counter() - start)
    train_seconds = time.perf_counter() - start
    model.eval()
    test_acc = accuracy(model, data.eval)
    # data with named subgroups (colour-biased MNIST: aligned / conflicting) gets each reported
    groups = {g: round(accuracy(model, data.eval.subset(torch.nonzero(mask)[:, 0])), 6)
              for g, mask in getattr(data.eval, "subgroups", {}).items()}
    macs, params = count_macs_params(model, data.input_shape)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}

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
    state_path.unlink(missing_ok=True)
    return card
