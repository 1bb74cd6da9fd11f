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
from causalnet.errors import CausalnetInputError
from causalnet.graph import CausalGraph
from causalnet.masking import UnitMask
from causalnet.nodes import node_id
from causalnet.units import discover_units

from .baselines import BASELINES, baseline_scores, plan_by_scores
from .costs import unit_costs
from .cswap import CswapPlanner, CswapSettings
from .io import make_plan
from .reconstruct import kept_outputs, reconstruct_readers
from .removal import prune_units, removable_layers
from .repair import fold_means, reestimate_batchnorm

METHODS = ("cswap", *BASELINES)
REPAIRS = ("bias", "bn", "lsq")
# The default: least-squares reconstruction of every consumer of removed units (mean folding
# where a dense solve does not apply). On the zoo ResNet-20 at 50% of parameters removed it kept
# 99.40% (C-SWAP) where bias folding + BatchNorm re-estimation kept 98.59% (docs/pruning_status.md).
DEFAULT_REPAIR = ("lsq",)


def _check_repair(repair: Sequence[str]) -> tuple[str, ...]:
    bad = [r for r in repair if r not in REPAIRS]
    if bad:
        raise CausalnetInputError(f"unknown repair {bad}; use any of {', '.join(REPAIRS)} (or none)")
    return tuple(repair)


def finalize(model: nn.Module, removal: dict[str, list[int]], x_cal: torch.Tensor,
             repair: Sequence[str], example: torch.Tensor) -> tuple[nn.Module, dict]:
    """A pruned copy of ``model`` without ``removal``'s units, repaired as asked: the removed
    units' means (measured on the network without them, BatchNorm re-estimated when "bn") folded
    into their readers' biases ("bias"), the readers' weights re-solved by least squares to give
    their original outputs ("lsq", which subsumes "bias"), BatchNorm statistics re-estimated
    ("bn", last)."""
    work = copy.deepcopy(model).eval()
    units = discover_units(work, example)
    changed: dict = {}
    solved = kept_outputs(work, units, removal) if removal and "lsq" in repair else {}
    if removal and ("bias" in repair or "lsq" in repair):
        mask = UnitMask(work, units)
        try:
            mask.set_off({k: set(v) for k, v in removal.items()})
            mask.refresh(x_cal)
            if "bn" in repair:
                reestimate_batchnorm(work, x_cal)
                mask.refresh(x_cal)
            means = mask.means
        finally:
            mask.close()
        changed = fold_means(work, units, removal, means, skip=set(solved))
    if removal:
        prune_units(work, units, removal, example)
        if solved:
            done = reconstruct_readers(work, model, solved, x_cal)
            changed["reconstructed"] = done["reconstructed"]
            changed["created_biases"] = changed.get("created_biases", []) + done["created_biases"]
    if "bn" in repair:
        reestimate_batchnorm(work, x_cal)
        changed["batchnorm_reestimated"] = True
    return work.eval(), changed


class BaselineRanking:
    """A baseline criterion's scores of every removable unit of ``model``, computed once on the
    calibration images; :meth:`removal` plans any target from them (the same global ranking for
    every compression level, as the criterion defines it)."""

    def __init__(self, method: str, model: nn.Module, x_cal: torch.Tensor, y_cal: torch.Tensor,
                 example: torch.Tensor, *, seed: int = 0):
        if method not in BASELINES:
            raise CausalnetInputError(f"unknown baseline {method!r}; use one of {', '.join(BASELINES)}")
        self.method = method
        units = discover_units(model, example)
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
          target_macs: float | None = None, max_drop: float = 1.0, repair: Sequence[str] = DEFAULT_REPAIR,
          rescore_every: int = 1, round_to: int | None = None, calibration_per_class: int = 20,
          chunk: float = 0.05, rank_by: str = "harm_per_cost", objective: str = "loglik",
          score_per_class: int = 10, seed: int = 0,
          show_progress: bool = False) -> tuple[nn.Module, dict, dict]:
    """Prune ``model`` (left unchanged) with ``method`` to the target fraction of parameters or
    MACs removed. Returns ``(pruned_model, plan, info)``: the plan replays with
    :func:`pruning.load_pruned`; ``info`` holds the C-SWAP history, scores and timing."""
    if method not in METHODS:
        raise CausalnetInputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    repair = _check_repair(repair)
    settings = CswapSettings(target_params=target_params, target_macs=target_macs, max_drop=max_drop,
                             rescore_every=rescore_every, round_to=round_to, chunk=chunk, rank_by=rank_by,
                             objective=objective, score_per_class=score_per_class,
                             calibration_per_class=calibration_per_class, seed=seed)
    settings.validate()
    if graph is not None:
        graph.check_model(model)
    start = time.perf_counter()
    x_cal, y_cal = calibration_set(data.fit, calibration_per_class, seed=seed)
    example = x_cal[:1]
    info: dict = {"method": method}
    if method == "cswap":
        result = CswapPlanner(model, graph, settings, show_progress=show_progress).plan(data, example)
        removal = result.removal
        info.update({"history": result.history, "scores": result.scores, "stopped": result.stopped,
                     "calibration_accuracy": result.calibration_accuracy,
                     "base_calibration_accuracy": result.base_calibration_accuracy})
    else:
        ranking = BaselineRanking(method, model, x_cal, y_cal, example, seed=seed)
        removal = ranking.removal(target_params=target_params, target_macs=target_macs, round_to=round_to)
        info["stopped"] = "target reached"
    pruned, changed = finalize(model, removal, x_cal, repair, example)
    info["seconds"] = time.perf_counter() - start
    plan = make_plan(model, removal, tuple(example.shape[1:]), repair=changed,
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
