"""Reference models trained on MNIST (``ZOO``) and Fashion-MNIST (``FASHION``), shipped as ``.safetensors`` with a JSON card each.

``load_zoo_model("resnet20")`` builds the architecture and loads its shipped weights (offline,
no pickle); ``causalnet zoo list`` shows what is there and ``causalnet zoo train NAME``
reproduces a checkpoint from its recipe.
"""

from __future__ import annotations

from torch import nn

from ..errors import CausalnetInputError
from .registry import FASHION, ZOO, Recipe, ZooEntry, load_card, weights_path, zoo_entry

__all__ = ["ZOO", "FASHION", "Recipe", "ZooEntry", "load_zoo_model", "load_card", "zoo_entry", "zoo_names"]


def zoo_names(dataset: str | None = None, *, trained: bool = False) -> list[str]:
    """Names of the reference models: the MNIST zoo by default, or every entry (MNIST and
    Fashion-MNIST, not the planted-flaw models) whose recipe trains on ``dataset`` (``"mnist"``,
    ``"fashion"``); with ``trained``, only those that ship a checkpoint."""
    entries = ZOO if dataset is None else {
        n: e for n, e in {**ZOO, **FASHION}.items() if e.recipe.dataset == dataset}
    return [n for n in entries if not trained or weights_path(n).is_file()]


def load_zoo_model(name: str, *, pretrained: bool = True) -> nn.Module:
    """Zoo model ``name`` in eval mode, with its shipped trained weights unless ``pretrained``
    is false."""
    from safetensors.torch import load_file

    entry = zoo_entry(name)
    model = entry.build()
    if pretrained:
        path = weights_path(name)
        if not path.is_file():
            raise CausalnetInputError(
                f"zoo model {name!r} has no shipped checkpoint; train it with "
                f"`causalnet zoo train {name} --into-package`")
        model.load_state_dict(load_file(str(path)))
    return model.eval()
