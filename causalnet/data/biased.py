"""Colour-biased MNIST: a planted spurious correlation, built from MNIST by a recipe (no images
are shipped).

Every digit is drawn in grey on black (RGB, 3x28x28) with a small patch in its top-left corner
(4x4 pixels, where MNIST digits never reach) painted in one of ten fixed colours. In the *train*
split the patch has the label's own colour for 95% of the images and one of the nine other
colours for the rest, so a model can reach 95% training accuracy from the patch alone. In the *val* and *test* splits the colour is drawn uniformly at random, so it
carries no information about the label: about one image in ten is *bias-aligned* (its colour is
its label's colour) and nine in ten are *bias-conflicting*.

Splits (all seeded, identical on every machine):

- ``train``: MNIST training images 0..54,999, 95% aligned (what ``zoo:resnet20_biased`` learns from),
- ``val``: MNIST training images 55,000..59,999, random colours (never trained on: the pool of
  small *clean* calibration sets for audits and repairs),
- ``test``: the 10,000 MNIST test images, random colours.

Dataset specs: ``biased_mnist`` (fit: train, eval: test), ``biased_mnist:clean`` (fit: val,
eval: test: draw calibration images from clean data, report on the test set),
``biased_mnist:train|val|test`` (that split for both), each with ``?bias=aligned`` or
``?bias=conflicting`` to keep only the images whose colour matches (or does not match) the label,
and ``?per_class=N`` to keep only N images per class of the *fit* split (seeded): e.g.
``biased_mnist:clean?per_class=20`` is a 200-image clean calibration set, evaluated on the test set.
Every split exposes ``colours`` (the colour index of each image), ``aligned`` (colour == label)
and ``subgroups`` ({"aligned": mask, "conflicting": mask}), which the audit reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import CausalnetInputError, SpecError
from .mnist import MNIST_CLASSES, MNIST_MEAN, MNIST_STD, _raw_arrays
from .tensors import TensorImageDataset

# One colour per class, far apart in chromaticity (not only in brightness), RGB in [0, 1].
COLOURS = torch.tensor([
    [1.00, 0.00, 0.00],   # 0 red
    [0.00, 1.00, 0.00],   # 1 green
    [0.00, 0.00, 1.00],   # 2 blue
    [1.00, 1.00, 0.00],   # 3 yellow
    [1.00, 0.00, 1.00],   # 4 magenta
    [0.00, 1.00, 1.00],   # 5 cyan
    [1.00, 0.50, 0.00],   # 6 orange
    [0.50, 0.00, 1.00],   # 7 violet
    [0.00, 0.50, 0.25],   # 8 dark green
    [1.00, 1.00, 1.00],   # 9 white
])
ALIGNED_FRACTION = 0.95
TRAIN_SIZE = 55_000
SPLITS = ("train", "val", "test")
BIAS_CHOICES = ("aligned", "conflicting")
_SEEDS = {"train": 60_001, "val": 60_002, "test": 60_003}


class BiasedMNIST(TensorImageDataset):
    """A :class:`TensorImageDataset` that also knows each image's colour and whether the colour
    is its label's (``aligned``); ``subgroups`` names the two groups for the audit."""

    bias_cue = "the colour of the corner patch (the label's colour in 95% of training images)"

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, colours: torch.Tensor,
                 name: str = "biased_mnist"):
        super().__init__(images, targets, classes=MNIST_CLASSES, name=name)
        self.colours = colours.long()
        self.aligned = self.colours == self.targets

    @property
    def subgroups(self) -> dict[str, torch.Tensor]:
        return {"aligned": self.aligned, "conflicting": ~self.aligned}

    def subset(self, indices: Sequence[int] | torch.Tensor) -> BiasedMNIST:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return BiasedMNIST(self.images[idx], self.targets[idx], self.colours[idx], self.name)


PATCH = 4   # side of the coloured corner patch, pixels


