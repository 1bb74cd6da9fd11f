"""Baseline rankings of units, on the same unit layers (Torch-Pruning groups) C-SWAP uses.

Every method returns ``{layer name: scores}`` with one score per unit, higher = more important,
for every removable unit layer (torch ``nn.MultiheadAttention`` heads cannot be removed, see
:mod:`pruning.removal`, and are left out). Torch-Pruning's importance classes score the group
of each layer's root with all its indices (``imp(group)`` gives one score per root channel,
reduced over the coupled modules with TP's defaults: mean over the group, divided by the group's
mean); heads are scored on the group of the attention's ``proj`` input columns (which couples
the q, k and v rows) and averaged per head, as Torch-Pruning's own head pruning does.

- ``random``: RandomImportance under ``seed``; ``l1`` / ``l2``: MagnitudeImportance p=1 / 2;
  ``bn_scale``: BNScaleImportance (layers with no BatchNorm in their group get no score, as in
  Torch-Pruning, and are not pruned by this method); ``lamp``: LAMPImportance; ``fpgm``:
  FPGMImportance.
- ``taylor``: TaylorImportance after one backward of the mean cross-entropy on the calibration
  data (eval mode).
- ``hessian``: HessianImportance on the diagonal empirical Fisher, mean over calibration samples
  of the squared per-sample gradient (put in ``.grad`` before scoring; Torch-Pruning 1.6.1's own
  ``accumulate_grad`` keys its running sums inconsistently and keeps only the last sample).
- ``conductance``: Captum's LayerConductance at each layer's first reader input
  (``attribute_to_layer_input=True``, target = true labels, baseline zero, ``n_steps``
  Gauss-Legendre steps), |attribution| averaged over samples, positions and the unit's input
  channels. All layers are attributed in one pass through Captum's own
  ``compute_layer_gradients_and_eval`` (12x fewer passes on a ResNet-20; equal to running
  ``LayerConductance`` per layer, which a test checks).

:func:`plan_by_scores` turns scores into a removal that reaches a target fraction of the model's
parameters or MACs, using :func:`pruning.costs.unit_costs`.
"""

from __future__ import annotations

import heapq
import warnings
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from causalnet.attention import split_heads
from causalnet.errors import CausalnetInputError
from causalnet.units import HEAD, UnitLayer, UnitMap

from .costs import UnitCosts, marginal_cost, next_block
from .removal import _tracing, dependency_graph, removable_layers, root_pruning_fn

BASELINES = ("random", "l1", "l2", "bn_scale", "taylor", "hessian", "lamp", "fpgm", "conductance")


def _importance(method: str):
    import torch_pruning as tp

    imp = tp.importance
    return {
        "random": imp.RandomImportance,
        "l1": lambda: imp.MagnitudeImportance(p=1),
        "l2": lambda: imp.MagnitudeImportance(p=2),
        "bn_scale": imp.BNScaleImportance,
        "taylor": imp.TaylorImportance,
        "hessian": imp.HessianImportance,
        "lamp": imp.LAMPImportance,
        "fpgm": imp.FPGMImportance,
    }[method]()


def _group_scores(model: nn.Module, units: UnitMap, example: torch.Tensor,
                  scorer) -> dict[str, torch.Tensor]:
    """Score every removable layer with a Torch-Pruning importance ``scorer``."""
    import torch_pruning as tp

    dg = dependency_graph(model, example)
    modules = dict(model.named_modules())
    out: dict[str, torch.Tensor] = {}
    with _tracing(model):
        for layer in removable_layers(model, units):
            if layer.kind == HEAD:
                reader = layer.readers[0]
                proj = modules[reader.name]
                group = dg.get_pruning_group(proj, tp.prune_linear_in_channels,
                                             idxs=list(range(proj.in_features)))
                imp = scorer(group)
                if imp is not None:
                    out[layer.name] = torch.stack([imp[i].mean() for i in reader.index]).float()
                continue
            root_name = layer.producers[0]
            root = modules[root_name]
            channels = layer.producer_index[root_name]
            group = dg.get_pruning_group(root, root_pruning_fn(root), idxs=list(range(len(channels))))
            imp = scorer(group)
            if imp is not None:
                out[layer.name] = imp.detach().float().cpu()[torch.tensor(channels)]
    return out


def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int):
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size]


class _GradState:
    """Saves the parameters' ``.grad`` and ``requires_grad`` and restores them on exit."""

    def __init__(self, model: nn.Module):
        self.params = list(model.parameters())

    def __enter__(self):
        self.saved = [(p.grad, p.requires_grad) for p in self.params]
        for p in self.params:
            p.grad = None
            p.requires_grad_(True)
        return self

    def __exit__(self, *exc):
        for p, (grad, req) in zip(self.params, self.saved, strict=True):
            p.grad = grad
            p.requires_grad_(req)

    def fill_missing(self) -> None:
        """Zero gradients where a parameter took no part (importances read every ``.grad``)."""
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)


