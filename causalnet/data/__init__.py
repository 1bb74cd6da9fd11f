"""Datasets by spec string, and class-balanced calibration samples.

Dataset specs: ``mnist`` (train and test splits), ``mnist:train``, ``mnist:test``,
``fashion[:train|:test][?root=DIR]`` (Fashion-MNIST, same semantics as ``mnist``), ``digits``,
``digits:train``, ``digits:test``, ``folder:PATH[?size=224&channels=3&mean=..&std=..]``,
``biased_mnist[:clean|:train|:val|:test][?bias=aligned|conflicting]`` (colour-biased MNIST with a
planted spurious correlation, :mod:`causalnet.data.biased`).
A :class:`DataBundle` carries a *fit* split (where calibration and graph samples are drawn)
and an *eval* split (where accuracy is reported). ``mnist`` draws samples from train and
evaluates on test; ``mnist:test`` uses the test split for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..errors import CausalnetInputError, SpecError
from ..specs import option_value, parse_spec
from .biased import BiasedMNIST, biased_pair, load_biased_mnist
from .calibration import class_balanced_indices, stack_samples
from .digits import load_digits
from .fashion import FASHION_MEAN, FASHION_STD, load_fashion
from .folder import load_folder
from .mnist import MNIST_MEAN, MNIST_STD, load_mnist
from .tensors import TensorImageDataset

__all__ = ["DataBundle", "load_data", "load_mnist", "load_fashion", "load_digits", "load_folder",
           "class_balanced_indices", "calibration_set", "stack_samples", "TensorImageDataset",
           "MNIST_MEAN", "MNIST_STD", "FASHION_MEAN", "FASHION_STD", "DATA_SPEC_HELP", "BiasedMNIST", "load_biased_mnist"]

DATA_SPEC_HELP = ("mnist | mnist:train | mnist:test | fashion[:train|:test][?root=DIR] | "
                  "digits[:train|:test] | "
                  "folder:PATH[?size=224&channels=3] | biased_mnist[:clean|:val|:test][?bias=conflicting]")


@dataclass
class DataBundle:
    """A dataset resolved from a spec: where samples are drawn (``fit``) and where accuracy is
    measured (``eval``)."""

    spec: str
    fit: Dataset
    eval: Dataset

    @property
    def classes(self) -> list[str]:
        return list(self.eval.classes)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.eval[0][0].shape)


def _split_pair(loader, split: str | None, spec: str) -> tuple[Dataset, Dataset]:
    if split is None:
        return loader("train"), loader("test")
    if split not in ("train", "test"):
        raise SpecError(f"unknown split {split!r} in dataset spec {spec!r}; use :train or :test")
    ds = loader(split)
    return ds, ds


def _check_options(parsed, allowed: set[str], spec: str) -> None:
    unknown = set(parsed.options) - allowed
    if unknown:
        allowed_text = ", ".join(sorted(allowed)) if allowed else "none"
        raise SpecError(f"unknown option(s) {sorted(unknown)} in dataset spec {spec!r}; "
                        f"allowed: {allowed_text}")


def load_data(spec: str) -> DataBundle:
    """Resolve a dataset spec string (see module docstring) to a :class:`DataBundle`."""
    parsed = parse_spec(spec, allow_path=False, what="dataset spec")
    kind = parsed.kind.lower()
    if kind == "mnist":
        _check_options(parsed, set(), spec)
        fit, ev = _split_pair(load_mnist, parsed.body, spec)
    elif kind == "fashion":
        _check_options(parsed, {"root"}, spec)
        root = parsed.options.get("root")
        fit, ev = _split_pair(lambda split: load_fashion(split, root=root), parsed.body, spec)
    elif kind == "digits":
        _check_options(parsed, set(), spec)
        fit, ev = _split_pair(load_digits, parsed.body, spec)
    elif kind == "biased_mnist":
        fit, ev = biased_pair(parsed.body, parsed.options, spec)
    elif kind == "folder":
        if not parsed.body:
            raise SpecError("dataset spec 'folder:' needs a path, e.g. folder:./my_images")
        _check_options(parsed, {"size", "channels", "mean", "std"}, spec)
        kwargs = {k: option_value(v) for k, v in parsed.options.items() if k in ("size", "channels")}
        if kwargs.get("size") in (0, "none"):
            kwargs["size"] = None
        kwargs.update({k: v for k, v in parsed.options.items() if k in ("mean", "std")})
        root = Path(parsed.body)
        if (root / "train").is_dir() and (root / "test").is_dir():
            fit, ev = load_folder(root / "train", **kwargs), load_folder(root / "test", **kwargs)
        else:
            fit = ev = load_folder(root, **kwargs)
    else:
        raise SpecError(f"unknown dataset {parsed.kind!r} in {spec!r}; use one of: {DATA_SPEC_HELP}")
    return DataBundle(spec=spec, fit=fit, eval=ev)


def calibration_set(dataset: Dataset, per_class: int, *, seed: int = 0,
                    classes: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of each class (all classes unless ``classes``), drawn with ``seed``,
    as stacked ``(images, labels)`` tensors."""
    if per_class < 1:
        raise CausalnetInputError(f"per_class must be at least 1, got {per_class}")
    idx = class_balanced_indices(dataset.targets, per_class, seed=seed, classes=classes)
    return stack_samples(dataset, idx)
