"""What removing units costs: parameters and MACs per unit, exact for any removal.

:func:`unit_costs` measures, with the same counter the reports use
(:func:`causalnet.evaluate.count_macs_params`), how many parameters and MACs each unit accounts
for, including the overlap between coupled layers (a conv that reads layer A and writes layer B
loses the weight ``W[b, a]`` once, not twice), so :func:`removal_cost` is exact for any removal.
:func:`next_block` is the one rule for how many units a layer's next removal step takes (one,
or with ``round_to`` down to the next multiple kept), shared by C-SWAP and the baselines.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from causalnet.errors import CausalnetInputError
from causalnet.evaluate import count_macs_params
from causalnet.units import HEAD, UnitLayer, UnitMap

from .removal import dependency_graph, prune_units, removable_layers


class UnitCosts(dict):
    """``layer name -> cost entry`` (see :func:`unit_costs`), with the model's totals."""

    def __init__(self, entries: Mapping | None = None, *, params: int = 0, macs: int = 0,
                 input_shape: tuple[int, ...] = ()):
        super().__init__(entries or {})
        self.params = params
        self.macs = macs
        self.input_shape = input_shape


def _adjacent(a: UnitLayer, b: UnitLayer) -> bool:
    """Whether two layers share a module (a conv reading one and writing the other): only then
    can one count depend on both, so only then are their costs not additive."""
    return bool(set(a.members) & set(b.members))


def _color(items: list, conflict) -> list[list]:
    """Greedy colouring: classes of mutually non-conflicting items."""
    classes: list[list] = []
    for item in items:
        for cls in classes:
            if not any(conflict(item, other) for other in cls):
                cls.append(item)
                break
        else:
            classes.append([item])
    return classes


def _sequential(model: nn.Module, units: UnitMap, example: torch.Tensor,
                steps: list[dict[str, list[int]]], base: tuple[int, int]) -> list[tuple[int, int]]:
    """(params, MACs) removed by each step, applied in turn to one pruned deep copy. The steps
    touch mutually non-adjacent layers, so each difference is what the step removes alone."""
    with torch.inference_mode(False):
        clone = copy.deepcopy(model)      # normal tensors (tracing needs them) in any mode
    dg = dependency_graph(clone, example)
    shape = tuple(example.shape[1:])
    prev, out = base, []
    for step in steps:
        prune_units(clone, units, step, example, dg=dg)
        cur = count_macs_params(clone, shape)
        out.append((prev[1] - cur[1], prev[0] - cur[0]))
        prev = cur
    return out


def _measure_steps(model, units, example, steps_by_class, base) -> list[tuple[int, int]]:
    results = []
    for steps in steps_by_class:
        results += _sequential(model, units, example, steps, base)
    return results


