"""Bounded memory: how many images one intervention engine may hold, and an engine that works
through its images in slices of that size.

An :class:`~causalnet.interventions.InterventionEngine` keeps every module's output on its batch
(the cached prefixes that make interventions cheap); at 224 px a ResNet-50 holds about 100 MB per
image that way, so 60 calibration images want ~9 GB. :func:`images_per_engine` turns a budget
(``--max-memory``, default half the machine's available memory) into a number of images from
one measured forward, and :class:`SplitEngine` runs the same interventions slice by slice, one
slice's engine alive at a time, concatenating along the images. Zero and mean interventions
give the same numbers as one unsplit engine (each image's forward is its own; the means come
from the whole reference set, computed once); resample, soft and predicted interventions draw
from the engine's own batch, so they are never split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from .devices import model_device
from .errors import CausalnetInputError
from .first_order import first_order_effects
from .interventions import Ablation, InterventionEngine
from .units import UnitLayer, UnitMap

SPLITTABLE = ("zero", "mean")
# the engine's cached outputs plus the transient tensors of one replicated forward
_OVERHEAD = 2.0

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_memory(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"1.5g"``, ``"1000000"`` -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m or float(m.group(1)) <= 0:
        raise CausalnetInputError(f"--max-memory must be a size such as 8G or 512M, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def default_budget(device: torch.device | str | None = None) -> int:
    """Half the memory available now on ``device``: the free memory of a CUDA device
    (``torch.cuda.mem_get_info``), else the machine's ``MemAvailable``, or 4 GiB where that
    cannot be read."""
    if device is not None and torch.device(device).type == "cuda":
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free) // 2
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 4 << 30


def bytes_per_image(model: nn.Module, x0: torch.Tensor) -> int:
    """Bytes of every module's output for one image (what an engine caches per image)."""
    total = [0]

    def hook(mod, args, out):
        for t in (out if isinstance(out, tuple | list) else (out,)):
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * t.element_size()

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.inference_mode():
            model.eval()(x0[:1].to(model_device(model)))
    finally:
        for h in handles:
            h.remove()
    return max(total[0], 1)


def images_per_engine(model: nn.Module, x0: torch.Tensor, budget: int | None) -> int:
    """How many images one engine may hold within ``budget`` bytes (None: no limit)."""
    if budget is None:
        return 1 << 30
    return max(1, int(budget // (_OVERHEAD * bytes_per_image(model, x0))))


class SplitEngine:
    """:class:`InterventionEngine`'s ``ablate`` and first-order estimates over ``x`` in slices
    of ``per`` images, building one slice's engine at a time (same arguments as the engine).

    ``clean`` holds the whole batch's logits. A first-order ``target`` is called as
    ``target(logits, rows=slice)`` with the slice of images the logits belong to.

    Each call rebuilds the slices' engines (only one slice's cache is alive at a time), which
    costs one clean forward per slice per call: pass many units per call (the builder passes
    a 32-unit block, so the overhead is about 1/32 of the intervention forwards)."""

    def __init__(self, model: nn.Module, unit_map: UnitMap, x: torch.Tensor, *, per: int,
                 ablation: Ablation | None = None, reference: torch.Tensor | None = None,
                 units_per_forward: int | str = "auto"):
        ablation = ablation if ablation is not None else Ablation()
        if ablation.mode not in SPLITTABLE:
            raise CausalnetInputError(f"only {SPLITTABLE} interventions can be split over images")
        self.model, self.unit_map, self.x, self.n = model, unit_map, x, len(x)
        self.ablation = ablation
        self.units_per_forward = units_per_forward
        self.slices = [slice(i, min(i + per, self.n)) for i in range(0, self.n, per)]
        self._reference = reference if reference is not None else x
        self.means: dict | None = None
        parts = []
        for sl in self.slices:
            parts.append(self._engine(sl).clean)
        self.clean = torch.cat(parts)

    def _engine(self, sl: slice) -> InterventionEngine:
        engine = InterventionEngine(self.model, self.unit_map, self.x[sl], ablation=self.ablation,
                                    reference=self._reference, units_per_forward=self.units_per_forward,
                                    means=self.means if self.ablation.mode == "mean" else None)
        if self.ablation.mode == "mean" and self.means is None:
            self.means = engine.means     # from the whole reference set, once
        return engine

    def ablate(self, layer: UnitLayer, units: Sequence[int], *, readers: Sequence[str] | None = None,
               splice: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        units = list(units)
        return torch.cat([self._engine(sl).ablate(layer, units, readers=readers, splice=splice)
                          for sl in self.slices], dim=1)

    def first_order(self, layer: UnitLayer, target, *, readers: Sequence[str] | None = None,
                    splice: dict[str, torch.Tensor] | None = None, key: str = "target") -> torch.Tensor:
        return torch.cat([first_order_effects(self._engine(sl), layer,
                                              lambda lg, sl=sl: target(lg, rows=sl),
                                              readers=readers, splice=splice, key=key)
                          for sl in self.slices], dim=1)


def make_engine(model: nn.Module, unit_map: UnitMap, x: torch.Tensor, *, per: int,
                ablation: Ablation, reference: torch.Tensor | None = None,
                units_per_forward: int | str = "auto") -> InterventionEngine | SplitEngine:
    """One engine when ``x`` fits in ``per`` images (or the intervention cannot be split),
    else a :class:`SplitEngine`."""
    if len(x) <= per or ablation.mode not in SPLITTABLE:
        return InterventionEngine(model, unit_map, x, ablation=ablation, reference=reference,
                                  units_per_forward=units_per_forward)
    return SplitEngine(model, unit_map, x, per=per, ablation=ablation, reference=reference,
                       units_per_forward=units_per_forward)


__all__ = ["SplitEngine", "bytes_per_image", "default_budget", "images_per_engine", "make_engine",
           "parse_memory"]