def _taylor_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> None:
    """d mean-CE / d params into ``.grad`` (eval mode)."""
    with _tracing(model):
        for xb, yb in _batches(x, y, batch_size):
            loss = F.cross_entropy(model(xb), yb, reduction="sum") / len(x)
            loss.backward()


def _fisher_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: list) -> None:
    """Mean over samples of the squared per-sample gradient into ``.grad`` (eval mode)."""
    acc = [torch.zeros_like(p) for p in params]
    with _tracing(model):
        for i in range(len(x)):
            for p in params:
                p.grad = None
            F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
            for a, p in zip(acc, params, strict=True):
                if p.grad is not None:
                    a.add_(p.grad.pow(2))
    for a, p in zip(acc, params, strict=True):
        p.grad = a / len(x)


def _layer_conductance(model: nn.Module, modules: list[nn.Module], x: torch.Tensor,
                       y: torch.Tensor, n_steps: int) -> list[torch.Tensor]:
    """Captum's LayerConductance (zero baseline, Gauss-Legendre steps, attributed to the layer
    input) of ``x`` at each of ``modules``, from ONE forward and backward of the scaled inputs
    instead of one per module: the body of ``LayerConductance._attribute``, run on Captum's
    ``compute_layer_gradients_and_eval`` with a list of layers (which it supports). Equal to
    ``LayerConductance(model, m).attribute(x, target=y, n_steps=n_steps,
    attribute_to_layer_input=True)`` for each module (tested)."""
    from captum._utils.common import _expand_target
    from captum._utils.gradient import compute_layer_gradients_and_eval
    from captum.attr._utils.approximation_methods import approximation_parameters

    n = len(x)
    _, alphas_func = approximation_parameters("gausslegendre")
    alphas = alphas_func(n_steps + 1)
    scaled = torch.cat([alpha * x for alpha in alphas], dim=0).requires_grad_()
    grads, evals = compute_layer_gradients_and_eval(
        model, modules, (scaled,), target_ind=_expand_target(y, n_steps + 1),
        attribute_to_layer_input=True)
    out = []
    for grad, value in zip(grads, evals, strict=True):
        g, v = grad[0], value[0]
        step = (v[n:] - v[:-n]) * g[:-n]
        out.append(step.reshape((n_steps, n) + tuple(v.shape[1:])).sum(0).detach())
    return out


def _conductance(model: nn.Module, layers: list[UnitLayer], x: torch.Tensor, y: torch.Tensor,
                 n_steps: int, batch_size: int) -> dict[str, torch.Tensor]:
    """|conductance| at each layer's first reader input, averaged over samples and positions
    (per input channel), then over each unit's input channels."""
    modules = dict(model.named_modules())
    readers = {}
    for layer in layers:
        readers.setdefault(layer.readers[0].name, layer.readers[0])
    names = list(readers)
    totals = {name: torch.zeros(readers[name].in_size, dtype=torch.float64) for name in names}
    count = dict.fromkeys(names, 0)
    for xb, yb in _batches(x, y, batch_size):
        attrs = _layer_conductance(model, [modules[name] for name in names], xb, yb, n_steps)
        for name, attr in zip(names, attrs, strict=True):
            reader = readers[name]
            a = attr.abs().double()
            dim = reader.axis(a.ndim)
            totals[name] += a.movedim(dim, -1).reshape(-1, reader.in_size).sum(0).cpu()
            count[name] += a.numel() // reader.in_size
    out = {}
    for layer in layers:
        reader = layer.readers[0]
        per_channel = totals[reader.name] / max(count[reader.name], 1)
        out[layer.name] = torch.stack([per_channel[i].mean() for i in reader.index]).float()
    return out