def unit_costs(model: nn.Module, units: UnitMap, example: torch.Tensor, *,
               layers: Iterable[str] | None = None) -> UnitCosts:
    """Parameters and MACs each unit accounts for, measured by pruning deep copies and counting
    with :func:`causalnet.evaluate.count_macs_params` (the model is not changed).

    Entry per removable layer (``layers`` restricts which; torchvision MHA heads are left out):
    ``kind``, ``size``, ``params_per_unit`` / ``macs_per_unit`` (removing one unit; equal for every
    unit of a layer), ``params_curvature`` / ``macs_curvature`` (second difference: nonzero only
    where the count is quadratic in the layer, e.g. the attention MACs of heads), ``params_total`` /
    ``macs_total`` (what all the layer's units account for, i.e. ``f(size)``) and ``coupled``:
    ``{other layer: {"params": p, "macs": m}}``, the count shared by one unit of each (a conv
    reading one layer and writing the other), subtracted once per pair of removed units.
    :func:`removal_cost` combines them exactly.

    Cost: one count per layer, one more per head layer and one per coupled pair, on a few deep
    copies (layers that share no module are pruned in turn on the same copy, their costs being
    additive).
    """
    shape = tuple(int(s) for s in example.shape[1:])
    base = count_macs_params(model, shape)
    wanted = None if layers is None else set(layers)
    chosen = [layer for layer in removable_layers(model, units)
              if wanted is None or layer.name in wanted]
    if wanted is not None and wanted - {layer.name for layer in chosen}:
        raise CausalnetInputError(f"no removable unit layers {sorted(wanted - {x.name for x in chosen})}")
    live = [layer for layer in chosen if layer.size >= 2]

    classes = _color(live, _adjacent)
    ones = dict(zip([x.name for c in classes for x in c],
                    _measure_steps(model, units, example,
                                   [[{x.name: [0]} for x in c] for c in classes], base), strict=True))
    curved = [x for x in live if x.size >= 3
              and (x.kind == HEAD or {r.name for r in x.readers} & set(x.producers))]
    classes = _color(curved, _adjacent)
    twos = dict(zip([x.name for c in classes for x in c],
                    _measure_steps(model, units, example,
                                   [[{x.name: [0, 1]} for x in c] for c in classes], base), strict=True))
    pairs = [(a, b) for i, a in enumerate(live) for b in live[i + 1:] if _adjacent(a, b)]
    classes = _color(pairs, lambda p, q: any(x.name == y.name or _adjacent(x, y)
                                             for x in p for y in q))
    joint = dict(zip([(a.name, b.name) for c in classes for a, b in c],
                     _measure_steps(model, units, example,
                                    [[{a.name: [0], b.name: [0]} for a, b in c] for c in classes],
                                    base), strict=True))

    entries: dict[str, dict] = {}
    for layer in chosen:
        one = ones.get(layer.name, (0, 0))
        two = twos.get(layer.name)
        curv = (0, 0) if two is None else (two[0] - 2 * one[0], two[1] - 2 * one[1])
        n = layer.size
        entries[layer.name] = {
            "kind": layer.kind, "size": n, "removable": n >= 2,
            "params_per_unit": one[0], "macs_per_unit": one[1],
            "params_curvature": curv[0], "macs_curvature": curv[1],
            "params_total": n * one[0] + curv[0] * n * (n - 1) // 2,
            "macs_total": n * one[1] + curv[1] * n * (n - 1) // 2,
            "coupled": {},
        }
    for (a, b), both in joint.items():
        ea, eb = entries[a], entries[b]
        shared = {"params": ea["params_per_unit"] + eb["params_per_unit"] - both[0],
                  "macs": ea["macs_per_unit"] + eb["macs_per_unit"] - both[1]}
        if shared["params"] or shared["macs"]:
            ea["coupled"][b] = dict(shared)
            eb["coupled"][a] = dict(shared)
    return UnitCosts(entries, params=base[1], macs=base[0], input_shape=shape)


def _layer_cost(entry: Mapping, k: int, key: str) -> int:
    return k * entry[f"{key}_per_unit"] + entry[f"{key}_curvature"] * k * (k - 1) // 2


def removal_cost(costs: Mapping[str, Mapping], counts: Mapping[str, int]) -> tuple[int, int]:
    """(params, MACs) removed by removing ``counts[layer]`` units of each layer, from
    :func:`unit_costs` (exact: per-unit costs, curvature and coupled-pair overlaps)."""
    params = macs = 0
    for name, k in counts.items():
        if not k:
            continue
        entry = costs[name]
        params += _layer_cost(entry, k, "params")
        macs += _layer_cost(entry, k, "macs")
        for other, shared in entry["coupled"].items():
            if other > name and counts.get(other):
                params -= shared["params"] * k * counts[other]
                macs -= shared["macs"] * k * counts[other]
    return params, macs


def marginal_cost(costs: Mapping[str, Mapping], counts: Mapping[str, int], name: str,
                  key: str = "params") -> int:
    """Extra ``key`` ("params" or "macs") removed by one more unit of ``name`` after ``counts``."""
    entry = costs[name]
    k = counts.get(name, 0)
    extra = entry[f"{key}_per_unit"] + entry[f"{key}_curvature"] * k
    for other, shared in entry["coupled"].items():
        extra -= shared[key] * counts.get(other, 0)
    return extra


def next_block(size: int, removed: int, round_to: int | None) -> int:
    """How many more units the next removal step of a layer of ``size`` units with ``removed``
    already gone takes (0: none may go): one while more than one is kept, or with ``round_to``
    (layers of >= round_to units) down to the next multiple of ``round_to`` kept, never below
    ``round_to`` units."""
    kept = size - removed
    if round_to and size >= round_to:
        target = ((kept - 1) // round_to) * round_to
        return kept - target if target >= round_to else 0
    return 1 if kept > 1 else 0
