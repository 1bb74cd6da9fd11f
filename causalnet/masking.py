"""Switch units off at their readers: the one ablation primitive every package uses.

A unit is "switched off" by replacing the input channels it occupies at every module that
reads it (its :class:`~causalnet.units.Reader` s) with a value: zero (zero ablation), the
channel's mean over reference data (mean ablation: what pruning with the mean folded into the
consumer's bias computes) or given per-channel values. The model's weights are never touched
and the hooks are removed on exit, even on error.

- :func:`switched_off`: a context manager for a fixed set of units (audits, faithfulness,
  benchmarks).
- :class:`UnitMask`: persistent hooks whose set of units can change between forwards (the
  pruner's masked working copy).
- :func:`reader_means`: every reader's per-input-channel mean over reference images, batched
  (the values of mean ablation).
- :func:`overwrite_channels`: the slice-and-assign step itself, for code that already holds a
  reader's input (the intervention engine).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager

import torch
from torch import nn

from .attention import split_heads
from .errors import CausalnetInputError
from .units import Reader, UnitLayer, UnitMap

VALUES = ("zero", "mean")

__all__ = ["switched_off", "UnitMask", "reader_means", "overwrite_channels", "reader_channels",
           "VALUES"]


def reader_channels(reader: Reader, units: Iterable[int]) -> torch.Tensor | None:
    """The input channels of ``reader`` that ``units`` occupy (``None`` for no units)."""
    units = sorted(set(int(u) for u in units))
    if not units:
        return None
    return torch.cat([reader.index[u] for u in units])


def overwrite_channels(t: torch.Tensor, reader: Reader, idx: torch.Tensor,
                       value: float | torch.Tensor = 0.0) -> torch.Tensor:
    """A copy of reader input ``t`` whose channels ``idx`` hold ``value``: a scalar, or one
    value per channel of ``idx`` (broadcast over the batch and every other axis)."""
    d = reader.axis(t.ndim)
    idx = idx.to(t.device)
    new = t.clone()
    sl = [slice(None)] * t.ndim
    sl[d] = idx
    if isinstance(value, torch.Tensor) and value.numel() > 1:
        view = [1] * t.ndim
        view[d] = -1
        new[tuple(sl)] = value.to(t.device, t.dtype).view(view)
    else:
        new[tuple(sl)] = float(value) if not isinstance(value, torch.Tensor) else value.to(t.device, t.dtype)
    return new


def _chosen_layers(units: UnitMap | Iterable[UnitLayer], chosen: Mapping[str, Iterable[int]]
                   ) -> list[tuple[UnitLayer, list[int]]]:
    layers = {layer.name: layer for layer in units}
    unknown = set(chosen) - set(layers)
    if unknown:
        raise CausalnetInputError(f"no unit layer(s) {sorted(unknown)} in this model; "
                                  f"layers: {sorted(layers)}")
    out = []
    for name, js in chosen.items():
        js = sorted(set(int(j) for j in js))
        if not js:
            continue
        layer = layers[name]
        bad = [j for j in js if not 0 <= j < layer.size]
        if bad:
            raise CausalnetInputError(f"unit index(es) {bad[:5]} outside layer {name!r} "
                                      f"(size {layer.size})")
        out.append((layer, js))
    return out


def _check_values(values: str, means: Mapping[str, torch.Tensor] | None) -> None:
    if values not in VALUES:
        raise CausalnetInputError(f"values must be one of {VALUES}, got {values!r}")
    if values == "mean" and means is None:
        raise CausalnetInputError("mean ablation needs the readers' means: pass "
                                  "means=reader_means(model, units, x_reference)")


@contextmanager
def switched_off(units: UnitMap | Iterable[UnitLayer], chosen: Mapping[str, Iterable[int]], *,
                 values: str = "zero", means: Mapping[str, torch.Tensor] | None = None):
    """Within the block, the units ``chosen`` (layer name -> unit indices) read as off at every
    reader: zero (``values="zero"``) or their reference mean (``values="mean"``, with
    ``means`` from :func:`reader_means`).

    Example::

        means = reader_means(model, units, x_ref)
        with switched_off(units, {"fc1": [3, 7]}, values="mean", means=means):
            logits = model(x)
    """
    _check_values(values, means)
    handles = []
    try:
        for layer, js in _chosen_layers(units, chosen):
            for reader in layer.readers:
                idx = reader_channels(reader, js)
                value = 0.0 if values == "zero" else means[reader.name][idx]

                def pre(mod, args, reader=reader, idx=idx, value=value):
                    return (overwrite_channels(args[0], reader, idx, value), *args[1:])
                handles.append(reader.module.register_forward_pre_hook(pre))
        yield
    finally:
        for h in handles:
            h.remove()


class UnitMask:
    """Persistent hooks on every reader of ``units``; :meth:`set_off` chooses which units read
    as off (zero or mean), and can be called between forwards. :meth:`close` removes the hooks.

    With ``values="mean"`` the means come from :meth:`refresh`, measured on the *unreplaced*
    reader inputs of the current (masked) network, which is what a bias fold uses.
    """

    def __init__(self, model: nn.Module, units: UnitMap, values: str = "mean"):
        if values not in VALUES:
            raise CausalnetInputError(f"values must be one of {VALUES}, got {values!r}")
        self.values = values
        self.model = model
        self.units = units
        self.off: dict[str, set[int]] = {layer.name: set() for layer in units}
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
            if idx is None:
                return None
            if self.values == "zero":
                return (overwrite_channels(t, reader, idx, 0.0), *args[1:])
            if reader.name not in self.means:
                return None
            return (overwrite_channels(t, reader, idx, self.means[reader.name][idx]), *args[1:])
        return pre

    def set_off(self, off: Mapping[str, Iterable[int]]) -> None:
        """Switch off exactly ``off`` (layer -> unit indices); every other unit reads as is."""
        self.off = {name: set(v) for name, v in off.items()}
        self._masks = {}
        for layer, js in _chosen_layers(self.units, self.off):
            for reader in layer.readers:
                idx = reader_channels(reader, js)
                old = self._masks.get(reader.name)
                self._masks[reader.name] = idx if old is None else torch.cat([old, idx])

    @property
    def masked_inputs(self) -> dict[str, torch.Tensor]:
        """Reader name -> the input channels currently switched off."""
        return self._masks

    @torch.no_grad()
    def refresh(self, x: torch.Tensor, batch_size: int = 500) -> None:
        """Recompute every reader's input means (before replacement) on ``x``."""
        from .devices import model_device

        device = model_device(self.model)
        sums: dict[str, torch.Tensor] = {}
        was = self.model.training
        self.model.eval()
        try:
            for i in range(0, len(x), batch_size):
                self._capture = {}
                with split_heads(self.model):
                    self.model(x[i:i + batch_size].to(device))
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

    def __enter__(self) -> UnitMask:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@torch.no_grad()
def reader_means(model: nn.Module, units: UnitMap, x: torch.Tensor, *,
                 batch_size: int = 500) -> dict[str, torch.Tensor]:
    """Reader name -> per-input-channel mean of that reader's input over images ``x`` (the
    values of mean ablation), in batches of ``batch_size``; the model's mode is restored.
    ``units`` must have been discovered on this very ``model`` instance (it holds its modules)."""
    with UnitMask(model, units, values="mean") as mask:
        mask.refresh(x, batch_size=batch_size)
        means = mask.means
    missing = {r.name for layer in units for r in layer.readers} - set(means)
    if missing:
        raise CausalnetInputError(
            f"readers {sorted(missing)[:3]} were not reached: the unit map was discovered on "
            "another instance of the model; compute the means on that instance")
    return means