def colour_digits(gray: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Grey digits ``gray`` ((N, 1, H, W) or (N, H, W), intensities in [0, 1]) on three channels
    with a top-left ``PATCH`` x ``PATCH`` patch of colour ``colours`` (N,), normalised like MNIST:
    (N, 3, H, W)."""
    if gray.ndim == 3:
        gray = gray[:, None]
    rgb = gray.expand(-1, 3, -1, -1).clone()
    rgb[:, :, :PATCH, :PATCH] = COLOURS[colours.long()].to(gray.dtype)[:, :, None, None]
    return (rgb - MNIST_MEAN) / MNIST_STD


def draw_colours(labels: torch.Tensor, split: str) -> torch.Tensor:
    """The colour index of every image of ``split`` (seeded): the label's colour with
    probability 0.95 and another colour otherwise in train; uniform in val and test."""
    rng = np.random.default_rng(_SEEDS[split])
    y = labels.numpy()
    if split == "train":
        other = (y + rng.integers(1, 10, size=len(y))) % 10
        keep = rng.random(len(y)) < ALIGNED_FRACTION
        colours = np.where(keep, y, other)
    else:
        colours = rng.integers(0, 10, size=len(y))
    return torch.from_numpy(colours.astype(np.int64))


def _gray_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x_train, y_train, x_test, y_test = _raw_arrays()
    if split == "train":
        x, y = x_train[:TRAIN_SIZE], y_train[:TRAIN_SIZE]
    elif split == "val":
        x, y = x_train[TRAIN_SIZE:], y_train[TRAIN_SIZE:]
    else:
        x, y = x_test, y_test
    return torch.from_numpy(x).float() / 256.0, torch.from_numpy(y)


def load_biased_mnist(split: str = "test", bias: str | None = None,
                      per_class: int | None = None) -> BiasedMNIST:
    """Split ``split`` of colour-biased MNIST, optionally only its ``bias`` group
    ('aligned' or 'conflicting') and only ``per_class`` images per class (seeded choice)."""
    if split not in SPLITS:
        raise CausalnetInputError(f"unknown biased_mnist split {split!r}; use one of {', '.join(SPLITS)}")
    if bias not in (None, *BIAS_CHOICES):
        raise CausalnetInputError(f"unknown bias group {bias!r}; use bias=aligned or bias=conflicting")
    gray, y = _gray_split(split)
    colours = draw_colours(y, split)
    if bias is not None:
        keep = (colours == y) if bias == "aligned" else (colours != y)
        gray, y, colours = gray[keep], y[keep], colours[keep]
    if per_class is not None:
        from .calibration import class_balanced_indices

        keep = torch.as_tensor(class_balanced_indices(y, per_class, seed=_SEEDS[split]), dtype=torch.long)
        gray, y, colours = gray[keep], y[keep], colours[keep]
    options = "&".join(o for o in (bias and f"bias={bias}", per_class and f"per_class={per_class}") if o)
    name = f"biased_mnist:{split}" + (f"?{options}" if options else "")
    return BiasedMNIST(colour_digits(gray, colours), y, colours, name=name)


def biased_pair(body: str | None, options: dict[str, str], spec: str) -> tuple[BiasedMNIST, BiasedMNIST]:
    """(fit, eval) datasets of a ``biased_mnist`` spec (see the module docstring)."""
    unknown = set(options) - {"bias", "per_class"}
    if unknown:
        raise SpecError(f"unknown option(s) {sorted(unknown)} in {spec!r}; allowed: "
                        "bias=aligned|conflicting, per_class=N")
    bias = options.get("bias")
    if bias is not None and bias not in BIAS_CHOICES:
        raise SpecError(f"bad bias={bias!r} in {spec!r}; use bias=aligned or bias=conflicting")
    per_class = options.get("per_class")
    if per_class is not None:
        if not per_class.isdigit() or int(per_class) < 1:
            raise SpecError(f"bad per_class={per_class!r} in {spec!r}; use a positive whole number")
        per_class = int(per_class)
    pairs = {None: ("train", "test"), "clean": ("val", "test")}
    if body not in pairs and body not in SPLITS:
        raise SpecError(f"unknown split {body!r} in {spec!r}; use biased_mnist[:clean|:train|:val|:test]")
    fit_split, eval_split = pairs.get(body, (body, body))
    fit = load_biased_mnist(fit_split, bias, per_class)
    if per_class is None and fit_split == eval_split:
        return fit, fit
    return fit, load_biased_mnist(eval_split, bias)
