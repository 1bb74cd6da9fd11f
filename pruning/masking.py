"""A working copy of a model in which removed units are mean-ablated at their readers.

Between chunks C-SWAP needs "the network as it will be after pruning and repair" without
rebuilding it: with the removed units' means folded into their readers' biases, physical removal
computes exactly what this mean ablation computes (away from zero-padded conv borders), so the
planner scores, re-estimates BatchNorm and checks accuracy on this masked copy, and only the final
plan is removed physically.
"""

from __future__ import annotations

import torch
from torch import nn

from causalnet.attention import split_heads
from causalnet.units import Reader, UnitMap


class MeanMask:
    """Persistent mean-ablation hooks on ``model``'s readers for the units in ``removed``
    (``values="zero"``: zero ablation, the un-repaired network, for ablation studies).

    ``means[reader]`` are refreshed by :meth:`refresh` from the *unreplaced* reader inputs of
    the current network (the values a bias fold will use). Call :meth:`close` to remove the hooks.
    """

    def __init__(self, model: nn.Module, units: UnitMap, values: str = "mean"):
        if values not in ("mean", "zero"):
            raise ValueError("values must be 'mean' or 'zero'")
        self.values = values
        self.model = model
        self.units = units
        self.removed: dict[str, set[int]] = {layer.name: set() for layer in units}
        self.means: dict[str, torch.Tensor] = {}
        self._masks: dict[str, torch.Tensor] = {}   # reader -> masked input channel indices
        self._capture: dict[str, torch.Tensor] | None = None
        self._handles = []
        for layer in units:
            for reader in layer.readers:
                self._handles.append(reader.module.register_forward_pre_hook(self._hook(reader)))

    def _hook(self, reader: Reader):
        def pre(mod, args):
            t = args[0]
            if self._capture is not None:
                self._capture[reader.name] = reader.channel_mean(t)
            idx = self._masks.get(reader.name)
            if idx is None or reader.name not in self.means:
                return None
            d = reader.axis(t.ndim)
            view = [1] * t.ndim
            view[d] = -1
            sl = [slice(None)] * t.ndim
            sl[d] = idx
            new = t.clone()
            if self.values == "zero":
                new[tuple(sl)] = 0
            else:
                new[tuple(sl)] = self.means[reader.name][idx].to(t.dtype).view(view)
            return (new, *args[1:])
        return pre

    def set_removed(self, removed: dict[str, set[int]]) -> None:
        """Mask exactly ``removed`` (layer -> unit indices)."""
        self.removed = {name: set(v) for name, v in removed.items()}
        self._masks = {}
        for layer in self.units:
            units = sorted(self.removed.get(layer.name, ()))
            if not units:
                continue
            for reader in layer.readers:
                idx = torch.cat([reader.index[u] for u in units])
                old = self._masks.get(reader.name)
                self._masks[reader.name] = idx if old is None else torch.cat([old, idx])

    @property
    def masked_inputs(self) -> dict[str, torch.Tensor]:
        """Reader name -> the input channels currently masked (the removed units' channels)."""
        return self._masks

    @torch.no_grad()
    def refresh(self, x: torch.Tensor, batch_size: int = 500) -> None:
        """Recompute every reader's input means (before replacement) on ``x``."""
        sums: dict[str, torch.Tensor] = {}
        was = self.model.training
        self.model.eval()
        try:
            for i in range(0, len(x), batch_size):
                self._capture = {}
                with split_heads(self.model):
                    self.model(x[i:i + batch_size])
                for k, v in self._capture.items():
                    sums[k] = sums.get(k, 0) + v * len(x[i:i + batch_size])
        finally:
            self._capture = None
            self.model.train(was)
        self.means = {k: v / len(x) for k, v in sums.items()}

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
