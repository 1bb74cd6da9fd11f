"""What the zoo holds: each model's factory and training recipe, and where its files live."""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

from ..errors import SpecError
from . import architectures


@dataclass(frozen=True)
class Recipe:
    """How a zoo checkpoint is trained (everything needed to reproduce it)."""

    epochs: int
    optimizer: str = "sgd"          # "sgd" (Nesterov momentum 0.9) or "adamw"
    lr: float = 0.1                 # peak of the one-cycle schedule
    weight_decay: float = 5e-4
    batch_size: int = 128
    max_shift: int = 2              # random crop with this padding (a translation), in pixels
    hflip: bool = False             # random horizontal flip (Fashion-MNIST; never for digits)
    label_smoothing: float = 0.0
    seed: int = 0
    dataset: str = "mnist"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ZooEntry:
    name: str
    factory: Callable[..., nn.Module]
    recipe: Recipe
    min_accuracy: float                 # the bar the shipped checkpoint must clear (test set)
    description: str = ""
    kwargs: dict = field(default_factory=lambda: {"num_classes": 10, "in_channels": 1})

    def build(self) -> nn.Module:
        return self.factory(**self.kwargs)


ZOO: dict[str, ZooEntry] = {e.name: e for e in [
    ZooEntry("lenet5", architectures.lenet5, Recipe(epochs=6, lr=0.05), 0.988,
             "The paper's LeNet-5: conv 6/16, fc 120/84/10"),
    ZooEntry("resnet20", architectures.resnet20, Recipe(epochs=4, lr=0.1), 0.994,
             "CIFAR-style ResNet-20, widths 16/32/64, BatchNorm, residual adds"),
    ZooEntry("vgg11_bn", architectures.vgg11_bn, Recipe(epochs=4, lr=0.05), 0.993,
             "VGG-11 with BatchNorm, half width (32..256), 4 poolings for 28x28"),
    ZooEntry("mobilenetv2", architectures.mobilenetv2, Recipe(epochs=4, lr=0.1, weight_decay=4e-5), 0.990,
             "Small MobileNetV2: depthwise separable convs, inverted residuals"),
    ZooEntry("vit_tiny", architectures.vit_tiny,
             Recipe(epochs=10, optimizer="adamw", lr=2e-3, weight_decay=0.05, label_smoothing=0.1),
             0.975, "timm VisionTransformer, 4x4 patches, dim 64, depth 6, 4 heads"),
]}


# The same architectures trained on Fashion-MNIST, where methods separate (MNIST saturates at
# 99.x% for every criterion). Standard augmentation: random crop with 2-pixel padding and
# horizontal flips. Bars are the test accuracies the shipped checkpoints must clear.
_FASHION_AUG = {"max_shift": 2, "hflip": True, "dataset": "fashion"}
FASHION: dict[str, ZooEntry] = {e.name: e for e in [
    ZooEntry("fashion_lenet5", architectures.lenet5, Recipe(epochs=30, lr=0.05, **_FASHION_AUG),
             0.905, "LeNet-5 (conv 6/16, fc 120/84/10) on Fashion-MNIST"),
    ZooEntry("fashion_resnet20", architectures.resnet20, Recipe(epochs=30, lr=0.1, **_FASHION_AUG),
             0.935, "CIFAR-style ResNet-20 (16/32/64) on Fashion-MNIST"),
    ZooEntry("fashion_resnet56", architectures.resnet56, Recipe(epochs=30, lr=0.1, **_FASHION_AUG),
             0.940, "CIFAR-style ResNet-56 (16/32/64, 9 blocks a stage) on Fashion-MNIST"),
    ZooEntry("fashion_vgg11_bn", architectures.vgg11_bn, Recipe(epochs=30, lr=0.05, **_FASHION_AUG),
             0.935, "VGG-11 with BatchNorm, half width (32..256), on Fashion-MNIST"),
    ZooEntry("fashion_mobilenetv2", architectures.mobilenetv2,
             Recipe(epochs=30, lr=0.1, weight_decay=4e-5, **_FASHION_AUG), 0.930,
             "Small MobileNetV2 (depthwise separable, inverted residuals) on Fashion-MNIST"),
    ZooEntry("fashion_vit_tiny", architectures.vit_tiny,
             Recipe(epochs=40, optimizer="adamw", lr=2e-3, weight_decay=0.05, label_smoothing=0.1,
                    **_FASHION_AUG), 0.890,
             "timm VisionTransformer (4x4 patches, dim 64, depth 6, 4 heads) on Fashion-MNIST"),
]}


# Models with a planted flaw, for audits and repairs (docs/audit_and_repair.md). They take other
# inputs than MNIST's 1x28x28 (colour-biased MNIST is 3x28x28), so they are kept apart from ZOO,
# whose every entry is checked on the MNIST test set; ``zoo:NAME`` and ``causalnet zoo train``
# reach them all the same.
PLANTED: dict[str, ZooEntry] = {e.name: e for e in [
    ZooEntry("resnet20_biased", architectures.resnet20,
             Recipe(epochs=1, lr=0.01, max_shift=0, dataset="biased_mnist"), 0.4,
             "ResNet-20 trained on colour-biased MNIST (corner patch colour = label in 95% of "
             "training images, random at test): a planted shortcut",
             kwargs={"num_classes": 10, "in_channels": 3}),
]}


ALL_ENTRIES: dict[str, ZooEntry] = {**ZOO, **FASHION, **PLANTED}


def zoo_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name``, or a :class:`SpecError` listing the names there are."""
    try:
        return ALL_ENTRIES[name]
    except KeyError:
        raise SpecError(f"unknown zoo model {name!r}; available: {', '.join(ALL_ENTRIES)} "
                        "(see `causalnet zoo list`)") from None


def weights_dir():
    """The package folder that holds the shipped checkpoints and cards."""
    return importlib.resources.files("causalnet.zoo") / "weights"


def weights_path(name: str):
    return weights_dir() / f"{name}.safetensors"


def card_path(name: str):
    return weights_dir() / f"{name}.json"


def load_card(name: str) -> dict | None:
    """The JSON card of a shipped checkpoint, or ``None`` when it has not been trained."""
    path = card_path(zoo_entry(name).name)
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def package_weights_folder() -> Path:
    return Path(str(weights_dir()))
