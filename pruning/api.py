"""``prune``: one call from a trained model (and its causal graph) to a smaller model, with the
same training-free repair for C-SWAP and for every baseline, so they are compared fairly."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict

import torch
from torch import nn

from causalnet.data import DataBundle, calibration_set
from causalnet.devices import model_device, resolve_device
from causalnet.errors import CausalnetInputError
from causalnet.fingerprint import model_fingerprint
from causalnet.graph import CausalGraph
from causalnet.nodes import node_id
from causalnet.units import UnitMap, discover_units

from .baselines import BASELINES, baseline_scores, plan_by_scores
from .costs import unit_costs
from .cswap import CswapIngredients, CswapPlanner, CswapSettings
from .io import make_plan
from .removal import removable_layers
from .repair import DEFAULT_REPAIR, REPAIRS, check_repair, finalize  # noqa: F401 (REPAIRS: re-exported)

METHODS = ("cswap", *BASELINES)


class BaselineRanking:
    """A baseline criterion's scores of every removable unit of ``model``, computed once on the
    calibration images; :meth:`removal` plans any target from them (the same global ranking for
    every compression level, as the criterion defines it)."""

    def __init__(self, method: str, model: nn.Module, x_cal: torch.Tensor, y_cal: torch.Tensor,
                 example: torch.Tensor, *, seed: int = 0, units: UnitMap | None = None):
        if method not in BASELINES:
            raise CausalnetInputError(f"unknown baseline {method!r}; use one of {', '.join(BASELINES)}")
        self.method = method
        units = discover_units(model, example) if units is None else units.bound_to(model)
        layers = [layer.name for layer in removable_layers(model, units)]
        self.costs = unit_costs(model, units, example, layers=layers)
        scores = baseline_scores(method, model, units, x_cal, y_cal, example, seed=seed)
        self.scores = {k: v for k, v in scores.items() if k in self.costs}
        # Torch-Pruning already normalises each group's importance by its mean and ranks them
        # globally as they are; re-normalising per layer would handicap its criteria.
        self.normalize = "max" if method in ("conductance", "random") else "none"

    def removal(self, *, target_params: float | None = None, target_macs: float | None = None,
                round_to: int | None = None) -> dict[str, list[int]]:
        return plan_by_scores(self.scores, self.costs, target_params=target_params,
                              target_macs=target_macs, round_to=round_to, normalize=self.normalize)


def prune(model: nn.Module, data: DataBundle, *, graph: CausalGraph | None = None,
          method: str = "cswap", target_params: float | None = None,
          target_macs: float | None = None, max_drop: float | None = None, repair: Sequence[str] = DEFAULT_REPAIR,
          rescore_every: int = 1, round_to: int | None = None, calibration_per_class: int = 20,
          chunk: float = 0.05, rank_by: str = "harm_per_cost", objective: str = "loglik",
          score_per_class: int = 10, check_per_class: int | None = None, seed: int = 0,
          screen: bool = False, ingredients: CswapIngredients | None = None, show_progress: bool = False,
          device: str | torch.device | None = None) -> tuple[nn.Module, dict, dict]:
    """Prune ``model`` (left unchanged) with ``method`` to the target fraction of parameters or
    MACs removed, with the same training-free repair for every method.

    Args:
        model: the trained model.
        data: its data bundle; calibration images come from ``data.fit``.
        graph: the model's causal graph (required by ``method="cswap"``; checked by fingerprint).
        method: ``"cswap"`` or one of the baselines (:data:`METHODS`).
        target_params: fraction of parameters to remove (or give ``target_macs``).
        target_macs: fraction of MACs to remove.
        max_drop: C-SWAP's calibration-accuracy tolerance per chunk, in points (None: 1 point, or
            one calibration image where one image is worth more, :func:`pruning.cswap.auto_tolerance`).
        repair: any of ``"bias"``, ``"bn"``, ``"lsq"`` (default ``("lsq",)``; empty: none).
        rescore_every, round_to, chunk, rank_by, objective, score_per_class: see
            :class:`pruning.CswapSettings`.
        screen: C-SWAP's fast mode: each re-score ablates only the units a first-order
            estimate ranks first (``CswapSettings.screen``).
        ingredients: C-SWAP's advanced switches (:class:`pruning.CswapIngredients`, the ones
            the ablation study in ``benchmarks/cswap_ablation.py`` measures); None: the defaults.
        calibration_per_class: calibration images per class (drawn once, seeded).
        check_per_class: C-SWAP's tolerance is also checked on this many more images per class
            of ``data.fit`` (None: on the calibration images alone, where at 20 per class one
            image is half a point).
        seed: the calibration draw's seed.
        show_progress: show C-SWAP's progress bar.
        device: where the planning, scoring and repair run (``"cuda"``: on the GPU, on a copy
            of the model); default: where the model is. The pruned model comes back where
            ``model`` is.

    Returns:
        ``(pruned_model, plan, info)``: the plan replays with :func:`pruning.load_pruned`;
        ``info`` holds the C-SWAP history, scores, why it stopped and the time taken.
    """
    if method not in METHODS:
        raise CausalnetInputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    repair = check_repair(repair)
    if ingredients is not None and method != "cswap":
        raise CausalnetInputError(f"ingredients are C-SWAP's switches; method {method!r} has none: "
                                  "leave them out, or use method='cswap'")
    settings = CswapSettings(target_params=target_params, target_macs=target_macs, max_drop=max_drop,
                             rescore_every=rescore_every, round_to=round_to, chunk=chunk, rank_by=rank_by,
                             objective=objective, score_per_class=score_per_class,
                             calibration_per_class=calibration_per_class, check_per_class=check_per_class,
                             seed=seed, screen=screen, ingredients=ingredients or CswapIngredients())
    settings.validate()
    fingerprint = model_fingerprint(model)          # hashed once: the graph check and the plan
    if graph is not None:
        graph.check_model(fingerprint)
    start = time.perf_counter()
    home = model_device(model)
    work = model
    if device is not None and resolve_device(device) != home:
        work = copy.deepcopy(model).to(resolve_device(device))   # the user's model stays put
    x_cal, y_cal = calibration_set(data.fit, calibration_per_class, seed=seed)   # drawn once
    x_cal, y_cal = x_cal.to(model_device(work)), y_cal.to(model_device(work))
    example = x_cal[:1]
    units = discover_units(work, example)           # found once, bound to each working copy
    info: dict = {"method": method}
    if method == "cswap":
        planner = CswapPlanner(work, graph, settings, show_progress=show_progress, fingerprint=fingerprint)
        result = planner.plan(data, example, calibration=(x_cal, y_cal), units=units)
        removal = result.removal
        info.update({"history": result.history, "scores": result.scores, "stopped": result.stopped,
                     "calibration_accuracy": result.calibration_accuracy,
                     "base_calibration_accuracy": result.base_calibration_accuracy,
                     "exact_scores": result.exact_scores})
    else:
        ranking = BaselineRanking(method, work, x_cal, y_cal, example, seed=seed, units=units)
        removal = ranking.removal(target_params=target_params, target_macs=target_macs, round_to=round_to)
        info["stopped"] = "target reached"
    pruned, changed = finalize(work, removal, x_cal, repair, example, units=units)
    pruned.to(home)
    info["seconds"] = time.perf_counter() - start
    plan = make_plan(model, removal, tuple(example.shape[1:]), repair=changed, fingerprint=fingerprint,
                     settings={**asdict(settings), "method": method, "repair": list(repair),
                               "data": data.spec})
    return pruned, plan, info


def rescored_graph(graph: CausalGraph, scores: dict[str, list[float]]) -> CausalGraph:
    """A copy of ``graph`` whose units carry the pruner's last scores (``xi_pruning`` =
    mean p_y ratio under mean ablation, on the network as it was when last scored)."""
    g = copy.deepcopy(graph)
    layers = {entry["name"]: entry for entry in g.nx.graph.get("layers", [])}
    for name, values in scores.items():
        kind = layers.get(name, {}).get("kind")
        for u, v in enumerate(values):
            node = node_id(name, u, kind)
            if node in g and v == v:  # skip NaN (removed units)
                g.nx.nodes[node]["xi_pruning"] = math.exp(v)
    return g