def baseline_scores(method: str, model: nn.Module, units: UnitMap, x_calib: torch.Tensor,
                    y_calib: torch.Tensor, example: torch.Tensor, seed: int = 0, *,
                    n_steps: int = 8, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Scores (higher = more important) of every unit of every removable layer by ``method``
    (one of :data:`BASELINES`), computed on the calibration data ``(x_calib, y_calib)`` where the
    method needs data. ``example`` (a batch of one input) traces the dependency graph. The model's
    weights, gradients and train/eval mode are left as they were. ``n_steps``: integration steps
    of LayerConductance.
    """
    if method not in BASELINES:
        raise CausalnetInputError(f"unknown baseline {method!r}; use one of {', '.join(BASELINES)}")
    if method in ("taylor", "hessian", "conductance") and len(x_calib) == 0:
        raise CausalnetInputError(f"baseline {method!r} needs calibration data")
    y_calib = torch.as_tensor(y_calib, dtype=torch.long)
    if method == "conductance":
        was = model.training
        model.eval()
        try:
            with split_heads(model), torch.inference_mode(False), torch.enable_grad():
                return _conductance(model, removable_layers(model, units), x_calib, y_calib,
                                    n_steps, batch_size)
        finally:
            model.train(was)
    scorer = _importance(method)
    if method == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _group_scores(model, units, example, scorer)
    if method in ("taylor", "hessian"):
        with _GradState(model) as state:
            if method == "taylor":
                _taylor_grads(model, x_calib, y_calib, batch_size)
            else:
                _fisher_grads(model, x_calib, y_calib, state.params)
            state.fill_missing()
            return _group_scores(model, units, example, scorer)
    scores = _group_scores(model, units, example, scorer)
    if not scores:
        raise CausalnetInputError(f"baseline {method!r} scored no unit layer of this model "
                                  "(bn_scale needs BatchNorms coupled to the units)")
    return scores


# ---- planning --------------------------------------------------------------------------------
def plan_by_scores(scores: Mapping[str, torch.Tensor], costs: UnitCosts, *,
                   target_params: float | None = None,
                   target_macs: float | None = None, global_ranking: bool = True,
                   round_to: int | None = None, normalize: str = "max") -> dict[str, list[int]]:
    """Remove the lowest-scored units until ``target_params`` (or ``target_macs``), a fraction
    of the model's parameters (MACs), is removed; returns ``{layer: sorted unit indices}``.

    ``costs`` is :func:`pruning.costs.unit_costs` (its removal costs are exact, coupled layers
    included), so the plan removes at least the target and overshoots by at most one step (one
    unit, or one rounding chunk). ``global_ranking``: one ranking of all units, each layer's
    scores divided by its largest |score| (``normalize="max"``), by its mean |score| ("mean") or
    taken as they are ("none": Torch-Pruning's importances are already divided by their group's
    mean, and its own global pruning compares them so); otherwise every layer loses the same
    fraction of its units (lowest-scored first). Every layer keeps at least one unit; with ``round_to`` (e.g. 8)
    a layer of at least that many units keeps a multiple of it. Layers without scores or costs
    are not touched. Warns when the target cannot be reached.
    """
    if (target_params is None) == (target_macs is None):
        raise CausalnetInputError("give exactly one of target_params and target_macs")
    key = "params" if target_params is not None else "macs"
    fraction = float(target_params if target_params is not None else target_macs)
    if not 0.0 <= fraction < 1.0:
        raise CausalnetInputError(f"the target fraction must be in [0, 1), got {fraction}")
    total = getattr(costs, key, None)
    if total is None:
        raise CausalnetInputError("costs must come from pruning.costs.unit_costs (it holds the "
                                  "model's totals)")
    goal = fraction * total
    names = [n for n in scores if n in costs and costs[n]["size"] >= 2]
    for n in names:
        if len(scores[n]) != costs[n]["size"]:
            raise CausalnetInputError(f"{len(scores[n])} scores for layer {n!r} of "
                                      f"{costs[n]['size']} units")
    order = {n: torch.argsort(torch.as_tensor(scores[n]).float(), stable=True) for n in names}
    counts = {n: 0 for n in names}
    removed = 0

    def take(n: str) -> int:
        step = next_block(costs[n]["size"], counts[n], round_to)
        gained = 0
        for _ in range(step):
            gained += marginal_cost(costs, counts, n, key)
            counts[n] += 1
        return gained

    if normalize not in ("max", "mean", "none"):
        raise CausalnetInputError(f"normalize must be max, mean or none, not {normalize!r}")
    if global_ranking:
        norm = {}
        for n in names:
            s = torch.as_tensor(scores[n]).double()
            scale = {"max": s.abs().max(), "mean": s.abs().mean(), "none": torch.tensor(1.0)}[normalize]
            norm[n] = s / scale if scale > 0 else s
        heap = [(float(norm[n][order[n][0]]), i, n) for i, n in enumerate(names)
                if next_block(costs[n]["size"], 0, round_to)]
        heapq.heapify(heap)
        while removed < goal and heap:
            _, i, n = heapq.heappop(heap)
            removed += take(n)
            if next_block(costs[n]["size"], counts[n], round_to):
                heapq.heappush(heap, (float(norm[n][order[n][counts[n]]]), i, n))
    else:
        while removed < goal:
            open_ = [n for n in names if next_block(costs[n]["size"], counts[n], round_to)]
            if not open_:
                break
            n = min(open_, key=lambda m: (counts[m] / costs[m]["size"], names.index(m)))
            removed += take(n)
    if removed < goal:
        warnings.warn(f"plan_by_scores removed {removed / max(total, 1):.1%} of {key}, short of the "
                      f"{fraction:.1%} asked: every scored layer is down to its last units",
                      stacklevel=2)
    return {n: sorted(order[n][:counts[n]].tolist()) for n in names if counts[n]}
