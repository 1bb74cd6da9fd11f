"""Unit-level rankings for the explanation benchmark: the causal ranking against Captum's layer
methods on the same units, with random and weight-magnitude controls.

Units are those of the model's *single-reader* unit layers (one Conv2d/Linear reads them): there
a Captum layer method attributes to exactly the tensor where the causal intervention acts (the
reader's input), so every method scores the same objects. (A residual stream channel is read by
several modules; no single Captum layer call covers it, so those layers are left out, as in
``graph_speed.py``.)

Every ranking is per (layer, class): a score per unit, higher = supports the class more.
- ``causal``: minus the unit's class effect from the graph (mean log ratio of p_c with the unit
  removed, over calibration images of class c; negative = the unit supports c);
- Captum methods: the attribution to the reader's input for target c, summed over the unit's
  channels and positions, averaged over images of class c (LayerActivation: mean |activation|);
- ``weight_l1``: L1 norm of the reader's weights on the unit's channels (data-free control);
- ``random``: a seeded random permutation (control).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from causalnet.evaluate import true_class_logp
from causalnet.faithfulness import weight_l1_scores
from causalnet.masking import switched_off
from causalnet.units import UnitLayer, UnitMap, discover_units

CAPTUM_METHODS = ("LayerConductance", "LayerGradientXActivation", "InternalInfluence",
                  "LayerIntegratedGradients", "LayerActivation", "LayerFeatureAblation")
CONTROLS = ("random", "weight_l1")
METHODS = ("causal", *CAPTUM_METHODS, *CONTROLS)


def single_reader_layers(units: UnitMap) -> list[UnitLayer]:
    return [layer for layer in units if len(layer.readers) == 1]


def _unit_sum(t: torch.Tensor, layer: UnitLayer, absolute: bool = False) -> torch.Tensor:
    """(N, units): ``t`` (a reader-input-shaped tensor) summed over each unit's channels and
    every position."""
    reader = layer.readers[0]
    if absolute:
        t = t.abs()
    axis = reader.axis(t.ndim)
    t = t.movedim(axis, -1).reshape(t.shape[0], -1, t.shape[axis]).sum(1)   # (N, channels)
    return torch.stack([t[:, idx].sum(1) for idx in reader.index], 1)


def _feature_mask(layer: UnitLayer, ndim: int) -> torch.Tensor:
    reader = layer.readers[0]
    shape = [1] * ndim
    axis = reader.axis(ndim)
    shape[axis] = reader.in_size
    mask = torch.full((reader.in_size,), layer.size, dtype=torch.long)  # uncovered: extra group
    for u, idx in enumerate(reader.index):
        mask[idx] = u
    return mask.view(shape)


def captum_scores(model: nn.Module, layer: UnitLayer, x: torch.Tensor, c: int, method: str, *,
                  n_steps: int = 16, internal_batch_size: int = 256) -> np.ndarray:
    """Per-unit score of ``method`` for class ``c`` on images ``x`` (all of class ``c``); the
    path methods integrate from an all-zero input (the dataset mean after normalisation)."""
    import captum.attr as ca

    module = layer.readers[0].module
    kw = {"attribute_to_layer_input": True}
    base = torch.zeros_like(x)
    if method == "LayerActivation":
        attr = ca.LayerActivation(model, module).attribute(x, **kw)
        absolute = True
    else:
        absolute = False
        if method == "LayerConductance":
            attr = ca.LayerConductance(model, module).attribute(
                x, baselines=base, target=c, n_steps=n_steps,
                internal_batch_size=internal_batch_size, **kw)
        elif method == "InternalInfluence":
            attr = ca.InternalInfluence(model, module).attribute(
                x, baselines=base, target=c, n_steps=n_steps,
                internal_batch_size=internal_batch_size, **kw)
        elif method == "LayerIntegratedGradients":
            attr = ca.LayerIntegratedGradients(model, module).attribute(
                x, baselines=base, target=c, n_steps=n_steps,
                internal_batch_size=internal_batch_size, **kw)
        elif method == "LayerGradientXActivation":
            attr = ca.LayerGradientXActivation(model, module).attribute(x, target=c, **kw)
        elif method == "LayerFeatureAblation":
            # target is one int here (images of one class), so several perturbations per
            # forward are allowed (Captum 0.9 refuses that with a tensor target)
            probe = ca.LayerActivation(model, module).attribute(x[:1], **kw)
            probe = probe[0] if isinstance(probe, tuple) else probe
            attr = ca.LayerFeatureAblation(model, module).attribute(
                x, layer_baselines=0.0, target=c, layer_mask=_feature_mask(layer, probe.ndim),
                perturbations_per_eval=16, **kw)
        else:
            raise ValueError(f"unknown method {method!r}")
    attr = attr[0] if isinstance(attr, tuple) else attr
    attr = attr.detach().float()
    if method == "LayerFeatureAblation":
        # the same value sits on every channel and position of a unit: take one channel's
        per = attr.movedim(layer.readers[0].axis(attr.ndim), -1).reshape(len(x), -1, attr.shape[
            layer.readers[0].axis(attr.ndim)])[:, 0]
        return torch.stack([per[:, idx[0]] for idx in layer.readers[0].index], 1).mean(0).numpy()
    return _unit_sum(attr, layer, absolute).mean(0).numpy()


def weight_scores(layer: UnitLayer) -> np.ndarray:
    """L1 norm of the reader's weights on each unit (the hub's :func:`weight_l1_scores`)."""
    return weight_l1_scores(layer)


def causal_class_scores(model: nn.Module, units: UnitMap, x: torch.Tensor, y: torch.Tensor,
                        layers: list[str]) -> dict[str, dict[int, np.ndarray]]:
    """Minus the class effects of the units of ``layers`` on the images ``(x, y)``: layer ->
    class -> scores. The class effect is what ``causalnet build`` stores on each node (mean over
    the images of class c of log p_y(x | do(unit := 0)) - log p_y(x)), computed by the same
    engine, only for the compared layers (a test checks it equals ``build_graph``'s)."""
    from causalnet.interventions import InterventionEngine

    engine = InterventionEngine(model, units, x)
    clean = true_class_logp(engine.clean, y)
    classes = sorted(int(c) for c in torch.unique(y))
    out: dict[str, dict[int, np.ndarray]] = {}
    for name in layers:
        layer = units.layer(name)
        log_ratio = (true_class_logp(engine.ablate(layer, range(layer.size)), y) - clean).double()
        out[name] = {c: -log_ratio[:, y == c].mean(1).numpy() for c in classes}
    return out


def all_scores(model: nn.Module, units: UnitMap, x: torch.Tensor, y: torch.Tensor, *,
               classes: list[int], seed: int, methods=METHODS, n_steps: int = 16,
               layers: list[str] | None = None, timings: dict | None = None) -> dict[str, dict[str, dict[int, np.ndarray]]]:
    """method -> layer -> class -> per-unit scores, every ranking computed on ``(x, y)``."""
    import time

    layers = [layer for layer in single_reader_layers(units) if layers is None or layer.name in layers]
    names = [layer.name for layer in layers]
    out: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    timings = {} if timings is None else timings
    rng = np.random.default_rng(seed)
    for method in methods:
        t0 = time.perf_counter()
        if method == "causal":
            out[method] = causal_class_scores(model, units, x, y, names)
        elif method == "random":
            out[method] = {layer.name: {c: rng.permutation(layer.size).astype(float) for c in classes}
                           for layer in layers}
        elif method == "weight_l1":
            out[method] = {layer.name: dict.fromkeys(classes, weight_scores(layer)) for layer in layers}
        else:
            out[method] = {layer.name: {c: captum_scores(model, layer, x[y == c], c, method,
                                                         n_steps=n_steps)
                                        for c in classes} for layer in layers}
        timings[method] = timings.get(method, 0.0) + time.perf_counter() - t0
    return out


@torch.no_grad()
def removal_curve(model: nn.Module, layer: UnitLayer, scores: np.ndarray, x: torch.Tensor, c: int,
                  fractions: list[float]) -> list[dict]:
    """Remove the top ``fraction`` of units by ``scores`` (for each fraction) and measure, on the
    images ``x`` of class ``c``: mean class-logit drop, relative drop, accuracy drop."""
    from benchmarks._explain_metrics import k_of

    order = list(np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=float))))
    clean = model(x).float()
    logit0, acc0 = clean[:, c].mean().item(), (clean.argmax(1) == c).float().mean().item()
    rows = []
    for f in fractions:
        k = 0 if f == 0 else k_of(f, layer.size)
        with switched_off([layer], {layer.name: [int(u) for u in order[:k]]}):
            out = model(x).float()
        logit, acc = out[:, c].mean().item(), (out.argmax(1) == c).float().mean().item()
        rows.append({"fraction": f, "k": k, "logit_drop": logit0 - logit,
                     "rel_logit_drop": (logit0 - logit) / max(abs(logit0), 1e-6),
                     "acc_drop": acc0 - acc})
    return rows


def working_copy(model: nn.Module, example: torch.Tensor) -> tuple[nn.Module, UnitMap]:
    """An eval-mode copy of ``model`` and its units (the benchmark never touches the original)."""
    net = copy.deepcopy(model).eval()
    # parameters keep requires_grad: Torch-Pruning's tracer (and so build_graph) skips frozen ones
    return net, discover_units(net, example)


__all__ = ["METHODS", "CAPTUM_METHODS", "CONTROLS", "single_reader_layers", "captum_scores",
           "weight_scores", "causal_class_scores", "all_scores", "removal_curve",
           "working_copy"]
